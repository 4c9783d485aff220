"""The function entries of shared/conformance/hcl_expressions.json, per function,
through the parser and the evaluator with the whole library."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from bakehouse.hcl.values import BOOL, NUMBER, STRING, SetType, Value
from fnsupport import error_of

# The project's copy of the shared conformance vectors.
CONFORMANCE = Path(__file__).resolve().parents[1] / "data" / "hcl_expressions.json"

# Groups that test expression syntax rather than a library function.
SYNTAX_GROUPS = {
    "op-arith", "op-cmp", "op-eq", "op-logic", "op-unary", "op-cond", "template", "directive",
    "for", "splat", "literal", "call", "try", "can", "convert",
}  # fmt: skip


def _entries() -> list[Any]:
    data = json.loads(CONFORMANCE.read_text(encoding="utf-8"))
    return [
        pytest.param(e, id=f"{e['group']}:{e['expr'][:60]}")
        for e in data
        if e["group"] not in SYNTAX_GROUPS
        and not (e["group"] == "index" and not e["expr"].startswith("index("))
    ]


def plain(value: Value) -> Any:
    """Value -> JSON-like data; numbers as Decimal, sets sorted (as the file compares them)."""
    assert value.is_known, "result is unknown"
    if value.is_null:
        return None
    t = value.type
    if t == NUMBER:
        return value.as_number()
    if t in (STRING, BOOL):
        return value.raw
    if t.is_sequence:
        out = [plain(e) for e in value.elements()]
        return (
            sorted(out, key=lambda x: json.dumps(x, default=str)) if isinstance(t, SetType) else out
        )
    return {k: plain(v) for k, v in value.items().items()}


def expected(data: Any) -> Any:
    if isinstance(data, bool) or data is None or isinstance(data, str):
        return data
    if isinstance(data, (int, float)):
        return Decimal(repr(data)) if isinstance(data, float) else Decimal(data)
    if isinstance(data, list):
        return [expected(x) for x in data]
    return {k: expected(v) for k, v in data.items()}


def test_conformance_file_is_present() -> None:
    assert CONFORMANCE.exists(), f"missing {CONFORMANCE}"
    assert len(_entries()) > 200


@pytest.mark.parametrize("entry", _entries())
def test_function_conformance(entry: dict[str, Any], ev) -> None:
    if entry.get("error"):
        error_of(ev, entry["expr"])
    else:
        assert plain(ev(entry["expr"])) == expected(entry["expect"])
