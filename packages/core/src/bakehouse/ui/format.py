"""Pure formatting helpers: colours, durations, machine-readable escaping."""

from __future__ import annotations

import time
from collections.abc import Sequence

RED = 31
GREEN = 32
YELLOW = 33
BLUE = 34
MAGENTA = 35
CYAN = 36

#: Build colours in the order Packer hands them out.
COLORS: tuple[int, ...] = (GREEN, CYAN, MAGENTA, YELLOW, BLUE)


def colorize(text: str, color: int, bold: bool) -> str:
    """Wrap ``text`` in an ANSI colour (``ESC[1;32m...ESC[0m`` for bold green)."""
    return f"\033[{1 if bold else 0};{color}m{text}\033[0m"


_UNITS: tuple[tuple[str, float], ...] = (
    ("hour", 3600.0),
    ("minute", 60.0),
    ("second", 1.0),
    ("millisecond", 1e-3),
    ("microsecond", 1e-6),
)


def format_duration(seconds: float) -> str:
    """Human duration with the two largest non-zero units: ``3 seconds 884 milliseconds``."""
    remaining = max(seconds, 0.0)
    parts: list[str] = []
    micro = round(remaining * 1e6)
    for name, size in _UNITS:
        unit_micro = round(size * 1e6)
        count, micro = divmod(micro, unit_micro)
        if count:
            parts.append(f"{count} {name}{'' if count == 1 else 's'}")
        if len(parts) == 2:
            break
    return " ".join(parts) if parts else "0 seconds"


def format_go_duration(seconds: float) -> str:
    """A duration the way Go prints it: ``1s``, ``1m30s``, ``500ms``, ``1h0m0s``."""
    if seconds == 0:
        return "0s"
    if seconds < 1:
        ms = seconds * 1000
        if ms >= 1:
            return f"{ms:g}ms"
        return f"{seconds * 1e6:g}µs"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    secs_text = f"{secs:.9f}".rstrip("0").rstrip(".")
    if hours:
        return f"{int(hours)}h{int(minutes)}m{secs_text}s"
    if minutes:
        return f"{int(minutes)}m{secs_text}s"
    return f"{secs_text}s"


def machine_escape(text: str) -> str:
    """Packer's escaping of one machine-readable field."""
    return text.replace(",", "%!(PACKER_COMMA)").replace("\r", "\\r").replace("\n", "\\n")


def machine_unescape(text: str) -> str:
    """The inverse of :func:`machine_escape` (for readers of the output)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("%!(PACKER_COMMA)", i):
            out.append(",")
            i += len("%!(PACKER_COMMA)")
        elif text.startswith(("\\n", "\\r"), i):
            out.append("\n" if text[i + 1] == "n" else "\r")
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def machine_line(target: str, kind: str, args: Sequence[str], now: float | None = None) -> str:
    """``<unix seconds>,<target>,<type>,<arg1>,...`` (no trailing newline)."""
    stamp = int(time.time() if now is None else now)
    fields = [str(stamp), target, kind, *(machine_escape(str(arg)) for arg in args)]
    return ",".join(fields)
