"""The provision hook: runs a build's provisioners when its builder asks.

Each provisioner runs inside wrappers, innermost first: pause_before and
timeout, retries, continue_on_error, with Packer's messages. Two of Packer's
warts are fixed on purpose: ``timeout`` still applies when ``pause_before`` is
set, and every retry gets a fresh context (a timed-out attempt does not make
the next one fail at once).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bakehouse.sdk import events
from bakehouse.sdk.communicator import Communicator
from bakehouse.sdk.components import HOOK_CLEANUP_PROVISION, HOOK_PROVISION, BuildInfo, Hook
from bakehouse.sdk.context import Cancelled, Context
from bakehouse.sdk.problems import ConfigError
from bakehouse.sdk.ui import Ui
from bakehouse.template.plan import ComponentSpec
from bakehouse.ui.format import format_go_duration

log = logging.getLogger("bakehouse.orchestrator.provisioning")


@dataclass
class Component:
    """A created, prepared component instance and the block it came from."""

    spec: ComponentSpec
    instance: Any


class ProvisionerTimeout(Exception):
    """The provisioner did not finish within its ``timeout``."""


def config_error_text(spec: ComponentSpec, exc: ConfigError) -> str:
    """A one-line-per-problem rendering of a ConfigError with template positions."""
    parts = []
    for problem in exc.problems:
        where = spec.position_of(problem.path)
        path = ".".join(str(p) for p in problem.path)
        parts.append(f"{where}: {path + ': ' if path else ''}{problem.message}")
    return "; ".join(parts) or str(exc)


def applies_to(spec: ComponentSpec, source_ref: str) -> bool:
    """Provisioner ``only``/``except``: exact ``type.name`` of the source."""
    if spec.only and source_ref not in spec.only:
        return False
    if spec.except_ and source_ref in spec.except_:
        return False
    return True


#: After a provisioner's timeout fired, how long to wait for it to honour the
#: cancellation before giving up on it (Packer waits forever: a hung remote
#: command then hangs the whole build).
TIMEOUT_GRACE_SECONDS = 10.0


def run_with_timeout(ui: Ui, ctx: Context, timeout: float, work: Callable[[Context], None]) -> None:
    """Run ``work`` with a child context that is cancelled after ``timeout`` seconds.

    A component that ignores the cancellation is abandoned after
    :data:`TIMEOUT_GRACE_SECONDS` (its thread is left to finish on its own; the
    build's plugin processes are stopped when the build ends).
    """
    if timeout <= 0:
        work(ctx)
        return
    text = format_go_duration(timeout)
    ui.say(f"Setting a {text} timeout for the next provisioner...")
    attempt_ctx = ctx.child()
    timed_out = threading.Event()
    finished = threading.Event()
    outcome: list[BaseException] = []

    def expire() -> None:
        timed_out.set()
        ui.error("Cancelling provisioner after a timeout...")
        attempt_ctx.cancel(f"timeout after {text}")

    def target() -> None:
        try:
            work(attempt_ctx)
        except BaseException as exc:  # handed to the waiting thread
            outcome.append(exc)
        finally:
            finished.set()

    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    timer.start()
    worker = threading.Thread(target=target, name="provisioner", daemon=True)
    worker.start()
    try:
        if not finished.wait(timeout + TIMEOUT_GRACE_SECONDS) and not ctx.cancelled:
            log.warning("provisioner ignored its timeout; abandoning it")
            raise ProvisionerTimeout(f"provisioner timed out after {text} and did not stop")
        finished.wait()  # cancelled by the user: the component is stopping
    finally:
        timer.cancel()
    if outcome:
        if timed_out.is_set() and not ctx.cancelled:
            raise ProvisionerTimeout(f"provisioner timed out after {text}") from outcome[0]
        raise outcome[0]
    if timed_out.is_set() and not ctx.cancelled:
        # The component finished anyway but too late: still a timeout.
        raise ProvisionerTimeout(f"provisioner timed out after {text}")


def run_with_retries(
    ui: Ui, ctx: Context, max_retries: int, attempt: Callable[[Context], None]
) -> None:
    """Try ``1 + max_retries`` times, each try with a fresh child context."""
    last: Exception | None = None
    for remaining in range(max_retries, -1, -1):
        ctx.check()
        try:
            attempt(ctx.child())
            return
        except Cancelled:
            if ctx.cancelled:
                raise
            last = Cancelled("context canceled")
        except Exception as exc:
            if ctx.cancelled:
                raise Cancelled(ctx.reason or "context canceled") from exc
            last = exc
        if remaining > 0:
            ui.say(f'Provisioner failed with "{last}", retrying with {remaining} trie(s) left')
        elif max_retries > 0:
            ui.say("retry limit reached.")
    assert last is not None
    raise last


class ProvisionHook(Hook):
    """The SDK :class:`Hook` the orchestrator gives each builder."""

    def __init__(
        self,
        ui: Ui,
        build: BuildInfo,
        source_ref: str,
        provisioners: list[Component],
        cleanup_provisioner: Component | None,
        run_id: str = "",
        debug_pause: Callable[[Ui], None] | None = None,
    ) -> None:
        self.ui = ui
        self.build = build
        self.source_ref = source_ref
        self.provisioners = provisioners
        self.cleanup_provisioner = cleanup_provisioner
        self.run_id = run_id
        self.debug_pause = debug_pause

    def run(
        self,
        name: str,
        ui: Ui,
        communicator: Communicator | None,
        data: dict[str, Any],
        ctx: Context,
    ) -> None:
        if name == HOOK_PROVISION:
            components = self.provisioners
        elif name == HOOK_CLEANUP_PROVISION:
            components = [self.cleanup_provisioner] if self.cleanup_provisioner else []
        else:
            log.debug("ignoring unknown hook %r", name)
            return
        generated = dict(data or {})
        generated.setdefault("PackerRunUUID", self.run_id)
        # Packer's provisioning hook data says so when a builder has no instance id.
        generated.setdefault("ID", "ERR_ID_NOT_IMPLEMENTED_BY_BUILDER")
        # Our own build UI, not the one passed in: for a builder in a plugin
        # process that would be a proxy of this very object, one RPC away.
        for component in components:
            if not applies_to(component.spec, self.source_ref):
                continue
            if self.debug_pause is not None:
                self.debug_pause(self.ui)
            started, status = time.monotonic(), "failed"
            try:
                self.run_provisioner(component, communicator, generated, ctx)
                status = "ok"
            except Cancelled:
                status = "cancelled"
                raise
            finally:
                events.emit("step", build=self.build.build_name, step=f'provisioner "{component.spec.type}"',
                            status=status, duration=round(time.monotonic() - started, 6))

    def run_provisioner(
        self,
        component: Component,
        communicator: Communicator | None,
        generated: dict[str, Any],
        ctx: Context,
    ) -> None:
        spec = component.spec
        ui = self.ui
        # Re-evaluate with the generated data (build.ID, build.Host...) and re-prepare.
        try:
            component.instance.prepare(spec.config(generated), self.build)
        except ConfigError as exc:
            raise RuntimeError(
                f'Failed preparing provisioner "{spec.type}": {config_error_text(spec, exc)}'
            ) from None

        def attempt(attempt_ctx: Context) -> None:
            if spec.pause_before > 0:
                ui.say(
                    f"Pausing {format_go_duration(spec.pause_before)} before the next provisioner..."
                )
                if attempt_ctx.wait(spec.pause_before):
                    attempt_ctx.check()
            run_with_timeout(
                ui,
                attempt_ctx,
                spec.timeout,
                lambda c: component.instance.provision(ui, communicator, generated, c),
            )

        try:
            run_with_retries(ui, ctx, spec.max_retries, attempt)
        except Cancelled:
            raise
        except Exception as exc:
            if spec.continue_on_error and not ctx.cancelled:
                ui.say(
                    f'Warning: Provisioner failed with "{exc}", but continue_on_error is set; '
                    "continuing the build."
                )
                return
            raise
