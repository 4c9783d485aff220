"""Evaluate HCL expressions to typed values, as hclsyntax does.

``evaluate(expr, ctx)`` returns a :class:`Value` or raises :class:`Diagnostics`
(each with a position and one sentence of what to do). Unknown values
propagate through everything; the sensitive mark follows every value derived
from a sensitive one. ``try``, ``can`` and ``convert`` are evaluated here
(they take unevaluated expressions / type expressions); every other function
comes from the function table and is called by the convention documented in
:mod:`bakehouse.hcl.function`.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, DecimalException
from pathlib import Path
from typing import Any

from bakehouse.hcl import ast
from bakehouse.hcl.diagnostics import Diagnostics, SourcePos
from bakehouse.hcl.function import Function, FunctionContext, FunctionError
from bakehouse.hcl.values import (
    BOOL,
    DYNAMIC,
    FALSE,
    NUMBER,
    STRING,
    TRUE,
    ConversionError,
    DecimalContext,
    DynamicType,
    EvalError,
    ListType,
    MapType,
    ObjectType,
    PrimitiveType,
    SetType,
    TupleType,
    Type,
    Value,
    boolean,
    convert,
    list_value,
    object_value,
    string,
    tuple_value,
    unify,
    unknown,
    values_equal,
)

__all__ = ["EvalContext", "TypeDefaults", "evaluate", "evaluate_type", "render_template_file"]

# Functions the evaluator implements itself: they need unevaluated arguments.
SPECIAL_FUNCTIONS = ("try", "can", "convert")


def _default_functions() -> Mapping[str, Function]:
    # Imported on first use: most callers pass their own functions, and the
    # library is the biggest import of the package.
    from bakehouse.hcl.functions import FUNCTIONS

    return FUNCTIONS


class EvalContext:
    """Variables and functions visible to an expression.

    ``variables`` maps root names (``var``, ``local``, ``path``, an iterator
    name...) to values. ``child(extra)`` adds names on top (for-expression
    iterators, ``each``, ``source``) without copying the parent.
    """

    def __init__(
        self,
        variables: Mapping[str, Value] | None = None,
        functions: Mapping[str, Function] | None = None,
        base_dir: str | os.PathLike[str] = ".",
        *,
        parent: EvalContext | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.variables: dict[str, Value] = dict(variables or {})
        self.parent = parent
        if parent is not None:
            self.functions: Mapping[str, Function] = parent.functions if functions is None else functions
            self.base_dir: str = parent.base_dir
            self.extra: dict[str, Any] = parent.extra if extra is None else extra
        else:
            self.functions = _default_functions() if functions is None else functions
            self.base_dir = str(base_dir)
            self.extra = dict(extra or {})
        self._fctx: FunctionContext | None = None

    def child(self, extra: Mapping[str, Value]) -> EvalContext:
        return EvalContext(extra, parent=self)

    def lookup(self, name: str) -> Value | None:
        ctx: EvalContext | None = self
        while ctx is not None:
            found = ctx.variables.get(name)
            if found is not None:
                return found
            ctx = ctx.parent
        return None

    def names(self) -> list[str]:
        seen: dict[str, None] = {}
        ctx: EvalContext | None = self
        while ctx is not None:
            for name in ctx.variables:
                if not name.startswith("\0"):
                    seen.setdefault(name)
            ctx = ctx.parent
        return list(seen)

    def function_context(self) -> FunctionContext:
        if self._fctx is None:
            root = self
            while root.parent is not None:
                root = root.parent
            functions = self.functions

            def render(path: str, variables: Mapping[str, Value]) -> Value:
                return render_template_file(path, variables, functions, self.base_dir)

            self._fctx = FunctionContext(base_dir=self.base_dir, render_template=render, extra=self.extra)
        return self._fctx


# ------------------------------------------------------------------------ entry points


def evaluate(expr: ast.Expression, ctx: EvalContext | None = None) -> Value:
    """Evaluate ``expr``; raises :class:`Diagnostics` (with positions) on error."""
    ctx = ctx or EvalContext()
    try:
        return _eval(expr, ctx)
    except EvalError as exc:
        raise _to_diagnostics(exc, expr.pos) from None
    except RecursionError:
        diags = Diagnostics()
        diags.error("Expression too deeply nested", "Simplify the expression: it nests too deeply to evaluate.", expr.pos)
        raise diags from None


def _to_diagnostics(exc: EvalError, fallback: SourcePos) -> Diagnostics:
    diags = Diagnostics()
    summary = exc.message
    detail = exc.detail
    diags.error(summary, detail, exc.pos or fallback)
    return diags


def _fail(summary: str, detail: str, pos: SourcePos) -> EvalError:
    return EvalError(summary, pos, detail)


def _similar(name: str, candidates: list[str]) -> str:
    matches = difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
    if not matches:
        return ""
    return " Did you mean " + " or ".join(f'"{m}"' for m in matches) + "?"


# ---------------------------------------------------------------------------- dispatch


def _eval(node: ast.Expression, ctx: EvalContext) -> Value:
    method = _DISPATCH.get(type(node))
    if method is None:  # pragma: no cover - every node type is registered below
        raise _fail("Unsupported expression", f"{type(node).__name__} cannot be evaluated.", node.pos)
    return method(node, ctx)


def _eval_literal(node: ast.LiteralExpr, ctx: EvalContext) -> Value:
    return node.value


def _eval_parens(node: ast.ParensExpr, ctx: EvalContext) -> Value:
    return _eval(node.inner, ctx)


def _eval_variable(node: ast.VariableExpr, ctx: EvalContext) -> Value:
    value = ctx.lookup(node.name)
    if value is None:
        raise _fail(
            "Unknown variable",
            f'There is no variable named "{node.name}".{_similar(node.name, ctx.names())}',
            node.pos,
        )
    return value


def _eval_anchor(node: ast.SplatAnchor, ctx: EvalContext) -> Value:
    value = ctx.lookup(f"\0splat{node.splat_id}")
    assert value is not None
    return value


def _describe_traversal(node: ast.Expression) -> str | None:
    trav = ast.static_traversal(node)
    return ".".join(trav) if trav else None


def _eval_get_attr(node: ast.GetAttrExpr, ctx: EvalContext) -> Value:
    target = _eval(node.target, ctx)
    return _get_attr(target, node.name, node, ctx)


def _step_pos(node: ast.GetAttrExpr | ast.IndexExpr) -> SourcePos:
    return node.step_pos or node.pos


def _get_attr(target: Value, name: str, node: ast.GetAttrExpr, ctx: EvalContext) -> Value:
    t = target.type
    if target.is_null and target.is_known:
        raise _fail(
            "Attempt to get attribute from null value",
            f'This value is null, so it does not have an attribute named "{name}"; check it is set before using it.',
            _step_pos(node),
        )
    if isinstance(t, ObjectType):
        if name not in t.attributes:
            root = _describe_traversal(node.target)
            if root in ("var", "local"):
                kind = "variable" if root == "var" else "local value"
                suggestion = _similar(name, list(t.attributes)).replace('"', f'"{root}.', 1).replace(' or "', f' or "{root}.')
                if not suggestion:
                    suggestion = f' Declare it with a variable "{name}" block.' if root == "var" else " Define it in a locals block."
                raise _fail(f"Unknown {kind}", f'There is no {kind} named "{root}.{name}".{suggestion}', _step_pos(node))
            raise _fail(
                "Unsupported attribute",
                f'This object does not have an attribute named "{name}".{_similar(name, list(t.attributes))}',
                _step_pos(node),
            )
        if not target.is_known:
            return unknown(t.attributes[name]).with_sensitive(target.sensitive)
        result: Value = target.raw[name]
        return result.with_sensitive(True) if target.sensitive else result
    if isinstance(t, MapType):
        if not target.is_known:
            return unknown(t.element).with_sensitive(target.sensitive)
        if name not in target.raw:
            raise _fail(
                "Missing map element",
                f'This map does not have an element with the key "{name}".{_similar(name, list(target.raw))}',
                _step_pos(node),
            )
        result = target.raw[name]
        return result.with_sensitive(True) if target.sensitive else result
    if isinstance(t, DynamicType):
        return unknown().with_sensitive(target.sensitive)
    raise _fail(
        "Unsupported attribute",
        f'Cannot access attribute "{name}" on a {t.friendly()} value; only objects and maps have attributes.',
        _step_pos(node),
    )


def _eval_index(node: ast.IndexExpr, ctx: EvalContext) -> Value:
    target = _eval(node.target, ctx)
    key = _eval(node.key, ctx)
    return _index(target, key, _step_pos(node))


def _index(target: Value, key: Value, pos: SourcePos) -> Value:
    t = target.type
    marked = target.sensitive or key.sensitive
    if key.is_null:
        raise _fail("Invalid index", "A null value cannot be used as an index key.", pos)
    if target.is_null and target.is_known:
        raise _fail("Attempt to index null value", "This value is null, so it has no elements to index.", pos)
    if isinstance(t, SetType):
        raise _fail(
            "Invalid index",
            "Elements of a set are identified only by their value and have no index; convert it to a list or use a for expression.",
            pos,
        )
    if isinstance(t, (ListType, TupleType)):
        if not key.is_known:
            elem_t = t.element if isinstance(t, ListType) else DYNAMIC
            return unknown(elem_t).with_sensitive(marked)
        idx = _index_number(key, pos)
        if not target.is_known:
            if isinstance(t, ListType):
                return unknown(t.element).with_sensitive(marked)
            if 0 <= idx < len(t.elements):
                return unknown(t.elements[idx]).with_sensitive(marked)
            raise _fail("Invalid index", f"The index {idx} is out of range for a tuple of {len(t.elements)} elements.", pos)
        elems = target.raw
        if idx < 0 or idx >= len(elems):
            raise _fail(
                "Invalid index",
                f"The index {idx} is out of range: this {t.friendly()} has {len(elems)} element(s); indexes start at 0.",
                pos,
            )
        result: Value = elems[idx]
        return result.with_sensitive(True) if marked else result
    if isinstance(t, (MapType, ObjectType)):
        if not key.is_known:
            return unknown(t.element if isinstance(t, MapType) else DYNAMIC).with_sensitive(marked)
        try:
            key_str = convert(key, STRING).as_str()
        except ConversionError:
            raise _fail("Invalid index", f"A {t.friendly()} is indexed by string keys, not by a {key.type.friendly()}.", pos) from None
        if not target.is_known:
            if isinstance(t, MapType):
                return unknown(t.element).with_sensitive(marked)
            if key_str in t.attributes:
                return unknown(t.attributes[key_str]).with_sensitive(marked)
        items = target.raw
        if key_str not in items:
            raise _fail(
                "Invalid index",
                f'The given key "{key_str}" does not identify an element in this collection.{_similar(key_str, list(items))}',
                pos,
            )
        result = items[key_str]
        return result.with_sensitive(True) if marked else result
    if isinstance(t, DynamicType):
        return unknown().with_sensitive(marked)
    raise _fail("Invalid index", f"A {t.friendly()} value has no elements to index; index a list, tuple, map or object.", pos)


def _index_number(key: Value, pos: SourcePos) -> int:
    try:
        d = convert(key, NUMBER).as_number()
    except (ConversionError, EvalError):
        raise _fail("Invalid index", f"A list or tuple index must be a number, not a {key.type.friendly()}.", pos) from None
    if not d.is_finite() or d != d.to_integral_value():
        raise _fail("Invalid index", "A list or tuple index must be a whole number.", pos)
    return int(d)


def _eval_splat(node: ast.SplatExpr, ctx: EvalContext) -> Value:
    source = _eval(node.source, ctx)
    if not source.is_known:
        return unknown(DYNAMIC).with_sensitive(source.sensitive)
    if source.is_null:
        return tuple_value([]).with_sensitive(source.sensitive)
    t = source.type
    if isinstance(t, (ListType, SetType, TupleType)):
        elements = source.elements()
    else:
        # a single value is treated as a one-element tuple
        elements = [source]
        t = TupleType([source.type])
    key = f"\0splat{node.splat_id}"
    results = [_eval(node.each, ctx.child({key: elem})) for elem in elements]
    if isinstance(t, (ListType, SetType)):
        try:
            result = list_value(results)
        except ConversionError:
            result = tuple_value(results)
    else:
        result = tuple_value(results)
    return result.with_sensitive(True) if source.sensitive else result


# --------------------------------------------------------------------------- operators

_ARITH = {"+", "-", "*", "/", "%"}
_COMPARE = {"<", ">", "<=", ">="}
_LOGIC = {"&&", "||"}


def _operand(value: Value, target: Type, side: str, op: str, pos: SourcePos) -> Value:
    if value.is_null and value.is_known:
        raise _fail(
            "Invalid operand",
            f'The {side} operand of "{op}" is null; a {target.friendly()} is required.',
            pos,
        )
    try:
        return convert(value, target)
    except ConversionError as exc:
        raise _fail(
            "Invalid operand",
            f'Unsuitable value for the {side} operand of "{op}": {exc.reason}.',
            pos,
        ) from None


def _eval_unary(node: ast.UnaryExpr, ctx: EvalContext) -> Value:
    value = _eval(node.operand, ctx)
    if node.op == "-":
        operand = _operand(value, NUMBER, "", "-", node.operand.pos)
        if not operand.is_known:
            return unknown(NUMBER).with_sensitive(value.sensitive)
        return Value(NUMBER, DecimalContext.minus(operand.as_number()), sensitive=value.sensitive)
    operand = _operand(value, BOOL, "", "!", node.operand.pos)
    if not operand.is_known:
        return unknown(BOOL).with_sensitive(value.sensitive)
    return boolean(not operand.as_bool()).with_sensitive(value.sensitive)


def _eval_binary(node: ast.BinaryExpr, ctx: EvalContext) -> Value:
    op = node.op
    lhs = _eval(node.lhs, ctx)
    rhs = _eval(node.rhs, ctx)
    marked = lhs.sensitive or rhs.sensitive
    if op in ("==", "!="):
        result = values_equal(lhs, rhs)
        if op == "!=" and result.is_known:
            result = boolean(not result.as_bool())
        return result.with_sensitive(marked)
    if op in _LOGIC:
        a = _operand(lhs, BOOL, "left", op, node.lhs.pos)
        b = _operand(rhs, BOOL, "right", op, node.rhs.pos)
        # a known deciding left side makes the result known even if the right is not
        if a.is_known and (a.as_bool() if op == "||" else not a.as_bool()):
            return boolean(op == "||").with_sensitive(marked)
        if not a.is_known or not b.is_known:
            return unknown(BOOL).with_sensitive(marked)
        return b.with_sensitive(marked)
    a = _operand(lhs, NUMBER, "left", op, node.lhs.pos)
    b = _operand(rhs, NUMBER, "right", op, node.rhs.pos)
    if op in _COMPARE:
        if not a.is_known or not b.is_known:
            return unknown(BOOL).with_sensitive(marked)
        x, y = a.as_number(), b.as_number()
        outcome = {"<": x < y, ">": x > y, "<=": x <= y, ">=": x >= y}[op]
        return boolean(outcome).with_sensitive(marked)
    if not a.is_known or not b.is_known:
        return unknown(NUMBER).with_sensitive(marked)
    return Value(NUMBER, _arith(op, a.as_number(), b.as_number(), node), sensitive=marked)


def _arith(op: str, x: Decimal, y: Decimal, node: ast.BinaryExpr) -> Decimal:
    c = DecimalContext
    try:
        if op == "+":
            return c.add(x, y)
        if op == "-":
            return c.subtract(x, y)
        if op == "*":
            return c.multiply(x, y)
        if op == "/":
            if y.is_zero():
                if x.is_zero():
                    raise _fail("Division by zero", "Zero divided by zero has no value; check the divisor.", node.op_pos or node.pos)
                return Decimal("Infinity") if x > 0 else Decimal("-Infinity")
            return c.divide(x, y)
        # '%': truncated like Go (the sign follows the dividend), unlike Python's
        if y.is_zero():
            raise _fail("Division by zero", "The modulo of a division by zero has no value; check the divisor.", node.op_pos or node.pos)
        if x.is_infinite():
            raise _fail("Invalid operand", "The modulo of an infinite number has no value.", node.op_pos or node.pos)
        if y.is_infinite():
            return x
        return c.remainder(x, y)
    except DecimalException:
        raise _fail(
            "Invalid arithmetic",
            f'The result of "{op}" is not a number (for example infinity minus infinity).',
            node.op_pos or node.pos,
        ) from None


# -------------------------------------------------------------------------- conditional


def _eval_conditional(node: ast.ConditionalExpr, ctx: EvalContext) -> Value:
    cond_value = _eval(node.condition, ctx)
    if cond_value.is_null and cond_value.is_known:
        raise _fail("Null condition", "The condition is null; it must be true or false.", node.condition.pos)
    try:
        cond = convert(cond_value, BOOL)
    except ConversionError as exc:
        raise _fail("Incorrect condition type", f"The condition must be a bool: {exc.reason}.", node.condition.pos) from None

    def branch(expr: ast.Expression, selected: bool) -> Value:
        if selected:
            return _eval(expr, ctx)
        try:
            return _eval(expr, ctx)
        except EvalError:
            # errors in the branch not taken are not reported (hclsyntax)
            return unknown(DYNAMIC)

    take_true = cond.as_bool() if cond.is_known else None
    true_value = branch(node.if_true, take_true is not False)
    false_value = branch(node.if_false, take_true is not True)
    result_type = _conditional_type(true_value, false_value, node)
    if take_true is None:
        return unknown(result_type).with_sensitive(cond_value.sensitive)
    chosen = true_value if take_true else false_value
    try:
        result = convert(chosen, result_type)
    except ConversionError as exc:
        raise _fail(
            "Inconsistent conditional result types",
            f"The {'true' if take_true else 'false'} result cannot be converted to {result_type.friendly()}: {exc.reason}.",
            (node.if_true if take_true else node.if_false).pos,
        ) from None
    return result.with_sensitive(True) if cond_value.sensitive else result


def _conditional_type(a: Value, b: Value, node: ast.ConditionalExpr) -> Type:
    # a literal null branch adopts the other branch's type
    if a.is_null and a.is_known and isinstance(a.type, DynamicType):
        return b.type
    if b.is_null and b.is_known and isinstance(b.type, DynamicType):
        return a.type
    unified = unify([a.type, b.type])
    if unified is None:
        raise _fail(
            "Inconsistent conditional result types",
            f"The true result is a {a.type.friendly()} and the false result is a {b.type.friendly()}; "
            "both results must have the same type (or convert to it).",
            node.pos,
        )
    return unified


# ---------------------------------------------------------------------- constructors


def _eval_tuple(node: ast.TupleExpr, ctx: EvalContext) -> Value:
    return tuple_value([_eval(item, ctx) for item in node.items])


def _eval_object(node: ast.ObjectExpr, ctx: EvalContext) -> Value:
    attrs: dict[str, Value] = {}
    key_unknown = False
    marked = False
    for item in node.items:
        if item.bare_name is not None:
            name = item.bare_name
        else:
            key = _eval(item.key, ctx)
            if key.is_null and key.is_known:
                raise _fail("Invalid object key", "An object key cannot be null.", item.key.pos)
            try:
                key_str = convert(key, STRING)
            except ConversionError:
                raise _fail("Invalid object key", f"An object key must be a string, not a {key.type.friendly()}.", item.key.pos) from None
            marked = marked or key.sensitive
            if not key_str.is_known:
                key_unknown = True
                _eval(item.value, ctx)
                continue
            name = key_str.as_str()
        attrs[name] = _eval(item.value, ctx)
    if key_unknown:
        return unknown(DYNAMIC).with_sensitive(marked)
    return object_value(attrs).with_sensitive(marked)


# ------------------------------------------------------------------------------- for


def _iterate(collection: Value) -> Iterator[tuple[Value, Value]]:
    t = collection.type
    if isinstance(t, (ListType, TupleType)):
        for i, elem in enumerate(collection.elements()):
            yield Value(NUMBER, Decimal(i)), elem
    elif isinstance(t, SetType):
        for elem in collection.elements():
            yield elem, elem
    else:
        for k, v in collection.items().items():
            yield string(k), v


def _check_iterable(collection: Value, pos: SourcePos, what: str) -> None:
    if collection.is_null:
        raise _fail("Iteration over null value", f"A null value cannot be used as the collection in {what}.", pos)
    t = collection.type
    if not (t.is_sequence or t.is_mapping):
        raise _fail(
            "Iteration over non-iterable value",
            f"A {t.friendly()} value cannot be used as the collection in {what}; use a list, set, tuple, map or object.",
            pos,
        )


def _eval_for(node: ast.ForExpr, ctx: EvalContext) -> Value:
    collection = _eval(node.collection, ctx)
    if not collection.is_known:
        return unknown(DYNAMIC).with_sensitive(collection.sensitive)
    _check_iterable(collection, node.collection.pos, "a for expression")
    marked = collection.sensitive
    values: list[Value] = []
    grouped: dict[str, list[Value]] = {}
    single: dict[str, Value] = {}
    result_unknown = False
    for key, value in _iterate(collection):
        scope = {node.value_var: value}
        if node.key_var is not None:
            scope[node.key_var] = key
        child = ctx.child(scope)
        if node.condition is not None:
            cond_value = _eval(node.condition, child)
            if cond_value.is_null and cond_value.is_known:
                raise _fail("Condition is null", "The for expression's condition is null; it must be true or false.", node.condition.pos)
            try:
                cond = convert(cond_value, BOOL)
            except ConversionError as exc:
                raise _fail("Invalid for expression condition", f"The condition must be a bool: {exc.reason}.", node.condition.pos) from None
            marked = marked or cond.sensitive
            if not cond.is_known:
                result_unknown = True
                continue
            if not cond.as_bool():
                continue
        if node.key_expr is None:
            values.append(_eval(node.value_expr, child))
            continue
        key_value = _eval(node.key_expr, child)
        if key_value.is_null and key_value.is_known:
            raise _fail("Invalid object key", "The key expression produced null; object keys must be strings.", node.key_expr.pos)
        try:
            key_str = convert(key_value, STRING)
        except ConversionError:
            raise _fail("Invalid object key", f"The key expression must produce a string, not a {key_value.type.friendly()}.", node.key_expr.pos) from None
        marked = marked or key_value.sensitive
        item = _eval(node.value_expr, child)
        if not key_str.is_known:
            result_unknown = True
            continue
        name = key_str.as_str()
        if node.group:
            grouped.setdefault(name, []).append(item)
        else:
            if name in single:
                raise _fail(
                    "Duplicate object key",
                    f'Two items produced the key "{name}"; if duplicates are expected, add "..." after the value expression to group them.',
                    node.key_expr.pos,
                )
            single[name] = item
    if result_unknown:
        return unknown(DYNAMIC).with_sensitive(marked)
    if node.key_expr is None:
        result = tuple_value(values)
    elif node.group:
        result = object_value({k: tuple_value(v) for k, v in grouped.items()})
    else:
        result = object_value(single)
    return result.with_sensitive(True) if marked else result


# ------------------------------------------------------------------------- templates


def _eval_template(node: ast.TemplateExpr, ctx: EvalContext) -> Value:
    single = node.single_interpolation
    if single is not None:
        return _eval(single, ctx)
    out: list[str] = []
    state = _RenderState()
    _render(node.parts, ctx, out, state)
    if not state.known:
        return unknown(STRING).with_sensitive(state.sensitive)
    return string("".join(out)).with_sensitive(state.sensitive)


@dataclass
class _RenderState:
    known: bool = True
    sensitive: bool = False


def _render(parts: list[ast.TemplateNode], ctx: EvalContext, out: list[str], state: _RenderState) -> None:
    for part in parts:
        if isinstance(part, ast.TemplateLiteral):
            out.append(part.text)
        elif isinstance(part, ast.TemplateInterp):
            value = _eval(part.expr, ctx)
            state.sensitive = state.sensitive or value.contains_sensitive
            if value.is_null and value.is_known:
                raise _fail(
                    "Invalid template interpolation value",
                    "The expression result is null, and a null value cannot be included in a string; check it is set.",
                    part.expr.pos,
                )
            if not value.is_known:
                state.known = False
                continue
            if not isinstance(value.type, PrimitiveType):
                raise _fail(
                    "Invalid template interpolation value",
                    f"Cannot include a {value.type.friendly()} in a string; use jsonencode(), join() or an index to pick a string.",
                    part.expr.pos,
                )
            out.append(convert(value, STRING).as_str())
        elif isinstance(part, ast.TemplateIf):
            cond_value = _eval(part.condition, ctx)
            state.sensitive = state.sensitive or cond_value.sensitive
            if cond_value.is_null and cond_value.is_known:
                raise _fail("Invalid template if condition", "The condition is null; it must be true or false.", part.condition.pos)
            try:
                cond = convert(cond_value, BOOL)
            except ConversionError as exc:
                raise _fail("Invalid template if condition", f"The condition must be a bool: {exc.reason}.", part.condition.pos) from None
            if not cond.is_known:
                state.known = False
                continue
            _render(part.then_parts if cond.as_bool() else part.else_parts, ctx, out, state)
        elif isinstance(part, ast.TemplateFor):
            collection = _eval(part.collection, ctx)
            state.sensitive = state.sensitive or collection.sensitive
            if not collection.is_known:
                state.known = False
                continue
            _check_iterable(collection, part.collection.pos, "a template for directive")
            for key, value in _iterate(collection):
                scope = {part.value_var: value}
                if part.key_var is not None:
                    scope[part.key_var] = key
                _render(part.body, ctx.child(scope), out, state)


# ------------------------------------------------------------------------- functions


def _eval_call(node: ast.FunctionCallExpr, ctx: EvalContext) -> Value:
    name = node.name
    if name == "try":
        return _call_try(node, ctx)
    if name == "can":
        return _call_can(node, ctx)
    if name == "convert":
        return _call_convert(node, ctx)
    function = ctx.functions.get(name)
    if function is None:
        known = list(ctx.functions) + list(SPECIAL_FUNCTIONS)
        raise _fail(
            "Call to unknown function",
            f'There is no function named "{name}".{_similar(name, known)}',
            node.pos,
        )
    args = [_eval(a, ctx) for a in node.args]
    arg_pos = [a.pos for a in node.args]
    if node.expand_final:
        if not args:
            raise _fail("Invalid expanding argument", 'The "..." needs a list or tuple argument to expand.', node.pos)
        last = args[-1]
        if last.is_null and last.is_known:
            raise _fail("Invalid expanding argument", "The expanding argument (the one marked with ...) must not be null.", node.args[-1].pos)
        if not last.is_known:
            return unknown(function.result_type([])).with_sensitive(last.sensitive)
        if not last.type.is_sequence:
            raise _fail(
                "Invalid expanding argument",
                f"The expanding argument (the one marked with ...) must be a list, set or tuple, not a {last.type.friendly()}.",
                node.args[-1].pos,
            )
        spread = last.elements()
        if last.sensitive:
            spread = [e.with_sensitive(True) for e in spread]
        args = args[:-1] + spread
        arg_pos = arg_pos[:-1] + [node.args[-1].pos] * len(spread)
    return call_function(name, function, args, arg_pos, node.pos, ctx.function_context())


def call_function(
    name: str,
    function: Function,
    args: list[Value],
    arg_pos: list[SourcePos],
    pos: SourcePos,
    fctx: FunctionContext,
) -> Value:
    """Call ``function`` by the convention in :mod:`bakehouse.hcl.function`."""
    params = list(function.params)
    if len(args) < len(params):
        missing = params[len(args)].name
        raise _fail(
            "Not enough function arguments",
            f'Function "{name}" expects {len(params)}{" or more" if function.var_param else ""} argument(s); '
            f'add a value for "{missing}".',
            pos,
        )
    if len(args) > len(params) and function.var_param is None:
        raise _fail(
            "Too many function arguments",
            f'Function "{name}" expects only {len(params)} argument(s); remove the extra ones.',
            arg_pos[len(params)] if len(arg_pos) > len(params) else pos,
        )
    converted: list[Value] = []
    sensitive = False
    short_circuit = False
    for i, arg in enumerate(args):
        param = params[i] if i < len(params) else function.var_param
        assert param is not None
        where = arg_pos[i] if i < len(arg_pos) else pos
        sensitive = sensitive or arg.contains_sensitive
        if arg.is_null and arg.is_known and not param.allow_null:
            raise _fail(
                "Invalid function argument",
                f'Invalid value for "{param.name}" parameter of {name}(): the argument must not be null.',
                where,
            )
        try:
            value = convert(arg, param.type)
        except ConversionError as exc:
            raise _fail(
                "Invalid function argument",
                f'Invalid value for "{param.name}" parameter of {name}(): {exc.reason}.',
                where,
            ) from None
        if not param.allow_unknown and not value.is_wholly_known:
            short_circuit = True
        converted.append(value)
    if short_circuit:
        return unknown(function.result_type(converted)).with_sensitive(sensitive)
    try:
        result = function.impl(converted, fctx)
    except FunctionError as exc:
        where = arg_pos[exc.arg_index] if exc.arg_index is not None and exc.arg_index < len(arg_pos) else pos
        raise _fail("Error in function call", f'Call to function "{name}" failed: {_sentence(exc.message)}', where) from None
    except EvalError as exc:
        if exc.pos is not None:  # e.g. an error inside a templatefile template
            raise
        raise _fail("Error in function call", f'Call to function "{name}" failed: {_sentence(exc.message)}', pos) from None
    except RecursionError:
        raise
    except Exception as exc:  # a defect in a function must still not show a traceback
        raise _fail(
            "Error in function call",
            f'Call to function "{name}" failed unexpectedly ({type(exc).__name__}: {exc}); please report this.',
            pos,
        ) from None
    if not isinstance(result, Value):
        raise _fail("Error in function call", f'Function "{name}" returned no value; please report this.', pos)
    return result.with_sensitive(True) if sensitive and not result.sensitive else result


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def _call_try(node: ast.FunctionCallExpr, ctx: EvalContext) -> Value:
    if not node.args:
        raise _fail("Error in function call", 'Function "try" needs at least one argument expression.', node.pos)
    errors: list[str] = []
    for arg in node.args:
        try:
            value = _eval(arg, ctx)
        except EvalError as exc:
            errors.append(f"{exc.message}: {exc.detail}" if exc.detail else exc.message)
            continue
        if not value.is_wholly_known:
            return unknown(DYNAMIC).with_sensitive(value.sensitive)
        return value
    listing = "; ".join(errors)
    raise _fail(
        "Error in function call",
        f'Call to function "try" failed: no expression succeeded ({listing}).',
        node.pos,
    )


def _call_can(node: ast.FunctionCallExpr, ctx: EvalContext) -> Value:
    if len(node.args) != 1:
        raise _fail("Error in function call", 'Function "can" takes exactly one argument expression.', node.pos)
    try:
        value = _eval(node.args[0], ctx)
    except EvalError:
        return FALSE
    if not value.is_wholly_known:
        return unknown(BOOL)
    return TRUE


def _call_convert(node: ast.FunctionCallExpr, ctx: EvalContext) -> Value:
    if len(node.args) != 2:
        raise _fail("Error in function call", 'Function "convert" takes a value and a type: convert(value, type).', node.pos)
    target, defaults = _type_expr(node.args[1], allow_defaults=False)
    value = _eval(node.args[0], ctx)
    try:
        return convert(value, target)
    except ConversionError as exc:
        raise _fail(
            "Invalid function argument",
            f'Invalid value for "value" parameter of convert(): {exc.reason}.',
            node.args[0].pos,
        ) from None


# ---------------------------------------------------------------------- type expressions


@dataclass
class TypeDefaults:
    """Defaults from ``optional(T, default)``, applied before conversion.

    ``attributes`` holds default values of this object's optional attributes;
    ``children`` the defaults of nested types, by attribute name, or ``"*"``
    for the elements of a list/set/map, or ``"0"``, ``"1"``... for tuples.
    """

    attributes: dict[str, Value] = field(default_factory=dict)
    children: dict[str, TypeDefaults] = field(default_factory=dict)

    def apply(self, value: Value) -> Value:
        """Fill null/missing optional attributes (recursively); returns a new value."""
        if not value.is_known or value.is_null:
            return value
        t = value.type
        if t.is_mapping:
            items = value.items()
            if isinstance(t, ObjectType) or self.attributes:
                for name, default in self.attributes.items():
                    current = items.get(name)
                    if current is None or (current.is_null and current.is_known):
                        items[name] = default
            for name, child in self.children.items():
                if name == "*":
                    items = {k: child.apply(v) for k, v in items.items()}
                elif name in items:
                    items[name] = child.apply(items[name])
            result = object_value(items) if isinstance(t, ObjectType) else _rebuild_map(items, t)
            return result.with_sensitive(value.sensitive)
        if t.is_sequence and "*" in self.children:
            child = self.children["*"]
            elems = [child.apply(e) for e in value.elements()]
            return tuple_value(elems).with_sensitive(value.sensitive) if isinstance(t, TupleType) else _rebuild_seq(elems, t).with_sensitive(value.sensitive)
        if isinstance(t, TupleType) and self.children:
            elems = value.elements()
            elems = [self.children[str(i)].apply(e) if str(i) in self.children else e for i, e in enumerate(elems)]
            return tuple_value(elems).with_sensitive(value.sensitive)
        return value


def _rebuild_map(items: dict[str, Value], t: Type) -> Value:
    # element types may change once defaults are filled in; conversion later
    # brings them back to the declared type
    return object_value(items)


def _rebuild_seq(elems: list[Value], t: Type) -> Value:
    return tuple_value(elems)


def evaluate_type(expr: ast.Expression) -> tuple[Type, TypeDefaults | None]:
    """A variable's ``type = ...`` constraint; raises :class:`Diagnostics`."""
    try:
        return _type_expr(expr, allow_defaults=True)
    except EvalError as exc:
        raise _to_diagnostics(exc, expr.pos) from None


