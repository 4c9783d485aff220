"""Running a template's builds: select, prepare all, run (in parallel), report.

The flow follows ``packer build``:

1. ``-only``/``-except`` select builds (warnings; none left -> "No builds to run").
2. Every selected build's builder, provisioners, error-cleanup provisioner and
   post-processors are created (one plugin process per executable and build)
   and prepared before any build runs; configuration problems are reported
   at their template position, and those builds are dropped.
3. Builds run on threads, at most ``-parallel-builds`` at a time; a failing
   build never stops its siblings.
4. The first interrupt cancels every build's context and lets cleanups run;
   a second one stops waiting and kills the plugins.
5. The summary lists errors and artifacts; the exit status is 0 only when
   everything succeeded.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bakehouse import __version__
from bakehouse.hcl.diagnostics import Diagnostics
from bakehouse.orchestrator.components import ComponentFactory
from bakehouse.orchestrator.postprocess import run_chains
from bakehouse.orchestrator.provisioning import Component, ProvisionHook
from bakehouse.orchestrator.selection import select_builds
from bakehouse.sdk.artifact import Artifact
from bakehouse.sdk.components import BuildInfo
from bakehouse.sdk.context import Cancelled, Context
from bakehouse.sdk.problems import ConfigError
from bakehouse.template.plan import BuildPlan, ComponentSpec, Template
from bakehouse.ui import RootUi, format_duration
from bakehouse.ui.build import BuildUi
from bakehouse.ui.diagnostics import print_diagnostics

log = logging.getLogger("bakehouse.orchestrator")


@dataclass
class BuildOptions:
    """The ``build`` command's flags that shape a run."""

    only: list[str] = field(default_factory=list)
    except_: list[str] = field(default_factory=list)
    parallel_builds: int = 0  #: 0 = unlimited
    on_error: str = "cleanup"
    force: bool = False
    debug: bool = False
    run_id: str = ""


@dataclass
class PreparedBuild:
    plan: BuildPlan
    info: BuildInfo
    ui: BuildUi
    builder: Any
    provisioners: list[Component]
    cleanup_provisioner: Component | None
    chains: list[list[Component]]
    ctx: Context


@dataclass
class BuildResult:
    name: str
    artifacts: list[Artifact] = field(default_factory=list)
    error: str | None = None
    cancelled: bool = False
    duration: float = 0.0


def describe_error(exc: BaseException) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__


class PrepareInterrupted(Exception):
    """A signal arrived while builds were being prepared."""


