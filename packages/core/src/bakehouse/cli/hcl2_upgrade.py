"""``bakehouse hcl2_upgrade [-output-file PATH] [-with-annotations] TEMPLATE.json``:
write a legacy JSON template as HCL2 (``TEMPLATE.json.pkr.hcl`` by default, as
Packer names it). ``-with-annotations`` adds a comment before the first block of
each kind saying what it is for, as Packer's flag of that name does.

The conversion is the one ``build`` uses to run JSON templates
(:mod:`bakehouse.template.legacy_json`), except that ``{{timestamp}}``
becomes ``local.timestamp`` and template functions without an HCL2
equivalent are copied unchanged, each with a warning, for the user to rewrite.
"""

from __future__ import annotations

import argparse

from bakehouse.cli.common import add_ui_flags, bool_flag, flag, make_ui
from bakehouse.ui.diagnostics import print_diagnostics

#: ``-with-annotations``: what each kind of block is for, above the first of its kind.
ANNOTATIONS = {
    "packer": (
        "The packer block holds requirements: required_version (the Packer version the",
        "template needs) and required_plugins (the plugins `bakehouse init` installs).",
    ),
    "variable": (
        "Input variables, the JSON template's \"variables\". Set them with -var NAME=VALUE,",
        "-var-file FILE or the PKR_VAR_NAME environment variable; one without a default",
        "must be set. Expressions read them as var.NAME.",
    ),
    "locals": (
        "Locals are named expressions evaluated once per run; expressions read them as",
        "local.NAME.",
    ),
    "source": (
        "Each source block configures a builder, one per entry of the JSON template's",
        "\"builders\": source \"TYPE\" \"NAME\". Builds refer to it as source.TYPE.NAME.",
    ),
    "build": (
        "The build block runs each of its sources (the build named TYPE.NAME), then the",
        "provisioners in order, then each post-processor chain on the artifact. Inside it",
        "source.name and source.type are the builder's name and type ({{build_name}},",
        "{{build_type}} in JSON).",
    ),
}


def annotate(text: str) -> str:
    """``text`` with the annotation of each block kind above its first block."""
    seen: set[str] = set()
    out: list[str] = []
    for line in text.splitlines(keepends=True):
        kind = line.split(" ", 1)[0].split("{", 1)[0] if line[:1].isalpha() else ""
        if kind in ANNOTATIONS and kind not in seen:
            seen.add(kind)
            out += [f"# {comment}\n" for comment in ANNOTATIONS[kind]]
        out.append(line)
    return "".join(out)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    flag(
        parser,
        "output-file",
        dest="output_file",
        default="",
        metavar="PATH",
        help="where to write the HCL2 template (default: TEMPLATE.pkr.hcl next to the input)",
    )
    bool_flag(parser, "with-annotations", "add comments saying what each kind of block is for")
    add_ui_flags(parser)
    parser.add_argument("target", metavar="TEMPLATE", help="a legacy JSON template (*.json)")


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
    if args.with_annotations:
        text = annotate(text)
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
