"""The expression tree the evaluator walks.

The parser adapter (:mod:`bakehouse.hcl.parser`) builds these nodes from
python-hcl2's Lark parse tree, after fixing what that tree gets wrong for HCL
(splat nesting, strip markers, heredoc contents). Every node carries a
:class:`SourcePos`; templates are already stripped and flushed here, so the
evaluator only renders them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from bakehouse.hcl.diagnostics import SourcePos
from bakehouse.hcl.values import Value

Traversal = tuple[str, ...]


@dataclass(eq=False)
class Expression:
    """Base of every expression node. ``pos`` is where the expression starts."""

    pos: SourcePos

    def children(self) -> Iterator[Expression]:
        return iter(())

    def references(self) -> list[Traversal]:
        """Variables this expression reads, as static traversals.

        ``var.image`` -> ``("var", "image")``; ``data.amazon-ami.base.id`` ->
        ``("data", "amazon-ami", "base", "id")`` (callers take the prefix they
        need). Iteration names of ``for`` expressions and template ``for``
        directives are excluded. Order of first appearance, no duplicates.
        """
        found: list[Traversal] = []
        _collect_references(self, frozenset(), found)
        seen: set[Traversal] = set()
        unique = []
        for t in found:
            if t not in seen:
                seen.add(t)
                unique.append(t)
        return unique


@dataclass(eq=False)
class LiteralExpr(Expression):
    value: Value


@dataclass(eq=False)
class VariableExpr(Expression):
    name: str


@dataclass(eq=False)
class GetAttrExpr(Expression):
    target: Expression
    name: str
    step_pos: SourcePos | None = None  # where ".name" is written, for errors

    def children(self) -> Iterator[Expression]:
        yield self.target


@dataclass(eq=False)
class IndexExpr(Expression):
    target: Expression
    key: Expression
    legacy: bool = False  # written `x.0`
    step_pos: SourcePos | None = None  # where "[key]" is written, for errors

    def children(self) -> Iterator[Expression]:
        yield self.target
        yield self.key


@dataclass(eq=False)
class SplatAnchor(Expression):
    """The current element inside a splat's per-element expression."""

    splat_id: int


@dataclass(eq=False)
class SplatExpr(Expression):
    """``source[*].each...`` / ``source.*.each``: ``each`` is evaluated per element."""

    source: Expression
    each: Expression
    splat_id: int

    def children(self) -> Iterator[Expression]:
        yield self.source
        yield self.each


@dataclass(eq=False)
class ParensExpr(Expression):
    inner: Expression

    def children(self) -> Iterator[Expression]:
        yield self.inner


@dataclass(eq=False)
class UnaryExpr(Expression):
    op: str  # "-" or "!"
    operand: Expression

    def children(self) -> Iterator[Expression]:
        yield self.operand


@dataclass(eq=False)
class BinaryExpr(Expression):
    op: str
    lhs: Expression
    rhs: Expression
    op_pos: SourcePos | None = None

    def children(self) -> Iterator[Expression]:
        yield self.lhs
        yield self.rhs


@dataclass(eq=False)
class ConditionalExpr(Expression):
    condition: Expression
    if_true: Expression
    if_false: Expression

    def children(self) -> Iterator[Expression]:
        yield self.condition
        yield self.if_true
        yield self.if_false


@dataclass(eq=False)
class TupleExpr(Expression):
    items: list[Expression]

    def children(self) -> Iterator[Expression]:
        yield from self.items


@dataclass(eq=False)
class ObjectItem:
    key: Expression
    value: Expression
    bare_name: str | None  # `name = ...`: the key is the literal name


@dataclass(eq=False)
class ObjectExpr(Expression):
    items: list[ObjectItem]

    def children(self) -> Iterator[Expression]:
        for item in self.items:
            if item.bare_name is None:
                yield item.key
            yield item.value


@dataclass(eq=False)
class FunctionCallExpr(Expression):
    name: str
    args: list[Expression]
    expand_final: bool = False  # `f(a, list...)`

    def children(self) -> Iterator[Expression]:
        yield from self.args


@dataclass(eq=False)
class ForExpr(Expression):
    key_var: str | None
    value_var: str
    collection: Expression
    key_expr: Expression | None  # None for `[for ...]`
    value_expr: Expression
    condition: Expression | None
    group: bool = False

    def children(self) -> Iterator[Expression]:
        yield self.collection
        if self.key_expr is not None:
            yield self.key_expr
        yield self.value_expr
        if self.condition is not None:
            yield self.condition


# ----------------------------------------------------------------- templates


@dataclass(eq=False)
class TemplateNode:
    pos: SourcePos


@dataclass(eq=False)
class TemplateLiteral(TemplateNode):
    text: str


@dataclass(eq=False)
class TemplateInterp(TemplateNode):
    expr: Expression


@dataclass(eq=False)
class TemplateIf(TemplateNode):
    condition: Expression
    then_parts: list[TemplateNode] = field(default_factory=list)
    else_parts: list[TemplateNode] = field(default_factory=list)


@dataclass(eq=False)
class TemplateFor(TemplateNode):
    key_var: str | None
    value_var: str
    collection: Expression
    body: list[TemplateNode] = field(default_factory=list)