_PRIMITIVE_KEYWORDS: dict[str, Type] = {"string": STRING, "number": NUMBER, "bool": BOOL, "any": DYNAMIC}


def _type_expr(expr: ast.Expression, allow_defaults: bool, in_object: bool = False) -> tuple[Type, TypeDefaults | None]:
    if isinstance(expr, ast.ParensExpr):
        return _type_expr(expr.inner, allow_defaults, in_object)
    if isinstance(expr, ast.VariableExpr):
        found = _PRIMITIVE_KEYWORDS.get(expr.name)
        if found is not None:
            return found, None
        if expr.name in ("list", "set", "map", "object", "tuple"):
            raise _fail("Invalid type specification", f'The type "{expr.name}" needs an element type, as in {expr.name}(string).', expr.pos)
        raise _fail(
            "Invalid type specification",
            f'"{expr.name}" is not a type; use string, number, bool, any, list(T), set(T), map(T), object({{...}}) or tuple([...]).'
            + _similar(expr.name, list(_PRIMITIVE_KEYWORDS)),
            expr.pos,
        )
    if isinstance(expr, ast.TemplateExpr):
        raise _fail("Invalid type specification", "A type is written without quotes, as in string or list(string).", expr.pos)
    if not isinstance(expr, ast.FunctionCallExpr):
        raise _fail("Invalid type specification", "Expected a type such as string, list(string) or object({...}).", expr.pos)
    name = expr.name
    args = expr.args
    if name in ("list", "set", "map"):
        if len(args) != 1:
            raise _fail("Invalid type specification", f"{name}() takes exactly one element type, as in {name}(string).", expr.pos)
        elem, defaults = _type_expr(args[0], allow_defaults)
        wrapper = {"list": ListType, "set": SetType, "map": MapType}[name](elem)
        return wrapper, (TypeDefaults(children={"*": defaults}) if defaults else None)
    if name == "tuple":
        if len(args) != 1 or not isinstance(args[0], ast.TupleExpr):
            raise _fail("Invalid type specification", "tuple() takes a list of element types, as in tuple([string, number]).", expr.pos)
        types: list[Type] = []
        children: dict[str, TypeDefaults] = {}
        for i, element in enumerate(args[0].items):
            t, d = _type_expr(element, allow_defaults)
            types.append(t)
            if d:
                children[str(i)] = d
        return TupleType(types), (TypeDefaults(children=children) if children else None)
    if name == "object":
        if len(args) != 1 or not isinstance(args[0], ast.ObjectExpr):
            raise _fail("Invalid type specification", "object() takes an object of attribute types, as in object({name = string}).", expr.pos)
        attrs: dict[str, Type] = {}
        optional: set[str] = set()
        defaults = TypeDefaults()
        for item in args[0].items:
            attr_name = item.bare_name
            if attr_name is None:
                key = item.key
                if isinstance(key, ast.TemplateExpr) and all(isinstance(p, ast.TemplateLiteral) for p in key.parts):
                    attr_name = "".join(p.text for p in key.parts)  # type: ignore[attr-defined]
                else:
                    raise _fail("Invalid type specification", "Object type attribute names must be plain names.", item.key.pos)
            value_expr = item.value
            if isinstance(value_expr, ast.FunctionCallExpr) and value_expr.name == "optional":
                if len(value_expr.args) not in (1, 2):
                    raise _fail("Invalid type specification", "optional() takes a type and, in variable types, a default value.", value_expr.pos)
                attr_type, child = _type_expr(value_expr.args[0], allow_defaults)
                optional.add(attr_name)
                if len(value_expr.args) == 2:
                    if not allow_defaults:
                        raise _fail(
                            "Invalid type specification",
                            "Default values for optional attributes are only allowed in variable type constraints.",
                            value_expr.args[1].pos,
                        )
                    default_value = _eval(value_expr.args[1], EvalContext(functions={}))
                    try:
                        default_value = convert(child.apply(default_value) if child else default_value, attr_type)
                    except ConversionError as exc:
                        raise _fail("Invalid default value for optional attribute", f"The default is not a {attr_type.friendly()}: {exc.reason}.", value_expr.args[1].pos) from None
                    defaults.attributes[attr_name] = default_value
            else:
                attr_type, child = _type_expr(value_expr, allow_defaults)
            attrs[attr_name] = attr_type
            if child:
                defaults.children[attr_name] = child
        has_defaults = bool(defaults.attributes or defaults.children)
        return ObjectType(attrs, frozenset(optional)), (defaults if has_defaults else None)
    if name == "optional":
        raise _fail("Invalid type specification", "optional() is only allowed for an attribute inside object({...}).", expr.pos)
    raise _fail(
        "Invalid type specification",
        f'"{name}" is not a type constructor; use list, set, map, object or tuple.{_similar(name, ["list", "set", "map", "object", "tuple"])}',
        expr.pos,
    )


