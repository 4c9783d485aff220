"""``bakehouse validate [flags] TEMPLATE``: check a template without building.

``-syntax-only`` parses the files (and var files) only. The full check loads and
evaluates the template, then creates and prepares every selected component
(built-ins in-process, plugins in their processes, which are stopped at the end)
so that plugin configuration errors are reported with the template's file:line.
Data sources are executed only with ``-evaluate-datasources``; otherwise their
outputs are unknown, as in Packer.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from bakehouse.cli.common import (
    add_selection_flags,
    add_target,
    add_var_flags,
    bool_flag,
    check_required_plugins,
    datasource_runner,
    drop_undeclared_var_warnings,
    kept_until_exit,
    make_ui,
    start_plugins_early,
)
from bakehouse.ui.diagnostics import print_diagnostics

if TYPE_CHECKING:
    from bakehouse.orchestrator.components import ComponentFactory
    from bakehouse.plugin.manager import PluginManager


def add_arguments(parser: argparse.ArgumentParser) -> None:
    bool_flag(parser, "syntax-only", "check syntax only, without evaluating the template")
    bool_flag(parser, "evaluate-datasources", "run data sources during validation")
    bool_flag(parser, "no-warn-undeclared-var", "do not warn about undeclared variables in var files")
    add_var_flags(parser)
    add_selection_flags(parser)
    add_target(parser)


def _load(args: argparse.Namespace, ui: Any, *, syntax_only: bool,
          factory: ComponentFactory | None = None, parsed: dict[str, Any] | None = None) -> Any:
    """Load the template, print its diagnostics; None when it has errors.
    Data sources run through ``factory``; without one they are not run.
    ``parsed``: the files already parsed."""
    import os

    from bakehouse import log
    from bakehouse.hcl.diagnostics import Diagnostics
    from bakehouse.template.loader import load_template

    try:
        with kept_until_exit():
            template, warnings = load_template(
                args.target,
                variables=list(args.vars),
                var_files=list(args.var_files),
                environ=os.environ,
                datasource_runner=datasource_runner(factory) if factory is not None else None,
                syntax_only=syntax_only,
                parsed=parsed,
            )
    except Diagnostics as diagnostics:
        print_diagnostics(ui, diagnostics)
        return None
    log.add_sensitive(template.sensitive_values)
    if args.no_warn_undeclared_var:
        drop_undeclared_var_warnings(warnings)
    if warnings:
        print_diagnostics(ui, warnings)
    return template


def run(args: argparse.Namespace) -> int:
    ui = make_ui(args)
    if args.syntax_only:
        template = _load(args, ui, syntax_only=True)
        if template is None:
            return 1
        ui.say("Syntax-only check passed. Everything looks okay.")
        return 0

    from bakehouse.plugin.manager import PluginManager
    from bakehouse.sdk.journal import new_run_id

    run_id = new_run_id()
    # This command's component factory: runs the data sources (when asked)
    # and prepares the components; every plugin it started stops at the end.
    factory = PluginManager(run_id=run_id)
    try:
        return _validate(args, ui, factory, run_id)
    finally:
        factory.shutdown()


def _validate(args: argparse.Namespace, ui: Any, factory: PluginManager, run_id: str) -> int:
    parsed = start_plugins_early(args, factory)
    template = _load(
        args, ui, syntax_only=False, factory=factory if args.evaluate_datasources else None,
        parsed=parsed,
    )
    if template is None:
        return 1
    if not check_required_plugins(template, ui, args.target):
        return 1
    from bakehouse.hcl.diagnostics import Diagnostics
    from bakehouse.orchestrator.runner import BuildOptions, Orchestrator
    from bakehouse.orchestrator.selection import select_builds


    selection = select_builds(template.builds, list(args.only), list(args.except_))
    for warning in selection.warnings:
        ui.warn(f"Warning: {warning}")
    diagnostics = Diagnostics()
    orchestrator = Orchestrator(template, BuildOptions(run_id=run_id), ui, factory)
    orchestrator.prepare(selection.builds, diagnostics)
    for plan in selection.builds:
        factory.release(plan.name)
    if diagnostics.has_errors:
        print_diagnostics(ui, diagnostics)
        return 1
    if diagnostics:
        print_diagnostics(ui, diagnostics)
    ui.say("The configuration is valid.")
    return 0
