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
import uuid
from typing import Any

from bakehouse.cli.common import (
    add_selection_flags,
    add_target,
    add_var_flags,
    bool_flag,
    check_required_plugins,
    datasource_runner,
    drop_undeclared_var_warnings,
    make_ui,
)
from bakehouse.ui.diagnostics import print_diagnostics


def add_arguments(parser: argparse.ArgumentParser) -> None:
    bool_flag(parser, "syntax-only", "check syntax only, without evaluating the template")
    bool_flag(parser, "evaluate-datasources", "run data sources during validation")
    bool_flag(parser, "no-warn-undeclared-var", "do not warn about undeclared variables in var files")
    add_var_flags(parser)
    add_selection_flags(parser)
    add_target(parser)


def _load(args: argparse.Namespace, ui: Any, *, syntax_only: bool, run_datasources: bool,
          run_id: str = "") -> Any:
    """Load the template, print its diagnostics; None when it has errors."""
    import os

    from bakehouse import log
    from bakehouse.hcl.diagnostics import Diagnostics
    from bakehouse.template.loader import load_template

    try:
        template, warnings = load_template(
            args.target,
            variables=list(args.vars),
            var_files=list(args.var_files),
            environ=os.environ,
            datasource_runner=datasource_runner(run_id) if run_datasources else None,
            syntax_only=syntax_only,
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
    from bakehouse.hcl.diagnostics import Diagnostics

    ui = make_ui(args)
    if args.syntax_only:
        template = _load(args, ui, syntax_only=True, run_datasources=False)
        if template is None:
            return 1
        ui.say("Syntax-only check passed. Everything looks okay.")
        return 0

    run_id = str(uuid.uuid4())
    template = _load(args, ui, syntax_only=False, run_datasources=bool(args.evaluate_datasources), run_id=run_id)
    if template is None:
        return 1
    if not check_required_plugins(template, ui, args.target):
        return 1

    from bakehouse.orchestrator.components import component_factory, shutdown_factory
    from bakehouse.orchestrator.runner import BuildOptions, Orchestrator
    from bakehouse.orchestrator.selection import select_builds

    selection = select_builds(template.builds, list(args.only), list(args.except_))
    for warning in selection.warnings:
        ui.warn(f"Warning: {warning}")
    diagnostics = Diagnostics()
    factory = component_factory(run_id)
    try:
        orchestrator = Orchestrator(template, BuildOptions(run_id=run_id), ui, factory)
        orchestrator.prepare(selection.builds, diagnostics)
        for plan in selection.builds:
            factory.release(plan.name)
    finally:
        shutdown_factory()
    if diagnostics.has_errors:
        print_diagnostics(ui, diagnostics)
        return 1
    if diagnostics:
        print_diagnostics(ui, diagnostics)
    ui.say("The configuration is valid.")
    return 0
