"""Check a body against a declared schema, like HCL's ``Body.Content``.

A :class:`BodySchema` lists the arguments and nested blocks a block type takes:
which arguments are required, how many labels each nested block has, which
blocks may appear only once. :func:`decode_body` reports every departure as a
diagnostic with the position of the offending argument or block, in the same
words wherever the body is (``Unsupported argument``, ``Missing required
argument``, ``Unsupported block type``, ``Missing name for ...``), and returns
what is left: the known arguments and the well-formed blocks, in order.

The schema says nothing about values: evaluating the arguments is the caller's
business, so one schema serves both a variable block and its validation blocks.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from bakehouse.hcl.diagnostics import Diagnostics, SourcePos
from bakehouse.hcl.parser import Attribute, Body


class BlockLike(Protocol):
    """A parsed block, or one generated from a ``dynamic`` block."""

    @property
    def type(self) -> str: ...

    @property
    def labels(self) -> list[str]: ...

    @property
    def body(self) -> Body: ...

    @property
    def pos(self) -> SourcePos: ...


B = TypeVar("B", bound=BlockLike)


@dataclass(frozen=True)
class AttributeSpec:
    """An argument a body takes."""

    name: str
    required: bool = False


@dataclass(frozen=True)
class BlockSpec:
    """A nested block type: its label names, and whether it must or may appear once."""

    type: str
    labels: tuple[str, ...] = ()
    required: bool = False
    unique: bool = False
    #: the summary when a unique block appears twice (Packer words some of them)
    duplicate_summary: str = ""


@dataclass(frozen=True)
class BodySchema:
    """What a body may contain."""

    attributes: tuple[AttributeSpec, ...] = ()
    blocks: tuple[BlockSpec, ...] = ()
    #: any argument name is accepted (``locals``, ``variables``, ``required_plugins``)
    any_attributes: bool = False
    #: said after "not expected here." instead of the list of what is expected
    attribute_hint: str = ""
    block_hint: str = ""

    def attribute_names(self) -> list[str]:
        return sorted(spec.name for spec in self.attributes)

    def block_types(self) -> list[str]:
        return sorted(spec.type for spec in self.blocks)

    def block(self, block_type: str) -> BlockSpec | None:
        for spec in self.blocks:
            if spec.type == block_type:
                return spec
        return None


@dataclass
class BodyContent(Generic[B]):
    """The arguments and blocks of a body that match its schema."""

    attributes: dict[str, Attribute] = field(default_factory=dict)
    blocks: list[B] = field(default_factory=list)

    def of_type(self, block_type: str) -> list[B]:
        return [block for block in self.blocks if block.type == block_type]


def decode_body(attributes: Mapping[str, Attribute], blocks: Sequence[B], schema: BodySchema,
                diags: Diagnostics, pos: SourcePos | None = None) -> BodyContent[B]:
    """Check ``attributes`` and ``blocks`` (a body's, or its blocks after ``dynamic``
    expansion) against ``schema``; report problems to ``diags``.

    ``pos`` is where a missing argument or block is reported (the enclosing block).
    """
    content: BodyContent[B] = BodyContent()
    known = {spec.name for spec in schema.attributes}
    for name, attr in attributes.items():
        if schema.any_attributes or name in known:
            content.attributes[name] = attr
        else:
            diags.error("Unsupported argument", f'An argument named "{name}" is not expected here.'
                        + _expected(name, schema.attribute_names(), schema.attribute_hint), attr.pos)
    for spec in schema.attributes:
        if spec.required and spec.name not in attributes:
            diags.error("Missing required argument",
                        f'The argument "{spec.name}" is required, but no definition was found.', pos)

    first: dict[str, B] = {}
    for block in blocks:
        block_spec = schema.block(block.type)
        if block_spec is None:
            diags.error("Unsupported block type", f'Blocks of type "{block.type}" are not expected here.'
                        + _expected(block.type, schema.block_types(), schema.block_hint), block.pos)
            continue
        if not check_labels(block, block_spec, diags):
            continue
        if block_spec.unique and block.type in first:
            summary = block_spec.duplicate_summary or f"Duplicate {block.type} block"
            diags.error(summary, f"Only one {block.type} block is allowed here; another was defined at "
                        f"{first[block.type].pos}. Remove all but one.", block.pos)
            continue
        first.setdefault(block.type, block)
        content.blocks.append(block)
    for block_spec in schema.blocks:
        if block_spec.required and block_spec.type not in first:
            diags.error(f"Missing {block_spec.type} block",
                        f"A {block_spec.type} block is required here: {_example(block_spec)}.", pos)
    return content


def check_labels(block: BlockLike, spec: BlockSpec, diags: Diagnostics) -> bool:
    """Report a block whose label count is not the spec's; return whether it is right."""
    wanted = len(spec.labels)
    got = len(block.labels)
    if got == wanted:
        return True
    if got < wanted:
        summary = f"Missing name for {block.type}"
        detail = (f"All {block.type} blocks must have {wanted} label{'s' if wanted > 1 else ''} "
                  f"({', '.join(spec.labels)}): {_example(spec)}.")
    elif wanted == 0:
        summary = f"Extraneous label for {block.type}"
        detail = f"No labels are expected for {block.type} blocks: {_example(spec)}."
    else:
        summary = f"Extraneous label for {block.type}"
        detail = (f"Only {wanted} label{'s are' if wanted > 1 else ' is'} ({', '.join(spec.labels)}) expected "
                  f"for {block.type} blocks: {_example(spec)}.")
    diags.error(summary, detail, block.pos)
    return False


def _example(spec: BlockSpec) -> str:
    labels = "".join(f' "{label}"' for label in spec.labels)
    return f"{spec.type}{labels} {{ ... }}"


def _expected(name: str, candidates: list[str], hint: str) -> str:
    close = difflib.get_close_matches(name, candidates, n=1)
    if close:
        return f' Did you mean "{close[0]}"?'
    if hint:
        return " " + hint
    if candidates:
        return " Expected one of: " + ", ".join(candidates) + "."
    return ""
