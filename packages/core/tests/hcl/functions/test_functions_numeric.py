"""Numeric functions, called with HCL values."""

from __future__ import annotations

from decimal import Decimal

import pytest
from fnsupport import error_of


@pytest.mark.parametrize(
    ("name", "args", "want"),
    [
        ("abs", [-12.5], "12.5"),
        ("ceil", [-1.8], "-1"),
        ("ceil", [1.2], "2"),
        ("floor", [-1.8], "-2"),
        ("floor", [1.2], "1"),
        ("log", [16, 2], "4"),
        ("log", [8, 2], "3"),
        ("pow", [2, -2], "0.25"),
        ("pow", [2, 0.5], "1.4142135623730951"),
        ("signum", [-3.5], "-1"),
        ("signum", [0], "0"),
        ("max", [12, 54, 3], "54"),
        ("min", ["3", 2], "2"),
        ("parseint", ["100", 10], "100"),
        ("parseint", ["-ff", 16], "-255"),
        ("parseint", ["FF00", 16], "65280"),
        ("parseint", ["aA", 62], "656"),
        ("parseint", ["1" * 40, 2], str(2**40 - 1)),
        ("parseint", ["12345678901234567890123", 10], "12345678901234567890123"),
    ],
)
def test_numeric_results(call, name: str, args: list[object], want: str) -> None:
    assert call(name, *args).as_number() == Decimal(want)


def test_infinities(call) -> None:
    assert call("log", 0, 10).as_number() == Decimal("-Infinity")
    assert call("pow", 0, -1).as_number() == Decimal("Infinity")
    assert "NaN" in error_of(call, "log", -1, 10)


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["1.2", 10], "cannot parse"),
        (["", 10], "cannot parse"),
        (["12", 1], "between 2 and 62"),
        (["zz", 10], "cannot parse"),
        ([2, 10], "must be a string"),
    ],
)
def test_parseint_errors(call, args: list[object], reason: str) -> None:
    assert reason in error_of(call, "parseint", *args)


def test_max_min_need_an_argument(call) -> None:
    assert "at least one argument" in error_of(call, "max")
    assert "at least one argument" in error_of(call, "min")


@pytest.mark.parametrize(
    "expr",
    ["jsonencode(1/3)", "jsonencode(abs(-1/3))", "jsonencode(sum([1/3, 0]))", 'format("%v", 1/3)',
     "jsonencode(max(1/3, 0))"],
)
def test_results_keep_hcl_precision_not_pythons_default_28_digits(ev, expr: str) -> None:
    """cty keeps ~154 significant digits; Python's default decimal context keeps 28.
    Any function that formats or combines numbers must not fall back to it."""
    text = ev(expr).as_str()
    assert text.startswith("0.3333") and text.count("3") >= 150, text
