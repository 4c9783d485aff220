"""Go ``time`` behaviour the date/time functions need.

* :func:`parse_rfc3339` — Go's ``time.Parse(time.RFC3339, s)`` (strict, with
  optional fractional seconds and, for ``rfc3339_parse``, a space separator);
* :func:`format_rfc3339` — ``t.Format(time.RFC3339)`` (``Z`` for a zero offset);
* :func:`parse_duration` — ``time.ParseDuration`` in nanoseconds;
* :func:`format_date` — cty's ``formatdate`` mini-language;
* :func:`format_go_layout` — ``t.Format(layout)`` with Go's reference-time layout.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

MONTHS = [
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
]  # fmt: skip
# Go's Weekday numbering: Sunday = 0.
WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]


class TimeError(ValueError):
    """A timestamp, duration or format that Go would reject."""


@dataclass(frozen=True)
class GoTime:
    """A wall-clock time with its UTC offset and nanoseconds, as Go's time.Time."""

    when: datetime  # aware, microsecond part zero; nanos carry the fraction
    nanos: int = 0

    @property
    def go_weekday(self) -> int:
        return (self.when.weekday() + 1) % 7

    @property
    def unix(self) -> int:
        return calendar.timegm(self.when.utctimetuple())

    def add_nanos(self, delta: int) -> GoTime:
        total = self.nanos + delta
        seconds, nanos = divmod(total, 1_000_000_000)
        return GoTime(self.when + timedelta(seconds=seconds), nanos)


_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})([T ])(\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?(Z|[+-]\d{2}:\d{2})\Z"
)


def parse_rfc3339(text: str, *, allow_space: bool = False) -> GoTime:
    """Parse an RFC 3339 timestamp the way Go does; errors name the bad part."""
    match = _RFC3339.match(text)
    if match is None or (match.group(4) == " " and not allow_space):
        if re.match(r"\d{4}-\d{2}-\d{2}\Z", text):
            raise TimeError("not a valid RFC3339 timestamp: missing required time introducer 'T'")
        raise TimeError(f"not a valid RFC3339 timestamp: cannot parse {text!r}")
    year, month, day = int(match.group(1)), int(match.group(2)), int(match.group(3))
    hour, minute, second = int(match.group(5)), int(match.group(6)), int(match.group(7))
    if not 1 <= month <= 12:
        raise TimeError("not a valid RFC3339 timestamp: month out of range")
    if not 1 <= day <= calendar.monthrange(year, month)[1] if year >= 1 else day > 31:
        raise TimeError("not a valid RFC3339 timestamp: day out of range")
    if hour > 23:
        raise TimeError("not a valid RFC3339 timestamp: hour out of range")
    if minute > 59:
        raise TimeError("not a valid RFC3339 timestamp: minute out of range")
    if second > 59:
        raise TimeError("not a valid RFC3339 timestamp: second out of range")
    frac = match.group(8) or ""
    nanos = int((frac + "000000000")[:9]) if frac else 0
    zone = match.group(9)
    if zone == "Z":
        tz = UTC
    else:
        zh, zm = int(zone[1:3]), int(zone[4:6])
        if zh > 23 or zm > 59:
            raise TimeError("not a valid RFC3339 timestamp: UTC offset out of range")
        offset = timedelta(hours=zh, minutes=zm)
        tz = timezone(-offset if zone[0] == "-" else offset)
    try:
        when = datetime(max(year, 1), month, day, hour, minute, second, tzinfo=tz)
    except ValueError as exc:
        raise TimeError(f"not a valid RFC3339 timestamp: {exc}") from None
    return GoTime(when, nanos)


def _offset_seconds(t: GoTime) -> int:
    offset = t.when.utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def _zone(t: GoTime, colon: bool, z_for_utc: bool) -> str:
    seconds = _offset_seconds(t)
    if seconds == 0 and z_for_utc:
        return "Z"
    sign = "-" if seconds < 0 else "+"
    seconds = abs(seconds)
    hh, mm = seconds // 3600, (seconds % 3600) // 60
    return f"{sign}{hh:02d}:{mm:02d}" if colon else f"{sign}{hh:02d}{mm:02d}"


def format_rfc3339(t: GoTime) -> str:
    """``t.Format(time.RFC3339)``: seconds precision, ``Z`` for a zero offset."""
    w = t.when
    return (
        f"{w.year:04d}-{w.month:02d}-{w.day:02d}T{w.hour:02d}:{w.minute:02d}:{w.second:02d}"
        + _zone(t, True, True)
    )


_DURATION_UNITS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,
    "\u03bcs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_DURATION_PART = re.compile(r"(\d*)(?:\.(\d*))?([^\d.]+)")


