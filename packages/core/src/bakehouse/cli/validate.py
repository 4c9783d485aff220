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
    UsageError,
    add_selection_flags,
    add_var_flags,
    datasource_runner,
    make_ui,
    parse_bool,
    print_diagnostics,
)


class GoBoolFlag(argparse.Action):
    """A Go-style boolean flag: ``-x`` or ``-x=false``; never swallows the template path.

    argparse's optional-argument form (``nargs="?"``) would take the next word
    (``validate -syntax-only t.pkr.hcl``) as the flag's value; a word that is not
    a boolean is kept aside as a positional argument instead.
    """

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        kwargs.setdefault("default", False)
        super().__init__(option_strings, dest, nargs="?", metavar="BOOL", **kwargs)

    def __call__(self, parser: Any, namespace: argparse.Namespace, values: Any, option_string: Any = None) -> None:
        if values is None:
            setattr(namespace, self.dest, True)
            return
        try:
            setattr(namespace, self.dest, parse_bool(values))
        except argparse.ArgumentTypeError:
            setattr(namespace, self.dest, True)
            strays = list(getattr(namespace, "stray_positionals", None) or [])
            strays.append(values)
            namespace.stray_positionals = strays


def add_go_bool_flag(parser: argparse.ArgumentParser | Any, name: str, help: str) -> None:
    parser.add_argument(f"-{name}", f"--{name}", dest=name.replace("-", "_"), action=GoBoolFlag, help=help)


def add_template_target(parser: argparse.ArgumentParser | Any) -> None:
    parser.add_argument("target", nargs="?", metavar="TEMPLATE",
                        help="a template file (*.pkr.hcl) or a directory of them")


def resolve_target(args: argparse.Namespace) -> None:
    """Put a path taken by a boolean flag back as the template target."""
    positionals = ([args.target] if getattr(args, "target", None) else []) + list(
        getattr(args, "stray_positionals", None) or [])
    if len(positionals) != 1:
        raise UsageError("give exactly one template file or directory")
    args.target = positionals[0]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_go_bool_flag(parser, "syntax-only", "check syntax only, without evaluating the template")
    add_go_bool_flag(parser, "evaluate-datasources", "run data sources during validation")
    add_go_bool_flag(parser, "no-warn-undeclared-var", "do not warn about undeclared variables in var files")
    add_var_flags(parser)
    add_selection_flags(parser)
    add_template_target(parser)


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
        warnings.items = [w for w in warnings.items if w.summary != "Undefined variable"]
    if warnings:
        print_diagnostics(ui, warnings)
    return template


def run(args: argparse.Namespace) -> int:
    import sys

    from bakehouse.hcl.diagnostics import Diagnostics

    try:
        resolve_target(args)
    except UsageError as exc:
        sys.stderr.write(f"Error: {exc}\n")
        return 1
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
