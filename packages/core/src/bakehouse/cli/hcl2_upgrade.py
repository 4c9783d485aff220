"""``bakehouse hcl2_upgrade [-output-file PATH] TEMPLATE.json``: write a legacy JSON
template as HCL2 (``TEMPLATE.json.pkr.hcl`` by default, as Packer names it).

The conversion is the one ``build`` uses to run JSON templates
(:mod:`bakehouse.template.legacy_json`), except that ``{{timestamp}}``
becomes ``local.timestamp`` and template functions without an HCL2
equivalent are copied unchanged, each with a warning, for the user to rewrite.
"""

from __future__ import annotations

import argparse

from bakehouse.cli.common import add_target, add_ui_flags, flag, make_ui
from bakehouse.ui.diagnostics import print_diagnostics


def add_arguments(parser: argparse.ArgumentParser) -> None:
    flag(
        parser,
        "output-file",
        dest="output_file",
        default="",
        metavar="PATH",
        help="where to write the HCL2 template (default: TEMPLATE.pkr.hcl next to the input)",
    )
    add_ui_flags(parser)
    add_target(parser)


def run(args: argparse.Namespace) -> int:
    from bakehouse.hcl.diagnostics import Diagnostics
    from bakehouse.hcl.formatter import format_text
    from bakehouse.template.legacy_json import is_legacy_json, upgrade_json_template

    ui = make_ui(args)
    source = args.target
    if not is_legacy_json(source):
        ui.error(
            f"Error: {source} is not a legacy JSON template (*.json): hcl2_upgrade converts those to HCL2."
        )
        return 1
    try:
        text, warnings = upgrade_json_template(source)
    except Diagnostics as diagnostics:
        print_diagnostics(ui, diagnostics)
        return 1
    output = args.output_file or f"{source}.pkr.hcl"
    try:
        text = format_text(text, output)
    except Diagnostics:  # the canonical layout is a nicety; the text itself is valid
        pass
    try:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        ui.error(f"Error: cannot write {output}: {exc.strerror or exc}")
        return 1
    if warnings:
        print_diagnostics(ui, warnings)
    ui.say(f"Successfully created {output}")
    return 0