def parse_duration(text: str) -> int:
    """``time.ParseDuration``: returns nanoseconds."""
    original = text
    negative = False
    if text[:1] in "+-" and text:
        negative = text[0] == "-"
        text = text[1:]
    if text == "0":
        return 0
    if not text:
        raise TimeError(f'time: invalid duration "{original}"')
    total = 0
    pos = 0
    while pos < len(text):
        match = _DURATION_PART.match(text, pos)
        if match is None:
            raise TimeError(f'time: invalid duration "{original}"')
        whole, frac, unit = match.group(1), match.group(2), match.group(3)
        if not whole and not frac:
            raise TimeError(f'time: invalid duration "{original}"')
        # The unit ends at the next digit or dot.
        if unit not in _DURATION_UNITS:
            raise TimeError(f'time: unknown unit "{unit}" in duration "{original}"')
        scale = _DURATION_UNITS[unit]
        value = int(whole or "0") * scale
        if frac:
            value += int(frac) * scale // (10 ** len(frac))
        total += value
        pos = match.end()
    if total > (1 << 63) - 1:
        raise TimeError(f'time: invalid duration "{original}"')
    return -total if negative else total


def _tokens(spec: str) -> list[str]:
    """Split a formatdate spec into quoted literals, letter runs and other text."""
    tokens: list[str] = []
    i = 0
    n = len(spec)
    while i < n:
        ch = spec[i]
        if ch == "'":
            if i + 1 < n and spec[i + 1] == "'":
                tokens.append("''")
                i += 2
                continue
            j = i + 1
            while j < n:
                if spec[j] == "'":
                    if j + 1 < n and spec[j + 1] == "'":
                        j += 2
                        continue
                    break
                j += 1
            tokens.append(spec[i : j + 1])
            i = j + 1
            continue
        if ch.isascii() and ch.isalpha():
            j = i
            while j < n and spec[j] == ch:
                j += 1
            tokens.append(spec[i:j])
            i = j
            continue
        j = i + 1
        while j < n and spec[j] != "'" and not (spec[j].isascii() and spec[j].isalpha()):
            j += 1
        tokens.append(spec[i:j])
        i = j
    return tokens


def format_date(spec: str, t: GoTime) -> str:
    """cty's ``formatdate`` over an already parsed time."""
    w = t.when
    out: list[str] = []
    for tok in _tokens(spec):
        head = tok[0]
        size = len(tok)
        if head == "'":
            if size == 1 or tok[-1] != "'":
                raise TimeError("unterminated literal '")
            if size == 2:
                out.append("'")
            else:
                out.append(tok[1:-1].replace("''", "'"))
            continue
        if not (head.isascii() and head.isalpha()):
            out.append(tok)
            continue

        def bad(what: str, tok: str = tok) -> TimeError:
            return TimeError(f"invalid date format verb {tok!r}: {what}")

        if head == "Y":
            if size == 2:
                out.append(f"{w.year % 100:02d}")
            elif size == 4:
                out.append(f"{w.year:04d}")
            else:
                raise bad('year must either be "YY" or "YYYY"')
        elif head == "M":
            if size > 4:
                raise bad('month must be "M", "MM", "MMM", or "MMMM"')
            out.append(
                [str(w.month), f"{w.month:02d}", MONTHS[w.month - 1][:3], MONTHS[w.month - 1]][
                    size - 1
                ]
            )
        elif head == "D":
            if size > 2:
                raise bad('day of month must either be "D" or "DD"')
            out.append(str(w.day) if size == 1 else f"{w.day:02d}")
        elif head == "E":
            if size not in (3, 4):
                raise bad('day of week must either be "EEE" or "EEEE"')
            name = WEEKDAYS[t.go_weekday]
            out.append(name[:3] if size == 3 else name)
        elif head in "hH":
            hour = w.hour
            if head == "H":
                hour = hour % 12 or 12
            if size > 2:
                raise bad(f'hour must either be "{head}" or "{head * 2}"')
            out.append(str(hour) if size == 1 else f"{hour:02d}")
        elif head in "Aa":
            if size != 2:
                raise bad(f'must be "{head}{head}"')
            marker = "AM" if w.hour < 12 else "PM"
            out.append(marker if head == "A" else marker.lower())
        elif head in "ms":
            number = w.minute if head == "m" else w.second
            if size > 2:
                raise bad(f'must either be "{head}" or "{head * 2}"')
            out.append(str(number) if size == 1 else f"{number:02d}")
        elif head == "Z":
            if size == 1:
                out.append(_zone(t, True, True))
            elif size == 3:
                text = _zone(t, False, False)
                out.append("UTC" if text == "+0000" else text)
            elif size == 4:
                out.append(_zone(t, False, False))
            elif size == 5:
                out.append(_zone(t, True, False))
            else:
                raise bad("timezone must be Z, ZZZZ, or ZZZZZ")
        else:
            raise TimeError(f"invalid date format verb {tok!r}")
    return "".join(out)


