"""The few names the template loader needs from :mod:`bakehouse.hcl`, in one place.

Keeping them here means the loader depends on a small surface: parsing a file,
a var file or a command-line value, evaluating an expression in a context, and
turning a type constraint expression into a type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bakehouse.hcl import values as V
from bakehouse.hcl.diagnostics import Diagnostics, SourcePos
from bakehouse.hcl.evaluator import EvalContext, evaluate, evaluate_type
from bakehouse.hcl.parser import Attribute, Block, Body, Expression, parse_expression, parse_file, parse_text

__all__ = [
    "Attribute", "Block", "Body", "Diagnostics", "EvalContext", "Expression", "SourcePos", "V",
    "all_functions", "env_function", "evaluate", "evaluate_type", "make_context",
    "parse_expression", "parse_file", "parse_text",
]


def all_functions() -> dict[str, Any]:
    """Packer's function library (everything but ``env``)."""
    try:
        from bakehouse.hcl.functions import FUNCTIONS
    except ImportError:  # the function library lands separately; expressions still work
        return {}
    return {name: fn for name, fn in FUNCTIONS.items() if name != "env"}


def env_function(environ: Mapping[str, str]) -> Any:
    """``env(name)`` reading ``environ``; only variable defaults get it."""
    from bakehouse.hcl import functions as library
    from bakehouse.hcl.function import Function, Param

    maker = getattr(library, "make_env_function", None)
    if maker is not None:
        return maker(environ)

    def impl(args: list[V.Value], _fctx: Any) -> V.Value:
        return V.string(environ.get(args[0].as_str(), ""))

    return Function(params=[Param("name", V.STRING)], impl=impl, return_type=V.STRING,
                    description="The value of an environment variable, or an empty string.")


def make_context(variables: dict[str, V.Value], functions: dict[str, Any], base_dir: str) -> EvalContext:
    return EvalContext(variables=variables, functions=functions, base_dir=base_dir)
