"""``bakehouse inspect [flags] TEMPLATE``: show what a template declares and builds.

The layout follows ``packer inspect`` in HCL2 mode: input variables with their
values (sensitive ones as ``<sensitive>``), locals, then every build block with
its sources, provisioners and numbered post-processor chains. Variables not
set yet are shown as ``<unknown>``; any other error in the template is printed
and the command exits 1 without a listing, as Packer's does.

``-only`` / ``-except`` narrow the listing to the builds ``build`` would run
with the same flags (and ``-except`` drops the post-processors it names).
"""

from __future__ import annotations

import argparse
from typing import Any

from bakehouse.cli.common import (
    add_selection_flags,
    add_target,
    add_var_flags,
    make_ui,
)
from bakehouse.ui.diagnostics import print_diagnostics


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_var_flags(parser)
    add_selection_flags(parser)
    add_target(parser)


def run(args: argparse.Namespace) -> int:
    from bakehouse import log
    from bakehouse.template.loader import load

    ui = make_ui(args)
    loaded, diags = load(args.target, variables=list(args.vars), var_files=list(args.var_files),
                         stop_on_error=False)
    log.add_sensitive(loaded.template.sensitive_values)
    # Like Packer, inspect describes a template whose variables are not all set yet.
    diags.items = [d for d in diags.items if not d.summary.startswith("Unset variable")]
    if diags:
        print_diagnostics(ui, diags)
    if not loaded.files or diags.has_errors:
        return 1
    builds = loaded.template.builds
    if args.only or args.except_:
        from bakehouse.orchestrator.selection import select_builds

        selection = select_builds(builds, list(args.only), list(args.except_))
        for warning in selection.warnings:
            ui.warn(f"Warning: {warning}")
        builds = selection.builds
    for line in inspect_lines(loaded, builds):
        ui.say(line)
    return 0


def inspect_lines(loaded: Any, builds: list[Any] | None = None) -> list[str]:
    """The inspect report as lines (Packer's HCL2 layout), for ``builds``
    (default: every build of the template)."""
    from bakehouse.template.render import SENSITIVE, render_value

    lines = ["Bakehouse Inspect: HCL2 mode", "", "> input-variables:", ""]
    for name, var in sorted(loaded.variables.items()):
        if var.sensitive:
            shown = SENSITIVE
        elif var.value is None:
            shown = "<unknown>"
        else:
            shown = render_value(var.value)
        lines.append(f"var.{name}: {shown}")
    lines += ["", "> local-variables:", ""]
    for name, value in sorted(loaded.locals.items()):
        shown = SENSITIVE if name in loaded.local_sensitive else render_value(value)
        lines.append(f"local.{name}: {shown}")
    lines += ["", "> builds:", ""]
    selected = loaded.template.builds if builds is None else builds
    for index, (_key, plans) in enumerate(_grouped(selected)):
        title = plans[0].build_block_name or f"<unnamed build {index}>"
        lines += [f"  > {title}:", "", "    sources:", ""]
        for plan in plans:
            lines.append(f"      {plan.source_type}.{plan.source_name}")
        lines.append("")
        provisioners = _unique(spec for plan in plans for spec in plan.provisioners)
        if provisioners:
            lines += ["    provisioners:", ""]
            for spec in provisioners:
                lines.append(f"      {_label(spec)}")
            lines.append("")
        cleanup = _unique(plan.error_cleanup_provisioner for plan in plans if plan.error_cleanup_provisioner)
        if cleanup:
            lines += ["    error-cleanup-provisioner:", "", f"      {_label(cleanup[0])}", ""]
        chains: dict[tuple[Any, ...], list[Any]] = {}
        for plan in plans:
            for chain in plan.post_processor_chains:
                chains.setdefault(tuple(_pos_key(spec) for spec in chain), chain)
        if chains:
            lines += ["    post-processors:", ""]
            for number, chain in enumerate(chains.values()):
                lines.append(f"      {number}:")
                for spec in chain:
                    lines.append(f"        {_label(spec)}")
                lines.append("")
    return lines


def _label(spec: Any) -> str:
    label: str = spec.type
    return label + (f".{spec.name}" if spec.name and spec.name != spec.type else "")


def _pos_key(spec: Any) -> tuple[str, int, int]:
    return (spec.pos.filename, spec.pos.line, spec.pos.column)


def _unique(specs: Any) -> list[Any]:
    """Components in order, each block once (builds of one block share its components)."""
    seen: set[tuple[str, int, int]] = set()
    out = []
    for spec in specs:
        if _pos_key(spec) not in seen:
            seen.add(_pos_key(spec))
            out.append(spec)
    return out


def _grouped(plans: list[Any]) -> list[tuple[tuple[str, int], list[Any]]]:
    """Builds grouped by the build block they come from (consecutive, same block name)."""
    groups: list[tuple[tuple[str, int], list[Any]]] = []
    for plan in plans:
        key = (plan.build_block_name, getattr(plan, "build_block_index", 0))
        if groups and groups[-1][0] == key:
            groups[-1][1].append(plan)
        else:
            groups.append((key, [plan]))
    return groups
