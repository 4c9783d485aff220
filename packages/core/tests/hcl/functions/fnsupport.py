"""Helpers for the function-library tests (imported by name; conftest.py
only turns them into fixtures).

``call(name, *args)`` calls a library function with HCL values (plain Python
arguments go through ``from_python``) using the evaluator's calling
convention: arity, conversion to parameter types, null/unknown rules.
``ev(text)`` evaluates an HCL expression with the whole library.
Both raise :class:`EvalError`; ``error_of`` checks an error is a clean one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from bakehouse.hcl.diagnostics import Diagnostics, SourcePos
from bakehouse.hcl.evaluator import EvalContext, call_function, evaluate
from bakehouse.hcl.function import FunctionContext
from bakehouse.hcl.functions import FUNCTIONS
from bakehouse.hcl.parser import parse_expression
from bakehouse.hcl.values import EvalError, Value, from_python

HERE = SourcePos("<test>", 1, 1)


def _call(
    name: str, *args: Any, fctx: FunctionContext | None = None, functions: dict | None = None
) -> Value:
    table = functions if functions is not None else FUNCTIONS
    values = [from_python(a) for a in args]
    return call_function(
        name, table[name], values, [HERE] * len(values), HERE, fctx or FunctionContext()
    )


@pytest.fixture
def call() -> Callable[..., Value]:
    return _call


def _ev(text: str, base_dir: str | Path = ".", extra: dict | None = None) -> Value:
    try:
        return evaluate(
            parse_expression(text), EvalContext(base_dir=str(base_dir), extra=extra or {})
        )
    except Diagnostics as diags:
        raise EvalError("; ".join(f"{d.summary}: {d.detail}" for d in diags.items)) from None


@pytest.fixture
def ev() -> Callable[..., Value]:
    return _ev


def error_of(fn: Callable[..., Value], *args: Any, **kwargs: Any) -> str:
    """The message of the clean error ``fn(*args)`` raises (fails on a defect)."""
    with pytest.raises(EvalError) as excinfo:
        fn(*args, **kwargs)
    message = f"{excinfo.value} {getattr(excinfo.value, 'detail', '')}"
    assert "unexpectedly" not in message, message
    return message
