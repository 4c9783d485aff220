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
from bakehouse.hcl.evaluator import EvalContext, TypeDefaults, evaluate, evaluate_type
from bakehouse.hcl.function import Function
from bakehouse.hcl.parser import (
    Attribute,
    Block,
    Body,
    Expression,
    parse_expression,
    parse_file,
    parse_text,
)

__all__ = [
    "Attribute", "Block", "Body", "Diagnostics", "EvalContext", "Expression", "Function", "SourcePos",
    "TypeDefaults", "V", "all_functions", "default_value_context", "evaluate", "evaluate_type", "make_context",
    "parse_expression", "parse_file", "parse_text",
]


def all_functions() -> dict[str, Function]:
    """Packer's function library (everything but ``env``)."""
    from bakehouse.hcl.functions import FUNCTIONS

    return {name: fn for name, fn in FUNCTIONS.items() if name != "env"}


def default_value_context(environ: Mapping[str, str], base_dir: str) -> EvalContext:
    """The context of ``variable`` defaults: no variables, only ``env()`` reading ``environ``."""
    from bakehouse.hcl.functions import ENV_FUNCTION

    return EvalContext(variables={}, functions={"env": ENV_FUNCTION}, base_dir=base_dir,
                       extra={"environ": dict(environ)})


def make_context(variables: dict[str, V.Value], functions: Mapping[str, Function], base_dir: str,
                 extra: dict[str, Any] | None = None) -> EvalContext:
    """``extra`` reaches the functions (``FunctionContext.extra``): the data source
    runner for ``aws_secretsmanager``, its cache."""
    return EvalContext(variables=variables, functions=functions, base_dir=base_dir, extra=extra)
