"""Go-compatible rendering of numbers for ``format`` and friends.

cty numbers are arbitrary-precision; ``format`` hands them to Go's
``fmt`` with ``%e %f %g`` (``big.Float``) or ``%b %d %o %x %X`` (``big.Int``).
We hold numbers as :class:`decimal.Decimal`, whose decimal expansion is
exact, so the digit strings below follow Go's decimal conversion rules
(round half to even on the exact expansion, shortest form when no
precision is given).
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from decimal import Decimal

_CTX = decimal.Context(prec=1000, rounding=decimal.ROUND_HALF_EVEN)


@dataclass
class NumberSpec:
    """The parts of a printf verb that matter for numbers."""

    verb: str
    plus: bool = False
    minus: bool = False
    space: bool = False
    zero: bool = False
    sharp: bool = False
    width: int = -1
    prec: int = -1


def _digits(value: Decimal) -> tuple[str, int]:
    """Digits without trailing zeros and exponent so that value = 0.DIGITS * 10**exp."""
    if value.is_zero():
        return "", 0
    sign, digits, exponent = value.copy_abs().normalize(_CTX).as_tuple()
    text = "".join(str(d) for d in digits).rstrip("0")
    assert isinstance(exponent, int)
    return text, len(digits) + exponent


def _round(mant: str, exp: int, n: int) -> tuple[str, int]:
    """Round the digit string to n significant digits (half to even)."""
    if n < 0 or n >= len(mant):
        return mant, exp
    if n == 0:
        # Rounding away every digit: Go compares against one half.
        first = mant[0]
        up = first > "5" or (first == "5" and len(mant) > 1)
        return ("1", exp + 1) if up else ("", exp)
    keep = mant[:n]
    rest = mant[n:]
    up = rest[0] > "5" or (rest[0] == "5" and (len(rest) > 1 or int(keep[-1]) % 2 == 1))
    if up:
        number = str(int(keep) + 1)
        if len(number) > len(keep):
            exp += 1
        keep = number
    keep = keep.rstrip("0")
    return keep, exp


def _fmt_e(mant: str, exp: int, prec: int, upper: bool) -> str:
    first = mant[0] if mant else "0"
    out = first
    if prec > 0:
        frac = mant[1 : prec + 1]
        out += "." + frac + "0" * (prec - len(frac))
    e = exp - 1 if mant else 0
    sign = "-" if e < 0 else "+"
    e = abs(e)
    out += ("E" if upper else "e") + sign + (f"{e:02d}")
    return out


def _fmt_f(mant: str, exp: int, prec: int) -> str:
    if exp > 0:
        whole = mant[:exp] + "0" * max(exp - len(mant), 0)
    else:
        whole = "0"
    out = whole
    if prec > 0:
        frac = []
        for i in range(prec):
            index = exp + i
            frac.append(mant[index] if 0 <= index < len(mant) else "0")
        out += "." + "".join(frac)
    return out


def float_text(value: Decimal, verb: str, prec: int) -> str:
    """``big.Float.Text(verb, prec)`` for the magnitude of a finite value (no sign)."""
    mant, exp = _digits(value)
    shortest = prec < 0
    if verb in "eE":
        if shortest:
            prec = max(len(mant) - 1, 0)
        else:
            mant, exp = _round(mant, exp, prec + 1)
        return _fmt_e(mant, exp, prec, verb == "E")
    if verb == "f":
        if shortest:
            prec = max(len(mant) - exp, 0)
        else:
            mant, exp = _round(mant, exp, exp + prec)
        return _fmt_f(mant, exp, prec)
    # 'g' / 'G'
    if shortest:
        prec = len(mant)
    else:
        if prec == 0:
            prec = 1
        mant, exp = _round(mant, exp, prec)
    eprec = prec
    if eprec > len(mant) and len(mant) >= exp:
        eprec = len(mant)
    if shortest:
        eprec = 6
    e = exp - 1
    if e < -4 or e >= eprec:
        if prec > len(mant):
            prec = len(mant)
        return _fmt_e(mant, exp, prec - 1, verb == "G")
    if prec > exp:
        prec = len(mant)
    return _fmt_f(mant, exp, max(prec - exp, 0))


def _pad(sign: str, body: str, spec: NumberSpec, allow_zero: bool = True) -> str:
    total = len(sign) + len(body)
    if spec.width < 0 or total >= spec.width:
        return sign + body
    fill = spec.width - total
    if spec.minus:
        return sign + body + " " * fill
    if spec.zero and allow_zero:
        return sign + "0" * fill + body
    return " " * fill + sign + body


def _sign(negative: bool, spec: NumberSpec) -> str:
    if negative:
        return "-"
    if spec.plus:
        return "+"
    if spec.space:
        return " "
    return ""


def format_float(value: Decimal, spec: NumberSpec) -> str:
    """Go ``fmt.Sprintf("%<flags><width>.<prec><verb>", *big.Float)``."""
    verb = spec.verb
    prec = spec.prec
    if prec < 0 and verb in "eEf":
        prec = 6
    negative = value.is_signed() and not value.is_nan()
    if value.is_infinite():
        body = "Inf"
        sign = "-" if negative else ("+" if spec.plus else (" " if spec.space else ""))
        return _pad(sign, body, spec, allow_zero=False)
    body = float_text(value.copy_abs(), "f" if verb == "F" else verb, prec)
    return _pad(_sign(negative, spec), body, spec)


_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def int_to_base(n: int, base: int, upper: bool = False) -> str:
    """Digits of a non-negative integer in ``base`` (2..36)."""
    if n == 0:
        return "0"
    out = []
    while n:
        n, r = divmod(n, base)
        out.append(_DIGITS[r])
    text = "".join(reversed(out))
    return text.upper() if upper else text


def format_integer(value: int, spec: NumberSpec) -> str:
    """Go ``fmt.Sprintf`` of a ``*big.Int`` with verbs b d o x X."""
    base = {"b": 2, "d": 10, "o": 8, "x": 16, "X": 16}[spec.verb]
    negative = value < 0
    digits = int_to_base(abs(value), base, spec.verb == "X")
    if spec.prec >= 0:
        if spec.prec == 0 and value == 0:
            digits = ""
        elif len(digits) < spec.prec:
            digits = "0" * (spec.prec - len(digits)) + digits
    prefix = ""
    if spec.sharp:
        prefix = {"b": "0b", "o": "0", "x": "0x", "X": "0X"}.get(spec.verb, "")
        if spec.verb == "o" and digits.startswith("0"):
            prefix = ""
    sign = _sign(negative, spec)
    # Go pads with zeros only when no precision is given.
    zero_ok = spec.prec < 0
    total = len(sign) + len(prefix) + len(digits)
    if spec.width < 0 or total >= spec.width:
        return sign + prefix + digits
    fill = spec.width - total
    if spec.minus:
        return sign + prefix + digits + " " * fill
    if spec.zero and zero_ok:
        return sign + prefix + "0" * fill + digits
    return " " * fill + sign + prefix + digits


def shortest_g(value: Decimal) -> str:
    """``big.Float.Text('g', -1)``, used by ``%v`` for numbers."""
    if value.is_infinite():
        return "-Inf" if value < 0 else "+Inf"
    text = float_text(value.copy_abs(), "g", -1)
    return "-" + text if value < 0 else text


def plain_decimal(value: Decimal) -> str:
    """Shortest exact decimal without exponent (``big.Float.Text('f', -1)``)."""
    if value.is_zero():
        return "0"
    text = float_text(value.copy_abs(), "f", -1)
    return "-" + text if value < 0 else text