# ---------------------------------------------------------------------- templatefile


def render_template_file(
    path: str,
    variables: Mapping[str, Value],
    functions: Mapping[str, Function],
    base_dir: str = ".",
) -> Value:
    """``templatefile``: render ``path`` as a standalone template with ``variables``.

    Only the given variables are visible; every function except ``templatefile``
    is available. Errors carry the template file's own positions.
    """
    from bakehouse.hcl.limits import MAX_TEMPLATE_BYTES, ReadLimitError, read_regular_file
    from bakehouse.hcl.parser import parse_template

    full = Path(os.path.expanduser(path))
    if not full.is_absolute():
        full = Path(base_dir) / full
    try:
        text = read_regular_file(full, MAX_TEMPLATE_BYTES, "templatefile()").decode("utf-8")
    except ReadLimitError as exc:
        raise EvalError(str(exc)) from None
    except FileNotFoundError:
        raise EvalError(f'no file exists at "{path}"; the path is relative to {base_dir}') from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalError(f'cannot read "{path}": {exc}') from None
    try:
        template = parse_template(text, str(full))
    except Diagnostics as diags:
        first = diags.items[0]
        raise EvalError(first.summary, first.pos, first.detail) from None
    for name in variables:
        if not _is_identifier(name):
            raise EvalError(f'invalid template variable name "{name}": names must start with a letter and contain only letters, digits, "_" and "-"')
    for trav in template.references():
        if trav[0] not in variables:
            raise EvalError(
                "Unknown variable in template",
                _first_reference_pos(template, trav[0]),
                f'The template refers to "{trav[0]}", which is not in the variables given to templatefile().'
                + _similar(trav[0], list(variables)),
            )
    nested = {k: v for k, v in functions.items() if k != "templatefile"}
    ctx = EvalContext(dict(variables), nested, base_dir)
    return _eval(template, ctx)


