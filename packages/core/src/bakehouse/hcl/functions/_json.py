"""JSON as cty does it: Go's encoder for output, implied types for input.

Encoding follows Go's ``encoding/json``: object keys sorted, ``<``, ``>``, ``&``,
U+2028 and U+2029 escaped as ``\\u003c``..., numbers as the shortest exact
decimal without exponent. Decoding keeps numbers exact and gives objects and
tuples (cty's implied types).
"""

from __future__ import annotations

import json
from decimal import Decimal

from bakehouse.hcl.function import FunctionError
from bakehouse.hcl.functions._gonum import plain_decimal
from bakehouse.hcl.values import (
    BOOL,
    DYNAMIC,
    NUMBER,
    STRING,
    DecimalContext,
    Value,
    boolean,
    null,
    number,
    object_value,
    string,
    tuple_value,
)

_SHORT_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}
_HTML_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def quote_string(text: str) -> str:
    """A Go ``json.Marshal`` string literal."""
    out = ['"']
    for ch in text:
        if ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif ch in _HTML_ESCAPES:
            out.append(_HTML_ESCAPES[ch])
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}")
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            # A lone surrogate cannot be UTF-8: Go writes the replacement character.
            out.append("\ufffd")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def encode(value: Value) -> str:
    """Serialise a wholly known value; raises FunctionError for infinities."""
    if value.is_null:
        return "null"
    t = value.type
    if t == STRING:
        return quote_string(value.as_str())
    if t == NUMBER:
        d = value.as_number()
        if d.is_infinite():
            raise FunctionError("cannot serialize infinity as JSON")
        return plain_decimal(d)
    if t == BOOL:
        return "true" if value.as_bool() else "false"
    if t.is_sequence:
        return "[" + ",".join(encode(e) for e in value.elements()) + "]"
    if t.is_mapping:
        items = sorted(value.items().items())
        return "{" + ",".join(quote_string(k) + ":" + encode(v) for k, v in items) + "}"
    raise FunctionError(f"cannot serialize a value of type {t.friendly()} as JSON")


def _reject_constant(name: str) -> None:
    raise ValueError(f"invalid JSON literal {name}")


def _pairs(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, val in pairs:
        if key in out:
            raise ValueError(f'duplicate "{key}" property in JSON object')
        out[key] = val
    return out


def _to_value(obj: object) -> Value:
    if obj is None:
        return null(DYNAMIC)
    if isinstance(obj, bool):
        return boolean(obj)
    if isinstance(obj, Decimal):
        return number(obj)
    if isinstance(obj, str):
        return string(obj)
    if isinstance(obj, list):
        return tuple_value(_to_value(x) for x in obj)
    if isinstance(obj, dict):
        return object_value({k: _to_value(v) for k, v in obj.items()})
    raise ValueError(f"unexpected JSON value {obj!r}")


def decode(text: str) -> Value:
    """Parse JSON into a value with cty's implied type."""
    if not text.strip():
        raise FunctionError("invalid JSON: the string is empty")
    try:
        parsed = json.loads(
            text,
            parse_float=DecimalContext.create_decimal,
            parse_int=DecimalContext.create_decimal,
            parse_constant=_reject_constant,
            object_pairs_hook=_pairs,
        )
    except json.JSONDecodeError as exc:
        raise FunctionError(
            f"invalid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise FunctionError(f"invalid JSON: {exc}") from None
    return _to_value(parsed)
