"""``source`` blocks, references to them (``sources = ["type.name"]``) and the
``source "type.name" { ... }`` blocks of a build that add to one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bakehouse.hcl.diagnostics import Diagnostics, SourcePos
from bakehouse.template import _hcl
from bakehouse.template.dynamic import Scoped
from bakehouse.template.scope import as_text, evaluate, is_identifier


@dataclass
class SourceUse:
    """A source as one build uses it: its blocks (the top-level one, then the build's additions)."""

    type: str
    name: str  #: the effective name (``name = ...`` inside the build renames it)
    bodies: list[Scoped]
    pos: SourcePos
    #: the name on the source block itself: Packer's ``packer_build_name`` keeps it
    #: when a build renames the source (hashicorp/packer#12482)
    label: str = ""


def collect_sources(blocks: Sequence[_hcl.Block], diags: Diagnostics) -> dict[str, Scoped]:
    """The top-level sources by "type.name"."""
    sources: dict[str, Scoped] = {}
    for block in blocks:
        key = f"{block.labels[0]}.{block.labels[1]}"
        if key in sources:
            diags.error("Duplicate source", f"source.{key} was already defined at "
                        f"{sources[key].pos}. Rename one of them.", block.pos)
            continue
        sources[key] = Scoped(block)
    return sources


def source_key(ref: str, pos: SourcePos, sources: dict[str, Scoped], diags: Diagnostics) -> str | None:
    """The "type.name" of a defined source that ``ref`` names, or None after reporting why not."""
    parts = ref.split(".")
    if len(parts) == 3 and parts[0] == "source":
        parts = parts[1:]
    if len(parts) != 2 or not all(is_identifier(p) for p in parts):
        diags.error("Invalid source reference", f'"{ref}" is not a source reference: write "type.name" '
                    'or "source.type.name".', pos)
        return None
    key = ".".join(parts)
    if key not in sources:
        known = ", ".join(sorted(sources)) or "none"
        diags.error("Unknown source", f'There is no source "{key}" (defined sources: {known}). Declare it '
                    f'with source "{parts[0]}" "{parts[1]}" {{ ... }}.', pos)
        return None
    return key


def source_use(key: str, pos: SourcePos, sources: dict[str, Scoped]) -> SourceUse:
    source_type, source_name = key.split(".", 1)
    return SourceUse(source_type, source_name, [sources[key]], pos, source_name)


def source_override(scoped: Scoped, ctx: _hcl.EvalContext, sources: dict[str, Scoped],
                    diags: Diagnostics) -> SourceUse | None:
    """A build's ``source "type.name" { ... }`` block: the source with its additions."""
    key = source_key(scoped.labels[0], scoped.pos, sources, diags)
    if key is None:
        return None
    base = sources[key]
    use = source_use(key, scoped.pos, sources)
    use.bodies.append(scoped)
    attributes = scoped.body.attributes
    name_attr = attributes.get("name")
    if name_attr is not None:
        value = evaluate(name_attr.expr, scoped.context(ctx), diags)
        if value is not None and value.is_known and not value.is_null:
            use.name = as_text(value)
    for attr_name, attr in attributes.items():
        if attr_name != "name" and attr_name in base.body.attributes:
            original = base.body.attributes[attr_name]
            diags.error("Duplicate argument", f'The argument "{attr_name}" was already set at '
                        f"{original.pos}; a source block inside a build can only add arguments, not "
                        "redefine them.", attr.pos)
    return use
