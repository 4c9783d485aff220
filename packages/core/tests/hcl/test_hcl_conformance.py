"""Every entry of the shared conformance file, through parser and evaluator.

An entry with ``"error": true`` must produce Diagnostics with a position (never
a traceback). An entry that calls a function the function library does not
register (yet) is an expected failure; the list of missing functions is
computed from ``FUNCTIONS`` at run time, so entries start passing as
functions land.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from bakehouse.hcl import ast
from bakehouse.hcl.diagnostics import Diagnostics
from bakehouse.hcl.evaluator import SPECIAL_FUNCTIONS, EvalContext, evaluate
from bakehouse.hcl.parser import parse_expression
from bakehouse.hcl.values import NUMBER, Value, format_number

# The project's copy of the shared conformance vectors.
CONFORMANCE = Path(__file__).resolve().parent / "data" / "hcl_expressions.json"

ENTRIES: list[dict[str, Any]] = json.loads(CONFORMANCE.read_text(encoding="utf-8"), parse_float=Decimal)


def _functions() -> dict[str, Any]:
    try:
        from bakehouse.hcl.functions import FUNCTIONS
    except ImportError:
        return {}
    return dict(FUNCTIONS)


def _called_functions(expr: ast.Expression) -> set[str]:
    names: set[str] = set()
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionCallExpr):
            names.add(node.name)
            if node.name == "convert":
                # the second argument is a type expression, not function calls
                stack.extend(node.args[:1])
                continue
        stack.extend(node.children())
    return names


def _missing_functions(text: str) -> list[str]:
    try:
        expr = parse_expression(text)
    except Diagnostics:
        return []
    available = _functions()
    return sorted(n for n in _called_functions(expr) if n not in available and n not in SPECIAL_FUNCTIONS)


def _plain(value: Value) -> Any:
    """Value -> JSON-like data for comparison: exact numbers, sets sorted."""
    assert value.is_known, f"result is unknown: {value!r}"
    if value.is_null:
        return None
    t = value.type
    if t == NUMBER:
        return Decimal(format_number(value.as_number())) if value.as_number().is_finite() else value.as_number()
    if t.is_sequence:
        items = [_plain(v) for v in value.elements()]
        if t.__class__.__name__ == "SetType":
            items.sort(key=lambda x: json.dumps(x, default=str, sort_keys=True))
        return items
    if t.is_mapping:
        return {k: _plain(v) for k, v in value.items().items()}
    return value.raw


def _expected(data: Any, like: Any) -> Any:
    if isinstance(data, bool) or data is None or isinstance(data, str):
        return data
    if isinstance(data, (int, Decimal)):
        return Decimal(data)
    if isinstance(data, list):
        items = [_expected(x, None) for x in data]
        if isinstance(like, list) and like == sorted(like, key=lambda x: json.dumps(x, default=str, sort_keys=True)):
            pass
        return items
    if isinstance(data, dict):
        return {k: _expected(v, None) for k, v in data.items()}
    return data


def _id(entry: dict[str, Any]) -> str:
    return f"{entry.get('group', '?')}:{entry['expr'][:60]}"


@pytest.mark.parametrize("entry", ENTRIES, ids=[_id(e) for e in ENTRIES])
def test_conformance_entry(entry: dict[str, Any]) -> None:
    text = entry["expr"]
    # An error entry must fail whether or not its function exists (Packer has
    # no "tolist", for example), so only value entries are ever expected failures.
    missing = [] if entry.get("error") else _missing_functions(text)
    if missing:
        pytest.xfail("function not implemented: " + ", ".join(missing))
    try:
        expr = parse_expression(text, "<conformance>")
        value = evaluate(expr, EvalContext(base_dir=str(Path(__file__).parent)))
    except Diagnostics as diags:
        assert entry.get("error"), f"unexpected error for {text!r}:\n{diags}"
        assert diags.items and all(d.pos is not None for d in diags.items)
        return
    assert not entry.get("error"), f"{text!r} should fail but gave {value!r}"
    got = _plain(value)
    expected = _expected(entry["expect"], got)
    if isinstance(got, list) and value.type.__class__.__name__ == "SetType":
        expected = sorted(expected, key=lambda x: json.dumps(x, default=str, sort_keys=True))
    assert got == expected, f"{text!r}: got {got!r}, expected {expected!r}"


def test_conformance_file_is_present() -> None:
    assert len(ENTRIES) > 300
