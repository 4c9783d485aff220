"""Diagnostics are data: severity, summary, detail and a source range.

Every template problem becomes a :class:`Diagnostic`; evaluation keeps going
to collect as many as it can; the CLI prints them like a compiler::

    Error: Unsupported argument
      on build.pkr.hcl line 4, column 3:
       4 |   imagee = "x"
         |   ^
    An argument named "imagee" is not expected here. Did you mean "image"?
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from bakehouse.hcl.limits import MAX_TEMPLATE_BYTES, read_regular_file, snippet


class Severity(Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class SourcePos:
    """A position in a template file (1-based line and column)."""

    filename: str
    line: int
    column: int = 1
    end_line: int | None = None
    end_column: int | None = None

    def __str__(self) -> str:
        return f"{self.filename}:{self.line}:{self.column}"


@dataclass
class Diagnostic:
    severity: Severity
    summary: str
    detail: str = ""
    pos: SourcePos | None = None

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def render(self, source_cache: dict[str, list[str]] | None = None) -> str:
        """Compiler-style text: header, location, source line with a caret, detail."""
        label = "Error" if self.is_error else "Warning"
        lines = [f"{label}: {self.summary}"]
        if self.pos is not None:
            lines.append(f"  on {self.pos.filename} line {self.pos.line}, column {self.pos.column}:")
            text = _source_line(self.pos, source_cache)
            if text is not None:
                # A long line (a minified blob) is cut around the caret, so each
                # error costs a line of output, not the whole line again.
                text, column = snippet(text, self.pos.column)
                gutter = f"{self.pos.line:>4} | "
                lines.append(gutter + text)
                lines.append(" " * (len(gutter) - 2) + "| " + " " * max(column - 1, 0) + "^")
        if self.detail:
            lines.append("")
            lines.append(self.detail)
        return "\n".join(lines)


def _source_line(pos: SourcePos, cache: dict[str, list[str]] | None) -> str | None:
    lines = None if cache is None else cache.get(pos.filename)
    if lines is None:
        try:
            data = read_regular_file(pos.filename, MAX_TEMPLATE_BYTES, "a template file")
        except OSError:
            return None
        # Lines end at "\n" only, as the parser counts them: splitlines() would
        # also break at a lone "\r" (or \x0b, \x1c, ...) and show the wrong line.
        lines = [line.removesuffix("\r") for line in data.decode("utf-8", errors="replace").split("\n")]
        if cache is not None:
            cache[pos.filename] = lines
    if 1 <= pos.line <= len(lines):
        return lines[pos.line - 1].expandtabs(4)
    return None


@dataclass
class Diagnostics(Exception):
    """A collection of diagnostics; raised when errors must stop the command."""

    items: list[Diagnostic] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return "\n\n".join(d.render() for d in self.items)

    def error(self, summary: str, detail: str = "", pos: SourcePos | None = None) -> None:
        self.items.append(Diagnostic(Severity.ERROR, summary, detail, pos))

    def warning(self, summary: str, detail: str = "", pos: SourcePos | None = None) -> None:
        self.items.append(Diagnostic(Severity.WARNING, summary, detail, pos))

    def extend(self, other: Diagnostics | list[Diagnostic]) -> None:
        self.items.extend(other.items if isinstance(other, Diagnostics) else other)

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.items)

    def __bool__(self) -> bool:
        return bool(self.items)