@dataclass(eq=False)
class TemplateExpr(Expression):
    """A quoted string, heredoc or standalone template, already stripped/flushed."""

    parts: list[TemplateNode]
    # True when the source was exactly one interpolation and nothing else (a
    # literal emptied by a strip marker still counts as a literal, as in Go)
    unwrappable: bool = False

    @property
    def single_interpolation(self) -> Expression | None:
        """``"${x}"`` returns x's value unconverted: HCL's unwrapping rule."""
        if self.unwrappable and len(self.parts) == 1 and isinstance(self.parts[0], TemplateInterp):
            return self.parts[0].expr
        return None

    def children(self) -> Iterator[Expression]:
        yield from _template_children(self.parts)


def _template_children(parts: list[TemplateNode]) -> Iterator[Expression]:
    for part in parts:
        if isinstance(part, TemplateInterp):
            yield part.expr
        elif isinstance(part, TemplateIf):
            yield part.condition
            yield from _template_children(part.then_parts)
            yield from _template_children(part.else_parts)
        elif isinstance(part, TemplateFor):
            yield part.collection
            yield from _template_children(part.body)


#: How deep expressions and template directives may nest (each bracket, call,
#: operator or ``%{ if }``/``%{ for }`` is a level). The evaluator and every other
#: walker recurse once per level; past this the file is an error at the
#: position where the limit is crossed, never a RecursionError.
MAX_NESTING = 128


def too_deep(expr: Expression, limit: int = MAX_NESTING) -> SourcePos | None:
    """Where ``expr`` first nests deeper than ``limit`` levels, or None.

    Iterative on purpose: it must not itself fail on the input it guards against.
    """
    # Depth-first in source order (children pushed reversed), so the first node
    # past the limit is the first one a reader meets. Literals do not nest.
    stack: list[tuple[Expression | TemplateNode, int]] = [(expr, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > limit and not isinstance(node, TemplateLiteral):
            return node.pos
        inner: list[tuple[Expression | TemplateNode, int]] = []
        if isinstance(node, TemplateExpr):
            inner = [(part, depth + 1) for part in node.parts]
        elif isinstance(node, Expression):
            inner = [(child, depth + 1) for child in node.children()]
        elif isinstance(node, TemplateInterp):
            inner = [(node.expr, depth)]
        elif isinstance(node, TemplateIf):
            inner = [(node.condition, depth)]
            inner += [(part, depth + 1) for part in (*node.then_parts, *node.else_parts)]
        elif isinstance(node, TemplateFor):
            inner = [(node.collection, depth)]
            inner += [(part, depth + 1) for part in node.body]
        stack.extend(reversed(inner))
    return None


# -------------------------------------------------------------- references


def static_traversal(expr: Expression) -> Traversal | None:
    """``a.b.c`` / ``a["b"]`` as ("a", "b", "c"); None if not rooted in a variable."""
    steps: list[str] = []
    node = expr
    while True:
        if isinstance(node, GetAttrExpr):
            steps.append(node.name)
            node = node.target
        elif isinstance(node, IndexExpr) and isinstance(node.key, LiteralExpr) and node.key.value.is_known:
            from bakehouse.hcl.values import NUMBER, STRING, format_number

            key = node.key.value
            if key.type == STRING:
                steps.append(key.as_str())
            elif key.type == NUMBER:
                steps.append(format_number(key.as_number()))
            else:
                return None
            node = node.target
        elif isinstance(node, VariableExpr):
            steps.append(node.name)
            return tuple(reversed(steps))
        else:
            return None


def _collect_references(node: Expression, bound: frozenset[str], out: list[Traversal]) -> None:
    if isinstance(node, (GetAttrExpr, IndexExpr, VariableExpr)):
        trav = _longest_static_prefix(node)
        if trav is not None and trav[0] not in bound:
            out.append(trav)
        # index keys may reference other variables
        inner: Expression | None = node
        while isinstance(inner, (GetAttrExpr, IndexExpr)):
            if isinstance(inner, IndexExpr):
                _collect_references(inner.key, bound, out)
            inner = inner.target
        if inner is not None and not isinstance(inner, VariableExpr):
            _collect_references(inner, bound, out)
        return
    if isinstance(node, ForExpr):
        _collect_references(node.collection, bound, out)
        inner_bound = bound | {node.value_var} | ({node.key_var} if node.key_var else set())
        for child in (node.key_expr, node.value_expr, node.condition):
            if child is not None:
                _collect_references(child, inner_bound, out)
        return
    if isinstance(node, TemplateExpr):
        _collect_template_references(node.parts, bound, out)
        return
    for child in node.children():
        _collect_references(child, bound, out)


def _collect_template_references(parts: list[TemplateNode], bound: frozenset[str], out: list[Traversal]) -> None:
    for part in parts:
        if isinstance(part, TemplateInterp):
            _collect_references(part.expr, bound, out)
        elif isinstance(part, TemplateIf):
            _collect_references(part.condition, bound, out)
            _collect_template_references(part.then_parts, bound, out)
            _collect_template_references(part.else_parts, bound, out)
        elif isinstance(part, TemplateFor):
            _collect_references(part.collection, bound, out)
            inner = bound | {part.value_var} | ({part.key_var} if part.key_var else set())
            _collect_template_references(part.body, inner, out)


def _longest_static_prefix(node: Expression) -> Traversal | None:
    """Strip dynamic steps from the outside until the rest is static."""
    current: Expression = node
    while True:
        trav = static_traversal(current)
        if trav is not None:
            return trav
        if isinstance(current, (GetAttrExpr, IndexExpr)):
            current = current.target
        else:
            return None
