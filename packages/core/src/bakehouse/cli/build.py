"""``bakehouse build [flags] TEMPLATE``: run the builds of a template."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from bakehouse.cli.common import (
    add_selection_flags,
    add_target,
    add_ui_flags,
    add_var_flags,
    bool_flag,
    check_required_plugins,
    flag,
    load_template,
    make_ui,
    start_plugins_early,
)

ON_ERROR_CHOICES = ("cleanup", "abort", "ask", "run-cleanup-provisioner")


def _parallel(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid -parallel-builds value {text!r}: give a number"
        ) from None
    return max(value, 0)  # Packer: anything below 1 means unlimited


def _on_error(text: str) -> str:
    if text == "":
        return "cleanup"
    if text not in ON_ERROR_CHOICES:
        raise argparse.ArgumentTypeError(
            f"invalid -on-error value {text!r}: choose one of {', '.join(ON_ERROR_CHOICES)}"
        )
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_var_flags(parser)
    add_selection_flags(parser)
    flag(
        parser,
        "parallel-builds",
        dest="parallel_builds",
        type=_parallel,
        default=0,
        metavar="N",
        help="number of builds to run in parallel; 0 (default) means no limit",
    )
    flag(
        parser,
        "on-error",
        dest="on_error",
        type=_on_error,
        default="cleanup",
        metavar="MODE",
        help=(
            "what to do when a build fails: cleanup (default), abort (keep resources), "
            "ask (on a terminal: clean up, abort or retry the step), or "
            "run-cleanup-provisioner (as abort, after running the error-cleanup-provisioner)"
        ),
    )
    bool_flag(
        parser, "force", "force a build to continue if artifacts exist, deletes existing artifacts"
    )
    bool_flag(
        parser,
        "debug",
        "debug mode: builds run one at a time, pause after each builder step, before each "
        "step's cleanup and before each provisioner",
    )
    bool_flag(
        parser,
        "warn-on-undeclared-var",
        "warn about variables set in var files but not declared in the template",
    )
    flag(
        parser,
        "json-report",
        dest="json_report",
        default="",
        metavar="FILE",
        help="write what the run did to FILE as JSON: builds, steps and durations, artifacts, "
        "resources created and removed, plugin processes started",
    )
    add_ui_flags(parser)
    add_target(parser)


def _write_run_marker(run_id: str, argv: list[str]) -> Path:
    from bakehouse.cli.main import supervisor_dir
    from bakehouse.sdk.journal import journal_root, make_private_dir

    directory = journal_root() / run_id
    make_private_dir(directory)
    marker = directory / "run.json"
    with open(os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w",
              encoding="utf-8") as fh:
        json.dump(
            {
                "run_id": run_id,
                "pid": os.getpid(),
                "started": datetime.datetime.now(datetime.UTC).isoformat(),
                "argv": argv,
                # SIGKILL of supervisor and worker leaves it: `bakehouse cleanup` removes it.
                "supervisor_dir": supervisor_dir,
            },
            fh,
        )
    return directory


def _remove_leftovers_of_dead_plugins(run_dir: Path, run_id: str, ui: Any) -> None:
    """Entries still in the journal once every plugin has stopped belong to plugins
    that died before their cleanup (crash, SIGKILL): remove them now, through a
    fresh process of the owning plugin, instead of waiting for `bakehouse cleanup`."""
    from bakehouse.cli.cleanup import read_run, remove_entry
    from bakehouse.plugin.manager import PluginManager

    journal = read_run(run_dir)
    if not journal.entries:
        return
    ui.say(f"Removing {len(journal.entries)} temporary resource(s) left by plugins that died...")
    manager = PluginManager(run_id=run_id)
    try:
        for entry in journal.entries:
            remove_entry(manager, journal, entry, ui)
    finally:
        manager.shutdown()


def _write_report(report: Any, exit_code: int, ui: Any) -> bool:
    try:
        report.write(exit_code)
    except OSError as exc:
        ui.error(f"Error: cannot write the JSON report {report.path}: {exc.strerror or exc}")
        return False
    return True


def _debug_pause(ui: Any) -> None:
    ui.say("Pausing before the next provisioner . Press enter to continue.")
    try:
        ui.ask("")
    except RuntimeError:
        pass


def _can_ask(args: argparse.Namespace) -> bool:
    if getattr(args, "machine_readable", False):
        return False
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def run(args: argparse.Namespace) -> int:
    code = _run(args)
    # -json-report was asked for: a report that could not be written fails the command.
    return 1 if code == 0 and getattr(args, "report_failed", False) else code


def _run(args: argparse.Namespace) -> int:
    from bakehouse.cli.main import redact_argv
    from bakehouse.plugin.manager import PluginManager
    from bakehouse.sdk.journal import RUN_ID_ENV, new_run_id

    # A run id given by the caller (CI wrappers, tests) is kept so they can
    # find this run's processes and journal; otherwise a fresh one.
    run_id = os.environ.get(RUN_ID_ENV) or new_run_id()
    # Plugins inherit the environment: they learn the run id (journal) from it.
    os.environ[RUN_ID_ENV] = run_id
    os.environ.setdefault("PACKER_RUN_UUID", run_id)
    ui = make_ui(args)
    try:
        run_dir = _write_run_marker(run_id, redact_argv(list(getattr(args, "argv", sys.argv))))
    except OSError as exc:
        ui.error(
            f"Error: cannot write this run's journal under {exc.filename or 'BAKEHOUSE_HOME'}: "
            f"{exc.strerror or exc}. Set BAKEHOUSE_HOME to a writable directory."
        )
        return 1
    if args.on_error == "ask" and not _can_ask(args):
        ui.warn(
            "Warning: -on-error=ask needs a terminal on stdin to ask what to do; "
            "stdin is not one (or -machine-readable is set), so a failed build is cleaned up "
            "as with -on-error=cleanup."
        )
        args.on_error = "cleanup"
    report = None
    if getattr(args, "json_report", ""):
        from bakehouse.ui.report import ReportCollector

        report = ReportCollector(os.path.abspath(args.json_report), run_id, args.target)
    exit_code = 1
    # This run's component factory: data sources and builds share its plugin
    # processes; all of them are stopped in the finally below.
    factory = PluginManager(run_id=run_id)
    try:
        parsed = start_plugins_early(args, factory)
        # Needed at the end; imported now, while the plugins start.
        from bakehouse.cli.cleanup import remove_journal_if_done

        template, _warnings = load_template(args, ui, components=factory, parsed=parsed)
        if template is None:
            return 1
        if not check_required_plugins(template, ui, args.target):
            return 1
        from bakehouse.orchestrator.runner import BuildOptions, Orchestrator

        options = BuildOptions(
            only=list(args.only),
            except_=list(args.except_),
            parallel_builds=args.parallel_builds,
            on_error=args.on_error,
            force=bool(args.force),
            debug=bool(args.debug),
            run_id=run_id,
        )
        orchestrator = Orchestrator(
            template,
            options,
            ui,
            factory,
            debug_pause=_debug_pause if options.debug else None,
        )
        exit_code = orchestrator.run()
        if report is not None:
            report.add_results(orchestrator.results.values())
        return exit_code
    finally:
        # More Ctrl-C presses must not interrupt the stopping of plugin
        # processes half-way (that is what would leave some behind).
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            from bakehouse.cli.cleanup import remove_journal_if_done

            factory.shutdown()
            # abort, run-cleanup-provisioner and an "abort" answer to ask keep
            # temporary resources on purpose.
            if args.on_error == "cleanup":
                _remove_leftovers_of_dead_plugins(run_dir, run_id, ui)
            remove_journal_if_done(run_dir)
            if report is not None:
                args.report_failed = not _write_report(report, exit_code, ui)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
