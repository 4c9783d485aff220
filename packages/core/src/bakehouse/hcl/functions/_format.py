"""cty's ``format`` verb engine (Go printf subset) over HCL values.

Verbs: ``%v %#v %t %b %d %o %x %X %e %E %f %g %G %s %q`` and ``%%``; flags
``space + - 0 #``; width and precision (``.N``); explicit argument index
``%[n]v``. Widths and string precisions count grapheme clusters.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bakehouse.hcl.function import FunctionError
from bakehouse.hcl.functions import _json
from bakehouse.hcl.functions._gonum import NumberSpec, format_float, format_integer, shortest_g
from bakehouse.hcl.functions._util import graphemes
from bakehouse.hcl.values import BOOL, NUMBER, STRING, ConversionError, Value, convert

if TYPE_CHECKING:
    import regex


@functools.cache
def _verb() -> regex.Pattern[str]:
    import regex  # loaded when a template formats, not at start-up

    return regex.compile(
        r"%([0#\-+ ]*)(?:\[([1-9][0-9]*)\])?([1-9][0-9]*|\*)?(\.(?:[0-9]*|\*))?([A-Za-z])?"
    )


@dataclass
class _Verb:
    raw: str
    offset: int
    arg: int
    mode: str
    zero: bool
    sharp: bool
    plus: bool
    minus: bool
    space: bool
    width: int
    prec: int


def _pad(verb: _Verb, text: str) -> str:
    if verb.width < 0:
        return text
    have = len(graphemes(text))
    if have >= verb.width:
        return text
    fill = ("0" if verb.zero else " ") * (verb.width - have)
    return text + fill if verb.minus else fill + text


def _convert(value: Value, target: object, verb: _Verb) -> Value:
    try:
        return convert(value, target)  # type: ignore[arg-type]
    except ConversionError as exc:
        raise FunctionError(
            f"unsupported value for {verb.raw!r} at {verb.offset}: {exc.message}"
        ) from None


def _append(verb: _Verb, args: list[Value]) -> str:
    index = verb.arg - 1
    if index >= len(args):
        raise FunctionError(
            f"not enough arguments for {verb.raw!r} at {verb.offset}: need index {verb.arg} but have {len(args)} total"
        )
    arg = args[index]
    if verb.mode != "v" and arg.is_null:
        raise FunctionError(
            f"unsupported value for {verb.raw!r} at {verb.offset}: null value cannot be formatted"
        )
    mode = verb.mode
    if mode == "v":
        if not verb.sharp and not arg.is_null:
            if arg.type == STRING:
                return _pad(verb, arg.as_str())
            if arg.type == NUMBER:
                return _pad(verb, shortest_g(arg.as_number()))
        return _pad(verb, _json.encode(arg))
    if mode == "t":
        return "true" if _convert(arg, BOOL, verb).as_bool() else "false"
    if mode in "bdoxXeEfgG":
        value = _convert(arg, NUMBER, verb).as_number()
        spec = NumberSpec(
            mode, verb.plus, verb.minus, verb.space, verb.zero, verb.sharp, verb.width, verb.prec
        )
        if mode in "bdoxX":
            if not value.is_finite() or value != value.to_integral_value():
                raise FunctionError(
                    f"unsupported value for {verb.raw!r} at {verb.offset}: an integer is required"
                )
            return format_integer(int(value), spec)
        return format_float(value, spec)
    if mode in "sq":
        text = _convert(arg, STRING, verb).as_str()
        if verb.prec > 0:
            text = "".join(graphemes(text)[: verb.prec])
        if mode == "q":
            text = _json.quote_string(text)
        return _pad(verb, text)
    raise FunctionError(f"unsupported format verb {mode!r} in {verb.raw!r} at offset {verb.offset}")


def format_values(fmt: str, args: list[Value]) -> str:
    """Render ``fmt`` with ``args`` (wholly known values) as cty's ``format``."""
    out: list[str] = []
    next_arg = 1
    i = 0
    n = len(fmt)
    while i < n:
        ch = fmt[i]
        if ch != "%":
            j = fmt.find("%", i)
            j = n if j < 0 else j
            out.append(fmt[i:j])
            i = j
            continue
        if fmt.startswith("%%", i):
            out.append("%")
            i += 2
            continue
        match = _verb().match(fmt, i)
        assert match is not None
        flags, argnum, width, prec, mode = match.groups()
        if mode is None:
            if match.end() >= n:
                raise FunctionError(f"invalid format string starting at offset {i}")
            raise FunctionError(
                f"unrecognized format character {fmt[match.end()]!r} at offset {match.end()}"
            )
        if width == "*" or (prec is not None and "*" in prec):
            raise FunctionError(
                f"unsupported width or precision from argument in {match.group(0)!r} at offset {i}"
            )
        for part in (width, prec):
            if part and len(part.strip(".")) > 6:
                raise FunctionError(
                    f"width or precision too large in {match.group(0)!r} at offset {i}"
                )
        verb = _Verb(
            raw=match.group(0),
            offset=i,
            arg=int(argnum) if argnum else next_arg,
            mode=mode,
            zero="0" in flags,
            sharp="#" in flags,
            plus="+" in flags,
            minus="-" in flags,
            space=" " in flags,
            width=int(width) if width else -1,
            prec=(int(prec[1:]) if prec[1:] else 0) if prec is not None else -1,
        )
        out.append(_append(verb, args))
        next_arg = verb.arg + 1
        i = match.end()
    return "".join(out)
