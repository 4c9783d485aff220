"""Numeric functions. Exact decimals where cty is exact; float64 where cty uses Go's math."""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from bakehouse.hcl.function import Function, FunctionContext, FunctionError
from bakehouse.hcl.functions._util import define, p, whole_number
from bakehouse.hcl.values import DYNAMIC, NUMBER, STRING, Value, number

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _float_result(value: float) -> Value:
    if math.isnan(value):
        raise FunctionError("the result is not a number (NaN)")
    if math.isinf(value):
        return number(Decimal("Infinity") if value > 0 else Decimal("-Infinity"))
    return number(value)


def _abs(args: list[Value], fctx: FunctionContext) -> Value:
    return number(args[0].as_number().copy_abs())


def _ceil(args: list[Value], fctx: FunctionContext) -> Value:
    d = args[0].as_number()
    return number(d if d.is_infinite() else d.to_integral_value(rounding=ROUND_CEILING))


def _floor(args: list[Value], fctx: FunctionContext) -> Value:
    d = args[0].as_number()
    return number(d if d.is_infinite() else d.to_integral_value(rounding=ROUND_FLOOR))


def _to_float(d: Decimal) -> float:
    return float(d)


def _log(args: list[Value], fctx: FunctionContext) -> Value:
    num, base = _to_float(args[0].as_number()), _to_float(args[1].as_number())

    def ln(x: float) -> float:
        if x == 0:
            return -math.inf
        if x < 0:
            return math.nan
        if math.isinf(x):
            return math.inf
        return math.log(x)

    a, b = ln(num), ln(base)
    try:
        return _float_result(a / b)
    except ZeroDivisionError:
        if a == 0:
            raise FunctionError("the result is not a number (NaN)") from None
        return _float_result(math.copysign(math.inf, a))


def _pow(args: list[Value], fctx: FunctionContext) -> Value:
    base, exponent = _to_float(args[0].as_number()), _to_float(args[1].as_number())
    try:
        result = math.pow(base, exponent)
    except OverflowError:
        result = math.inf
    except ValueError:
        if base == 0 and exponent < 0:
            result = math.inf
        else:
            raise FunctionError("the result is not a number (NaN)") from None
    return _float_result(result)


def _signum(args: list[Value], fctx: FunctionContext) -> Value:
    d = args[0].as_number()
    return number(0 if d == 0 else (1 if d > 0 else -1))


def _max(args: list[Value], fctx: FunctionContext) -> Value:
    if not args:
        raise FunctionError("must provide at least one argument")
    return number(max(a.as_number() for a in args))


def _min(args: list[Value], fctx: FunctionContext) -> Value:
    if not args:
        raise FunctionError("must provide at least one argument")
    return number(min(a.as_number() for a in args))


def _parseint(args: list[Value], fctx: FunctionContext) -> Value:
    text_value, base_value = args
    if text_value.type != STRING:
        raise FunctionError("first argument must be a string, not " + text_value.type.friendly(), 0)
    if not text_value.is_known:
        from bakehouse.hcl.values import unknown

        return unknown(NUMBER)
    text = text_value.as_str()
    base = whole_number(base_value, "base", 1)
    if base < 2 or base > 62:
        raise FunctionError("base must be a whole number between 2 and 62 inclusive", 1)
    body = text
    negative = False
    if body[:1] in "+-" and body:
        negative = body[0] == "-"
        body = body[1:]
    if not body:
        raise FunctionError(f"cannot parse {text!r} as a base {base} integer", 0)
    total = 0
    for ch in body:
        if base <= 36:
            digit = _DIGITS.find(ch.lower()) if ch.isascii() else -1
        else:
            digit = _DIGITS.find(ch) if ch.isascii() else -1
        if digit < 0 or digit >= base:
            raise FunctionError(f"cannot parse {text!r} as a base {base} integer", 0)
        total = total * base + digit
    return number(-total if negative else total)


N = NUMBER
FUNCTIONS: dict[str, Function] = {
    "abs": define([p("num", N)], _abs, returns=N),
    "ceil": define([p("num", N)], _ceil, returns=N),
    "floor": define([p("num", N)], _floor, returns=N),
    "log": define([p("num", N), p("base", N)], _log, returns=N),
    "max": define([], _max, var_param=p("numbers", N), returns=N),
    "min": define([], _min, var_param=p("numbers", N), returns=N),
    "parseint": define([p("number", DYNAMIC, unknown_ok=True), p("base", N)], _parseint, returns=N),
    "pow": define([p("num", N), p("power", N)], _pow, returns=N),
    "signum": define([p("num", N)], _signum, returns=N),
}
