"""``dynamic`` blocks: one generated block per element of ``for_each``.

``dynamic "T" { for_each = coll, iterator = name, labels = [...], content { ... } }``
expands where it stands into blocks of type T whose body is ``content``; each
carries its iterator (``<name>.key`` / ``<name>.value``) as an extra variable for
the evaluation of that body (:class:`Scoped`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bakehouse.hcl.diagnostics import Diagnostics, SourcePos
from bakehouse.hcl.schema import AttributeSpec, BlockSpec, BodySchema, check_labels, decode_body
from bakehouse.template import _hcl
from bakehouse.template._hcl import V
from bakehouse.template.scope import evaluate

DYNAMIC_BLOCK = BlockSpec("dynamic", ("type",))
DYNAMIC_SCHEMA = BodySchema(
    attributes=(AttributeSpec("for_each", required=True), AttributeSpec("iterator"), AttributeSpec("labels")),
    blocks=(BlockSpec("content", required=True, unique=True),))


@dataclass
class GeneratedBlock:
    """A block produced by a ``dynamic`` block (same shape as the parser's Block)."""

    type: str
    labels: list[str]
    body: _hcl.Body
    pos: SourcePos


@dataclass
class Scoped:
    """A block together with extra evaluation variables (a ``dynamic`` iterator)."""

    block: _hcl.Block | GeneratedBlock
    extras: dict[str, V.Value] = field(default_factory=dict)

    # The block's shape, so that a body schema checks scoped blocks like parsed ones.
    @property
    def type(self) -> str:
        return self.block.type

    @property
    def labels(self) -> list[str]:
        return self.block.labels

    @property
    def body(self) -> _hcl.Body:
        return self.block.body

    @property
    def pos(self) -> SourcePos:
        return self.block.pos

    def context(self, ctx: _hcl.EvalContext) -> _hcl.EvalContext:
        """``ctx`` with this block's extra variables."""
        return ctx.child(self.extras) if self.extras else ctx


def expand(body: _hcl.Body, ctx: _hcl.EvalContext, extras: dict[str, V.Value],
           diags: Diagnostics) -> list[Scoped]:
    """The body's blocks with ``dynamic`` blocks expanded, in order."""
    out: list[Scoped] = []
    block_ctx = ctx.child(extras) if extras else ctx
    for block in body.blocks:
        if block.type != "dynamic":
            out.append(Scoped(block, dict(extras)))
            continue
        out.extend(_expand_dynamic(block, block_ctx, extras, diags))
    return out


def _expand_dynamic(block: _hcl.Block, ctx: _hcl.EvalContext, extras: dict[str, V.Value],
                    diags: Diagnostics) -> list[Scoped]:
    if not check_labels(block, DYNAMIC_BLOCK, diags):
        return []
    target = block.labels[0]
    content = decode_body(block.body.attributes, block.body.blocks, DYNAMIC_SCHEMA, diags, block.pos)
    attrs = content.attributes
    contents = content.of_type("content")
    if "for_each" not in attrs or not contents:
        return []
    iterator = target
    if "iterator" in attrs:
        refs = attrs["iterator"].expr.references()
        if len(refs) == 1 and len(refs[0]) == 1:
            iterator = refs[0][0]
        else:
            diags.error("Invalid dynamic iterator", "iterator must be a single name, like iterator = tag.",
                        attrs["iterator"].pos)
            return []
    collection = evaluate(attrs["for_each"].expr, ctx, diags)
    if collection is None:
        return []
    if not collection.is_known:
        # e.g. data source outputs during a plain validate: nothing to generate yet
        return []
    if collection.is_null:
        diags.error("Invalid dynamic for_each value", "Cannot use a null value in for_each.", attrs["for_each"].pos)
        return []
    pairs: list[tuple[V.Value, V.Value]]
    if collection.type.is_mapping:
        pairs = [(V.string(k), v) for k, v in collection.items().items()]
    elif collection.type.is_sequence:
        elements = collection.elements()
        if isinstance(collection.type, V.SetType):
            pairs = [(v, v) for v in elements]
        else:
            pairs = [(V.number(i), v) for i, v in enumerate(elements)]
    else:
        diags.error("Invalid dynamic for_each value", "for_each must be a list, set, map or object, not "
                    f"{collection.type.friendly()}.", attrs["for_each"].pos)
        return []
    out: list[Scoped] = []
    for key, value in pairs:
        item_extras = dict(extras)
        item_extras[iterator] = V.object_value({"key": key, "value": value})
        item_ctx = ctx.child({iterator: item_extras[iterator]})
        labels: list[str] = []
        if "labels" in attrs:
            label_value = evaluate(attrs["labels"].expr, item_ctx, diags)
            if label_value is None:
                continue
            try:
                labels = [str(x) for x in V.to_python(label_value)]
            except (V.EvalError, TypeError):
                diags.error("Invalid dynamic labels", "labels must be a list of strings.", attrs["labels"].pos)
                continue
        generated = GeneratedBlock(type=target, labels=labels, body=contents[0].body, pos=block.pos)
        out.append(Scoped(generated, item_extras))
    return out