class Interrupts:
    """Counts SIGINT/SIGTERM; the wait loop acts on them (never the handler itself).

    ``event`` wakes the wait loop: set by a signal or by a finishing build.
    """

    def __init__(self) -> None:
        self.count = 0
        self.last_signal = signal.SIGINT
        self.event = threading.Event()
        self._previous: dict[int, Any] = {}

    def _handler(self, signum: int, _frame: Any) -> None:
        self.count += 1
        self.last_signal = signal.Signals(signum)
        self.event.set()

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handler)

    def uninstall(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()


class Orchestrator:
    """Runs the builds of one template."""

    def __init__(
        self,
        template: Template,
        options: BuildOptions,
        ui: RootUi,
        factory: ComponentFactory,
        debug_pause: Callable[[Any], None] | None = None,
    ) -> None:
        self.template = template
        self.options = options
        self.ui = ui
        self.factory = factory
        self.root_ctx = Context()
        self.interrupts = Interrupts()
        self.debug_pause = debug_pause
        self.results: dict[str, BuildResult] = {}
        self._results_lock = threading.Lock()

    # -- prepare ---------------------------------------------------------------------

    def _build_info(self, plan: BuildPlan) -> BuildInfo:
        return BuildInfo(
            name=plan.source_label or plan.source_name,
            builder_type=plan.source_type,
            build_name=plan.name,
            core_version=__version__,
            debug=self.options.debug,
            force=self.options.force,
            on_error=self.options.on_error,
            run_id=self.options.run_id,
            sensitive_variables=tuple(self.template.sensitive_names),
            template_dir=self.template.root,
        )

    def _create_and_prepare(
        self, spec: ComponentSpec, plan: BuildPlan, info: BuildInfo, diagnostics: Diagnostics,
        creation: _Creation | None = None,
    ) -> Any | None:
        label = f'{spec.kind} "{spec.type}"' + (
            f' ("{spec.name}")'
            if spec.kind != "builder" and spec.name and spec.name != spec.type
            else ""
        )
        try:
            if creation is not None:
                instance = creation.result()
            else:
                instance = self.factory.create(spec.kind, spec.type, plan.name)
        except Exception as exc:
            known = (
                ", ".join(self.factory.known_types(spec.kind))
                if isinstance(exc, LookupError)
                else ""
            )
            detail = describe_error(exc) + (f"\nKnown {spec.kind} types: {known}." if known else "")
            if isinstance(exc, LookupError):
                # the plugin layer names the distribution that provides an official type
                summary = (
                    f"Missing plugin for {label} in build {plan.name!r}"
                    if getattr(exc, "distribution", "")
                    else f"Unknown {spec.kind} type {spec.type!r} in build {plan.name!r}"
                )
            else:
                summary = f"Failed to start {label} for build {plan.name!r}"
            diagnostics.error(summary, detail, spec.pos)
            return None
        try:
            result = instance.prepare(spec.config(None), info)
        except ConfigError as exc:
            for problem in exc.problems or []:
                path = ".".join(str(p) for p in problem.path)
                diagnostics.error(
                    f"Invalid configuration for {label} in build {plan.name!r}",
                    (f"{path}: " if path else "") + problem.message,
                    spec.position_of(problem.path),
                )
            if not exc.problems:
                diagnostics.error(f"Invalid configuration for {label}", str(exc), spec.pos)
            return None
        except Diagnostics as exc:
            diagnostics.extend(exc)
            return None
        except Exception as exc:
            log.debug("prepare of %s failed", label, exc_info=True)
            diagnostics.error(
                f"Failed preparing {label} for build {plan.name!r}", describe_error(exc), spec.pos
            )
            return None
        # Packer shows each prepare warning as a warning diagnostic at the block's
        # definition; validate and build both print them.
        for warning in getattr(result, "warnings", None) or []:
            diagnostics.warning(str(warning), "", spec.pos)
        return instance

    def _prepare_one(self, plan: BuildPlan, diagnostics: Diagnostics) -> PreparedBuild | None:
        """Create and prepare one build's components; None when any of them failed."""
        if self.root_ctx.cancelled or self.interrupts.count:
            return None
        info = self._build_info(plan)
        # Every plugin process this build needs starts now, together.
        self.factory.prestart(_components_of(plan), plan.name)
        # Created together too (creating is where a plugin imports the
        # component: the imports of different plugins overlap); prepared one
        # after the other, in template order.
        creations = {id(spec): _Creation(self.factory, spec, plan.name) for spec in _specs_of(plan)}

        def create_and_prepare(spec: ComponentSpec) -> Any | None:
            return self._create_and_prepare(spec, plan, info, diagnostics, creations[id(spec)])

        builder = create_and_prepare(plan.builder)
        provisioners = []
        for spec in plan.provisioners:
            instance = create_and_prepare(spec)
            if instance is not None:
                provisioners.append(Component(spec, instance))
        cleanup = None
        if plan.error_cleanup_provisioner is not None:
            instance = create_and_prepare(plan.error_cleanup_provisioner)
            if instance is not None:
                cleanup = Component(plan.error_cleanup_provisioner, instance)
        chains: list[list[Component]] = []
        for chain in plan.post_processor_chains:
            created = []
            for spec in chain:
                instance = create_and_prepare(spec)
                if instance is not None:
                    created.append(Component(spec, instance))
            chains.append(created)
        if diagnostics.has_errors or builder is None:
            # This build cannot run; free its plugin processes now.
            self.factory.release(plan.name)
            return None
        return PreparedBuild(
            plan=plan,
            info=info,
            ui=None,  # type: ignore[arg-type]  # assigned in template order by prepare()
            builder=builder,
            provisioners=provisioners,
            cleanup_provisioner=cleanup,
            chains=chains,
            ctx=self.root_ctx.child(),
        )

    def prepare(self, plans: list[BuildPlan], diagnostics: Diagnostics) -> list[PreparedBuild]:
        """Create and prepare every build's components before any build runs.

        Builds are prepared concurrently (each starts its own plugin processes,
        which is most of the wait); diagnostics and colours stay in template order.
        """
        outcomes: list[tuple[PreparedBuild | None, Diagnostics]] = []
        # A plugin several builds need starts once and forks a process per build.
        self.factory.expect_builds({plan.name: _components_of(plan) for plan in plans})

        def one(plan: BuildPlan) -> tuple[PreparedBuild | None, Diagnostics]:
            found = Diagnostics()
            return self._prepare_one(plan, found), found

        def prepare_all() -> None:
            if len(plans) <= 1:
                outcomes.extend(one(plan) for plan in plans)
                return
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(
                max_workers=min(len(plans), 8), thread_name_prefix="prepare"
            ) as pool:
                outcomes.extend(pool.map(one, plans))

        # The main thread only waits, so that a signal is acted on at once even
        # while a plugin never answers `create` or `prepare`.
        worker = threading.Thread(target=self._wake_when_done, args=(prepare_all,),
                                  name="prepare", daemon=True)
        worker.start()
        while worker.is_alive():
            if self.interrupts.count:
                # Preparing creates no temporary resource: nothing to clean up,
                # so stop waiting for plugins that may never answer.
                raise PrepareInterrupted()
            self.interrupts.event.wait(0.5)
            self.interrupts.event.clear()
        prepared: list[PreparedBuild] = []
        for build, found in outcomes:
            diagnostics.extend(found)
            if build is not None:
                build.ui = self.ui.build_ui(build.plan.name)
                prepared.append(build)
        return prepared

    def _wake_when_done(self, work: Callable[[], None]) -> None:
        try:
            work()
        finally:
            self.interrupts.event.set()

    # -- run one build ---------------------------------------------------------------

    def run_build(self, build: PreparedBuild) -> BuildResult:
        plan = build.plan
        ui = build.ui
        result = BuildResult(plan.name)
        started = time.monotonic()
        hook = ProvisionHook(
            ui,
            build.info,
            f"{plan.source_type}.{plan.source_name}",
            build.provisioners,
            build.cleanup_provisioner,
            run_id=self.options.run_id,
            debug_pause=self.debug_pause,
        )
        try:
            artifact = build.builder.run(ui, hook, build.ctx)
            if build.ctx.cancelled:
                raise Cancelled(build.ctx.reason or "context canceled")
            if artifact is not None:
                outcome = run_chains(
                    build.chains,
                    artifact,
                    build.info,
                    build.ctx,
                    ui_for=lambda spec: ui.child(f"{plan.name} ({spec.type})"),
                    say=ui.say,
                    generated_defaults={"PackerRunUUID": self.options.run_id},
                )
                if outcome.errors:
                    # As Packer: a failed build reports none of its artifacts.
                    count = len(outcome.errors)
                    result.error = f"{count} error(s) occurred:\n\n" + "\n".join(
                        f"* {error}" for error in outcome.errors
                    )
                else:
                    result.artifacts = outcome.artifacts
        except Cancelled as exc:
            result.cancelled = True
            result.error = describe_error(exc)
        except Exception as exc:
            if build.ctx.cancelled:
                result.cancelled = True
            log.debug("build %s failed", plan.name, exc_info=True)
            result.error = describe_error(exc)
        finally:
            result.duration = time.monotonic() - started
            try:
                self.factory.release(plan.name)
            except Exception:
                log.debug("releasing plugins of %s failed", plan.name, exc_info=True)
        if result.error is not None:
            ui.error(
                f"Build '{plan.name}' errored after {format_duration(result.duration)}: {result.error}"
            )
        else:
            ui.say(f"Build '{plan.name}' finished after {format_duration(result.duration)}.")
        return result

    def _thread_main(self, build: PreparedBuild, release: Callable[[], None]) -> None:
        try:
            result = self.run_build(build)
        except BaseException as exc:  # never lose a build silently
            log.exception("unexpected failure in build %s", build.plan.name)
            result = BuildResult(build.plan.name, error=describe_error(exc))
        finally:
            release()
        with self._results_lock:
            self.results[build.plan.name] = result
        self.interrupts.event.set()  # wake the wait loop

    # -- the whole run ---------------------------------------------------------------

    def _handle_interrupts(self, handled: int) -> int:
        """Act on signals received since the last call; return how many were handled."""
        count = self.interrupts.count
        if count > handled and handled == 0:
            word = "terminated" if self.interrupts.last_signal == signal.SIGTERM else "interrupt"
            self.ui.error(f"Cancelling build after receiving {word}")
            self.root_ctx.cancel("context canceled")
        return count

    def run(self) -> int:
        """Select, prepare and run the builds; print the summary; return the exit status."""
        diagnostics = Diagnostics()
        selection = select_builds(self.template.builds, self.options.only, self.options.except_)
        for warning in selection.warnings:
            self.ui.warn(f"Warning: {warning}")
        if not selection.builds:
            self.ui.error("Error: No builds to run")
            return 1
        self.interrupts.install()
        try:
            return self._run_selected(selection.builds, diagnostics)
        finally:
            self.interrupts.uninstall()

    def _run_selected(self, plans: list[BuildPlan], diagnostics: Diagnostics) -> int:
        try:
            prepared = self.prepare(plans, diagnostics)
        except PrepareInterrupted:
            word = "terminated" if self.interrupts.last_signal == signal.SIGTERM else "interrupt"
            self.ui.error(f"Cancelling build after receiving {word}")
            self.root_ctx.cancel("context canceled")
            for waiting in self.factory.unanswered():
                self.ui.error(f"Plugin {waiting}; stopping it.")
            self.ui.error("Cancelled builds before they started; stopping plugins.")
            return 1
        if diagnostics:
            print_diagnostics(self.ui, diagnostics)
        if self.interrupts.count:
            self.ui.error("Cancelling build after receiving interrupt")
            self.ui.error("Cleanly cancelled builds after being interrupted.")
            return 1
        if not prepared:
            if not diagnostics.has_errors:
                self.ui.error("Error: No builds to run")
            return 1
        prepare_failed = diagnostics.has_errors

        if self.options.debug:
            self.ui.say("Debug mode enabled. Builds will not be parallelized.")
        self.ui.announce([build.ui for build in prepared])

        limit = self.options.parallel_builds
        if self.options.debug:
            limit = 1
        semaphore = threading.BoundedSemaphore(limit) if limit > 0 else None
        started = time.monotonic()
        threads: list[threading.Thread] = []
        handled = 0
        abandoned = False
        for build in prepared:
            acquired = False
            while semaphore is not None and not acquired:
                handled = self._handle_interrupts(handled)
                if self.root_ctx.cancelled:
                    break
                acquired = semaphore.acquire(timeout=0.1)
            handled = self._handle_interrupts(handled)
            if self.root_ctx.cancelled:
                log.debug("Interrupted, not going to start any more builds")
                if acquired and semaphore is not None:
                    semaphore.release()
                break
            thread = threading.Thread(
                target=self._thread_main,
                args=(build, semaphore.release if semaphore is not None else (lambda: None)),
                name=f"build-{build.plan.name}",
                daemon=True,
            )
            thread.start()
            threads.append(thread)
        while len(self.results) < len(threads) and any(t.is_alive() for t in threads):
            self.interrupts.event.wait(0.5)
            self.interrupts.event.clear()
            handled = self._handle_interrupts(handled)
            if handled >= 2:
                self.ui.error(
                    "Second interrupt received: stopping plugins without waiting for cleanups."
                )
                for waiting in self.factory.unanswered():
                    self.ui.error(f"Plugin {waiting}; stopping it.")
                abandoned = True
                break
        self.ui.say(f"\n==> Wait completed after {format_duration(time.monotonic() - started)}")
        if self.root_ctx.cancelled or abandoned:
            self.ui.error(
                "Cleanly cancelled builds after being interrupted."
                if not abandoned
                else "Builds were interrupted; cleanups may not have finished."
            )
            return 1
        return self._summary(prepared, prepare_failed)

    def _summary(self, prepared: list[PreparedBuild], prepare_failed: bool) -> int:
        ordered = [
            self.results.get(b.plan.name, BuildResult(b.plan.name, error="build did not run"))
            for b in prepared
        ]
        failed = [r for r in ordered if r.error is not None]
        if failed:
            self.ui.machine("", "error-count", str(len(failed)))
            self.ui.error("\n==> Some builds didn't complete successfully and had errors:")
            for result in failed:
                self.ui.machine(result.name, "error", result.error or "")
                self.ui.error(f"--> {result.name}: {result.error}")
        succeeded = [r for r in ordered if r.error is None]
        if any(r.artifacts for r in succeeded):
            self.ui.say("\n==> Builds finished. The artifacts of successful builds are:")
            for result in succeeded:
                self._report_artifacts(result)
        else:
            self.ui.say("\n==> Builds finished but no artifacts were created.")
        return 1 if failed or prepare_failed else 0

    def _report_artifacts(self, result: BuildResult) -> None:
        name = result.name
        self.ui.machine(name, "artifact-count", str(len(result.artifacts)))
        for index, artifact in enumerate(result.artifacts):
            i = str(index)
            text = artifact.string()
            self.ui.machine(name, "artifact", i, "builder-id", artifact.builder_id)
            self.ui.machine(name, "artifact", i, "id", artifact.id)
            self.ui.machine(name, "artifact", i, "string", text)
            files = artifact.files
            self.ui.machine(name, "artifact", i, "files-count", str(len(files)))
            for j, path in enumerate(files):
                self.ui.machine(name, "artifact", i, "file", str(j), path)
            self.ui.machine(name, "artifact", i, "end")
            self.ui.say(f"--> {name}: {text if text else '<nothing>'}")


def _specs_of(plan: BuildPlan) -> list[ComponentSpec]:
    """Every component ``plan`` creates."""
    specs = [plan.builder, *plan.provisioners, *(c for chain in plan.post_processor_chains for c in chain)]
    if plan.error_cleanup_provisioner is not None:
        specs.append(plan.error_cleanup_provisioner)
    return specs


def _components_of(plan: BuildPlan) -> list[tuple[str, str]]:
    """(kind, type) of every component ``plan`` creates."""
    return [(spec.kind, spec.type) for spec in _specs_of(plan)]


class _Creation:
    """``factory.create`` of one component, run on a thread of its own."""

    def __init__(self, factory: ComponentFactory, spec: ComponentSpec, build_key: str) -> None:
        self._outcome: tuple[bool, Any] | None = None
        self._thread = threading.Thread(
            target=self._create, args=(factory, spec, build_key), name=f"create-{spec.type}", daemon=True
        )
        self._thread.start()

    def _create(self, factory: ComponentFactory, spec: ComponentSpec, build_key: str) -> None:
        try:
            self._outcome = (True, factory.create(spec.kind, spec.type, build_key))
        except BaseException as exc:
            self._outcome = (False, exc)

    def result(self) -> Any:
        """The instance; raises what ``create`` raised."""
        self._thread.join()
        assert self._outcome is not None
        ok, value = self._outcome
        if not ok:
            raise value
        return value