def _is_identifier(name: str) -> bool:
    return bool(name) and (name[0].isalpha() or name[0] == "_") and all(c.isalnum() or c in "_-" for c in name)


def _first_reference_pos(expr: ast.Expression, root: str) -> SourcePos | None:
    stack: list[ast.Expression] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.VariableExpr) and node.name == root:
            return node.pos
        stack.extend(node.children())
    return None


_DISPATCH: dict[type[ast.Expression], Callable[[Any, EvalContext], Value]] = {
    ast.LiteralExpr: _eval_literal,
    ast.ParensExpr: _eval_parens,
    ast.VariableExpr: _eval_variable,
    ast.SplatAnchor: _eval_anchor,
    ast.GetAttrExpr: _eval_get_attr,
    ast.IndexExpr: _eval_index,
    ast.SplatExpr: _eval_splat,
    ast.UnaryExpr: _eval_unary,
    ast.BinaryExpr: _eval_binary,
    ast.ConditionalExpr: _eval_conditional,
    ast.TupleExpr: _eval_tuple,
    ast.ObjectExpr: _eval_object,
    ast.ForExpr: _eval_for,
    ast.TemplateExpr: _eval_template,
    ast.FunctionCallExpr: _eval_call,
}

# deep expressions recurse; leave Python some room beyond the default
if sys.getrecursionlimit() < 5000:
    sys.setrecursionlimit(5000)
