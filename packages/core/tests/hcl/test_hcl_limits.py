"""The bounds of bakehouse.hcl.limits: snippets cut around the caret, files read
only when regular and small enough."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from bakehouse.hcl.diagnostics import Diagnostic, Severity, SourcePos
from bakehouse.hcl.limits import MAX_SNIPPET_CHARS, ReadLimitError, read_regular_file, snippet


@pytest.mark.parametrize("column", [1, 50, 5_000, 9_990, 10_000])
def test_snippet_keeps_the_caret_on_its_character(column: int) -> None:
    text = "".join(chr(ord("a") + i % 26) for i in range(10_000))
    cut, caret = snippet(text, column)
    assert len(cut) <= MAX_SNIPPET_CHARS + 2
    assert cut[caret - 1] == text[column - 1]


def test_short_lines_are_shown_whole() -> None:
    assert snippet("x = 1", 5) == ("x = 1", 5)


def test_diagnostic_on_a_long_line_renders_a_short_snippet(tmp_path: Path) -> None:
    path = tmp_path / "t.pkr.hcl"
    path.write_text("x = [" + "1, " * 50_000 + "oops]\n")
    column = 6 + 3 * 50_000
    text = Diagnostic(Severity.ERROR, "Bad", "", SourcePos(str(path), 1, column)).render()
    source, caret = text.splitlines()[2:4]
    assert len(text) < 500
    assert source[caret.index("^") :].startswith("oops]")


def test_read_regular_file_refuses_what_is_not_a_small_regular_file(tmp_path: Path) -> None:
    (tmp_path / "ok").write_bytes(b"12345")
    assert read_regular_file(tmp_path / "ok", 5, "x") == b"12345"
    with pytest.raises(ReadLimitError, match="larger than"):
        read_regular_file(tmp_path / "ok", 4, "x")
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(ReadLimitError, match="named pipe"):
        read_regular_file(tmp_path / "fifo", 5, "x")
    with pytest.raises(ReadLimitError, match="a directory"):
        read_regular_file(tmp_path, 5, "x")
    with pytest.raises(FileNotFoundError):
        read_regular_file(tmp_path / "missing", 5, "x")


def test_diagnostic_shows_the_line_the_parser_counted_despite_lone_carriage_returns(tmp_path: Path) -> None:
    # Found by the validate fuzz test: a lone "\r" is not a line end for the parser.
    path = tmp_path / "t.pkr.hcl"
    path.write_text("\ra = 1\nb = [[[ oops\n", newline="")
    text = Diagnostic(Severity.ERROR, "Bad", "", SourcePos(str(path), 2, 9)).render()
    source, caret = text.splitlines()[2:4]
    assert source.endswith("b = [[[ oops")
    assert source[caret.index("^") :] == "oops"


def test_a_caret_past_the_end_of_the_line_stays_next_to_it() -> None:
    assert snippet("short", 500) == ("short", 6)
