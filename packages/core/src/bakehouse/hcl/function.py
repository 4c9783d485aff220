"""The calling convention between the evaluator and the function library.

A function declares its parameters with types; the evaluator (not the
function) does what HCL does before every call:

1. arity check (``params`` fixed, then ``var_param`` repeated);
2. each argument converted to its parameter type (``convert``), so ``upper(1)``
   receives the string ``"1"``;
3. null arguments rejected unless ``allow_null``;
4. if any argument is unknown and its parameter has not ``allow_unknown``, the
   call is not made and the result is ``unknown(return_type)``;
5. if any argument is (or contains) a sensitive value, the result is marked
   sensitive.

``impl(args, fctx)`` then gets the converted values (fixed params first, then
the variadic ones) and returns a :class:`Value`; it raises :class:`FunctionError`
(or any :class:`EvalError`) for a bad argument; the evaluator turns that into a
diagnostic at the call's position.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from bakehouse.hcl.values import DYNAMIC, EvalError, Type, Value

__all__ = ["Function", "FunctionContext", "FunctionError", "Param", "TemplateRenderer"]


class FunctionError(EvalError):
    """A function rejected its arguments. ``arg_index`` points at the culprit."""

    def __init__(self, message: str, arg_index: int | None = None) -> None:
        super().__init__(message)
        self.arg_index = arg_index


@dataclass(frozen=True)
class Param:
    """One parameter: the evaluator converts the argument to ``type`` first."""

    name: str
    type: Type = DYNAMIC
    allow_null: bool = False
    allow_unknown: bool = False


class TemplateRenderer(Protocol):
    def __call__(self, path: str, variables: Mapping[str, Value]) -> Value: ...


@dataclass
class FunctionContext:
    """What a function may know about the place it is called from.

    ``base_dir`` is Packer's ``path.root`` (relative file paths resolve against
    it). ``render_template(path, vars)`` parses ``path`` (relative to ``base_dir``)
    as a standalone template and renders it with only ``vars`` as variables and
    the same functions, except ``templatefile`` itself; it raises
    :class:`EvalError` on a problem. ``extra`` is free for hooks (clock, ...).
    """

    base_dir: str = "."
    render_template: TemplateRenderer | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# a function's result type may depend on its (converted) arguments
ReturnType = Type | Callable[[list[Value]], Type]


@dataclass(frozen=True)
class Function:
    """An HCL function. See the module docstring for the calling convention."""

    params: list[Param]
    impl: Callable[[list[Value], FunctionContext], Value]
    var_param: Param | None = None
    return_type: ReturnType = DYNAMIC
    description: str = ""

    def result_type(self, args: list[Value]) -> Type:
        """The declared result type for these arguments (used for unknown results)."""
        if callable(self.return_type) and not isinstance(self.return_type, Type):
            try:
                return self.return_type(args)
            except EvalError:
                return DYNAMIC
        return self.return_type
