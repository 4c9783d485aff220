"""Finding a template's files, parsing them, and checking the top-level blocks.

A directory target is every ``*.pkr.hcl`` file in it (sorted) plus its
``*.auto.pkrvars.hcl`` / ``*.auto.pkrvars.json`` files; a file target is that
file, a legacy JSON template being read as the HCL2 it converts to.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bakehouse.hcl.diagnostics import Diagnostics
from bakehouse.hcl.schema import BlockSpec, BodySchema, decode_body
from bakehouse.template import _hcl
from bakehouse.template.prescan import template_files_in
from bakehouse.template.scope import slash

TOP_LEVEL_SCHEMA = BodySchema(
    blocks=(BlockSpec("packer"), BlockSpec("variable", ("name",)), BlockSpec("variables"), BlockSpec("locals"),
            BlockSpec("local", ("name",)), BlockSpec("data", ("type", "name")),
            BlockSpec("source", ("type", "name")), BlockSpec("build"), BlockSpec("hcp_packer_registry")),
    attribute_hint="Put it inside a block (variable, locals, source, build).")


@dataclass
class TemplateFiles:
    """The files of a template and what parsing them gave."""

    root: str = "."  #: ``path.root``
    files: list[str] = field(default_factory=list)
    auto_var_files: list[str] = field(default_factory=list)
    #: legacy JSON template path -> the HCL2 text it converts to
    converted: dict[str, str] = field(default_factory=dict)
    bodies: list[tuple[str, _hcl.Body]] = field(default_factory=list)
    #: well-formed top-level blocks of every file, in file order
    blocks: list[_hcl.Block] = field(default_factory=list)

    def of_type(self, block_type: str) -> list[_hcl.Block]:
        return [block for block in self.blocks if block.type == block_type]


def find_files(path: str, diags: Diagnostics) -> TemplateFiles | None:
    """The template's files, or None after reporting why there are none."""
    found = TemplateFiles()
    target = Path(path)
    if target.is_dir():
        found.root = slash(path.rstrip("/") or "/")
        templates = template_files_in(target)
        found.auto_var_files = [str(p) for p in sorted(target.iterdir())
                                if p.name.endswith(".auto.pkrvars.hcl") and p.is_file()]
        found.auto_var_files += [str(p) for p in sorted(target.iterdir())
                                 if p.name.endswith(".auto.pkrvars.json") and p.is_file()]
        if not templates:
            diags.error("No template files found",
                        f"The directory {path} contains no *.pkr.hcl file. "
                        "Point the command at a template file or a directory of them.")
            return None
        found.files = [str(p) for p in templates]
    elif target.is_file():
        found.root = slash(os.path.dirname(path) or ".")
        if path.endswith(".pkr.json"):
            diags.error("HCL2 JSON syntax is not supported",
                        f"{path} is in HCL2's JSON syntax; Bakehouse reads HCL2 native syntax "
                        "(*.pkr.hcl) and legacy JSON templates (*.json).")
            return None
        if path.endswith(".json"):  # *.pkr.json is refused above
            # Legacy JSON: read as the HCL2 it converts to (see legacy_json,
            # imported only for these).
            from bakehouse.template.legacy_json import convert_json_template

            try:
                hcl_text = convert_json_template(path)
            except Diagnostics as exc:
                diags.extend(exc)
                return None
            found.converted[path] = hcl_text
        found.files = [path]
    else:
        diags.error("Template not found", f"There is no file or directory at {path}. "
                    "Check the path and try again.")
        return None
    return found


def parse_files(found: TemplateFiles, diags: Diagnostics, parsed: Mapping[str, _hcl.Body] | None = None) -> None:
    """Parse each file; one in ``parsed`` (by name) is taken from there."""
    for filename in found.files:
        try:
            if parsed and filename in parsed and filename not in found.converted:
                found.bodies.append((filename, parsed[filename]))
            elif filename in found.converted:
                found.bodies.append((filename, _hcl.parse_text(found.converted[filename], f"{filename} (as HCL2)")))
            else:
                found.bodies.append((filename, _hcl.parse_file(filename)))
        except _hcl.Diagnostics as exc:
            diags.extend(exc)


def check_top_level(found: TemplateFiles, diags: Diagnostics) -> None:
    """Keep the well-formed top-level blocks; report arguments and unknown or mislabelled blocks."""
    for _filename, body in found.bodies:
        found.blocks += decode_body(body.attributes, body.blocks, TOP_LEVEL_SCHEMA, diags).blocks
