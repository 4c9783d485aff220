"""Small shared helpers for the function library."""

from __future__ import annotations

from collections.abc import Callable

from bakehouse.hcl.function import Function, FunctionContext, FunctionError, Param, ReturnType
from bakehouse.hcl.values import DYNAMIC, Type, Value, unknown

Impl = Callable[[list[Value], FunctionContext], Value]


def define(
    params: list[Param],
    impl: Impl,
    *,
    var_param: Param | None = None,
    returns: ReturnType = DYNAMIC,
    description: str = "",
) -> Function:
    """Build a :class:`Function`; keeps the module tables short.

    As in cty, an unknown argument whose type is not decided yet (``any``)
    makes the result unknown even where the parameter accepts unknown values:
    nothing can be checked about it before the build runs.
    """
    function: Function

    def guarded(args: list[Value], fctx: FunctionContext) -> Value:
        if any(not a.is_known and a.type == DYNAMIC for a in args):
            return unknown(function.result_type(args))
        return impl(args, fctx)

    function = Function(
        params=params,
        impl=guarded,
        var_param=var_param,
        return_type=returns,
        description=description,
    )
    return function


def p(name: str, type_: Type = DYNAMIC, *, null: bool = False, unknown_ok: bool = False) -> Param:
    """Shorthand for :class:`Param`."""
    return Param(name, type_, allow_null=null, allow_unknown=unknown_ok)


def whole_number(value: Value, what: str, arg_index: int | None = None) -> int:
    """The value as a Python int; an error unless it is a whole finite number."""
    d = value.as_number()
    if not d.is_finite() or d != d.to_integral_value():
        raise FunctionError(f"{what} must be a whole number", arg_index)
    return int(d)


def graphemes(text: str) -> list[str]:
    """The grapheme clusters of ``text`` (what HCL counts as characters)."""
    import regex  # loaded on first use: most commands never count graphemes

    clusters: list[str] = regex.findall(r"\X", text)
    return clusters