# Go layout elements, longest first where prefixes overlap.
_LAYOUT = re.compile(
    r"January|Jan|Monday|Mon|MST|PM|pm"
    r"|2006|2|_2|__2|002|02|06|01|1(?!5)|15|3|03|4|04|5|05"
    r"|Z07:00:00|Z070000|Z07:00|Z0700|Z07|-07:00:00|-070000|-07:00|-0700|-07"
    r"|[.,](?:0+|9+)(?!\d)"
)


def format_go_layout(layout: str, t: GoTime) -> str:
    """``time.Time.Format(layout)`` for the layout elements Go documents."""
    w = t.when

    def element(match: re.Match[str]) -> str:
        tok = match.group(0)
        if tok == "January":
            return MONTHS[w.month - 1]
        if tok == "Jan":
            return MONTHS[w.month - 1][:3]
        if tok == "Monday":
            return WEEKDAYS[t.go_weekday]
        if tok == "Mon":
            return WEEKDAYS[t.go_weekday][:3]
        if tok == "MST":
            zone = _zone(t, False, False)
            return "UTC" if zone == "+0000" else zone
        if tok == "PM":
            return "AM" if w.hour < 12 else "PM"
        if tok == "pm":
            return "am" if w.hour < 12 else "pm"
        simple = {
            "2006": f"{w.year:04d}",
            "06": f"{w.year % 100:02d}",
            "01": f"{w.month:02d}",
            "1": str(w.month),
            "02": f"{w.day:02d}",
            "2": str(w.day),
            "_2": f"{w.day:>2d}",
            "__2": f"{w.timetuple().tm_yday:>3d}",
            "002": f"{w.timetuple().tm_yday:03d}",
            "15": f"{w.hour:02d}",
            "3": str(w.hour % 12 or 12),
            "03": f"{w.hour % 12 or 12:02d}",
            "4": str(w.minute),
            "04": f"{w.minute:02d}",
            "5": str(w.second),
            "05": f"{w.second:02d}",
        }
        if tok in simple:
            return simple[tok]
        if tok[0] in "Z-":
            z_for_utc = tok[0] == "Z"
            seconds = _offset_seconds(t)
            if seconds == 0 and z_for_utc:
                return "Z"
            sign = "-" if seconds < 0 else "+"
            seconds = abs(seconds)
            hh, mm, ss = seconds // 3600, (seconds % 3600) // 60, seconds % 60
            body = tok[1:]
            if body == "07":
                return f"{sign}{hh:02d}"
            if body == "0700":
                return f"{sign}{hh:02d}{mm:02d}"
            if body == "07:00":
                return f"{sign}{hh:02d}:{mm:02d}"
            if body == "070000":
                return f"{sign}{hh:02d}{mm:02d}{ss:02d}"
            return f"{sign}{hh:02d}:{mm:02d}:{ss:02d}"
        # Fractional seconds: .000 fixed width, .999 trailing zeros removed.
        digits = len(tok) - 1
        frac = f"{t.nanos:09d}"[:digits]
        if tok[1] == "9":
            frac = frac.rstrip("0")
            return tok[0] + frac if frac else ""
        return tok[0] + frac

    return _LAYOUT.sub(element, layout)


# strftime directives as Packer's strftime library maps them onto Go layouts.
_STRFTIME = {
    "A": "Monday", "a": "Mon", "B": "January", "b": "Jan", "h": "Jan",
    "c": "Mon Jan _2 15:04:05 2006", "D": "01/02/06", "d": "02", "e": "_2",
    "F": "2006-01-02", "H": "15", "I": "03", "j": "002", "L": ".000", "M": "04",
    "m": "01", "n": "\n", "p": "PM", "R": "15:04", "r": "03:04:05 PM", "S": "05",
    "T": "15:04:05", "t": "\t", "X": "15:04:05", "x": "01/02/06", "Y": "2006",
    "y": "06", "Z": "MST", "z": "-0700", "%": "%",
}  # fmt: skip


def format_strftime(spec: str, t: GoTime) -> str:
    """strftime directives; an unknown directive is copied through unchanged."""
    w = t.when
    out: list[str] = []
    i, n = 0, len(spec)
    while i < n:
        ch = spec[i]
        if ch != "%" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        code = spec[i + 1]
        i += 2
        if code in _STRFTIME:
            layout = _STRFTIME[code]
            # literal text in these layouts never contains layout elements except by design
            out.append(layout if code in "%nt" else format_go_layout(layout, t))
        elif code == "k":
            out.append(f"{w.hour:>2d}")
        elif code == "l":
            out.append(f"{w.hour % 12 or 12:>2d}")
        elif code == "u":
            out.append(str(w.isoweekday()))
        elif code == "w":
            out.append(str(t.go_weekday))
        elif code == "C":
            out.append(f"{w.year // 100:02d}")
        elif code == "f":
            out.append(f"{t.nanos // 1000:06d}")
        elif code in "UWV":
            out.append(w.strftime("%" + code))
        else:
            out.append("%" + code)
    return "".join(out)
