"""Bounds on what a template can make Bakehouse read or print.

Hostile or mistaken input (a 50 MB string, ``file("/dev/zero")``, a 128 KB line
repeated in every error) must end in a clear message, not in gigabytes of
memory or output. Documented in docs/templates.md ("Limits").
"""

from __future__ import annotations

import os
import stat

#: Largest template, variable file or ``templatefile()`` template (bytes).
MAX_TEMPLATE_BYTES = 16 * 1024 * 1024
#: Largest file ``file()``, ``filebase64()`` and the file hash functions read (bytes).
MAX_FILE_FUNCTION_BYTES = 16 * 1024 * 1024
#: Characters of a source line shown in a diagnostic, around the caret.
MAX_SNIPPET_CHARS = 120


class ReadLimitError(OSError):
    """The file is not a regular file or is larger than allowed; the message says which."""


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"  # pragma: no cover - every other kind is listed


def read_regular_file(path: str | os.PathLike[str], limit: int, what: str) -> bytes:
    """The bytes of ``path``, which must be a regular file of at most ``limit`` bytes.

    Opened non-blocking so a named pipe cannot hang the open; the size is checked
    before and while reading (a file may grow). ``what`` names the limit in the
    message ("a template file", "file()"). Other errors are the usual OSError.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ReadLimitError(f"{os.fspath(path)} is {_kind(info.st_mode)}: only regular files can be read")
        if info.st_size > limit:
            raise ReadLimitError(_too_large(path, info.st_size, limit, what))
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise ReadLimitError(_too_large(path, total, limit, what))
        return b"".join(chunks)
    finally:
        os.close(fd)


def _too_large(path: str | os.PathLike[str], size: int, limit: int, what: str) -> str:
    return (
        f"{os.fspath(path)} is larger than {limit // (1024 * 1024)} MiB ({size} bytes or more), "
        f"the limit for {what}"
    )


def snippet(text: str, column: int) -> tuple[str, int]:
    """``text`` cut to :data:`MAX_SNIPPET_CHARS` around ``column`` (1-based), and
    the caret's column in the cut text. Marks cut ends with ``…``."""
    column = min(column, len(text) + 1)  # a caret past the end sits just after it
    if len(text) <= MAX_SNIPPET_CHARS:
        return text, column
    start = max(0, min(column - 1 - MAX_SNIPPET_CHARS // 2, len(text) - MAX_SNIPPET_CHARS))
    end = start + MAX_SNIPPET_CHARS
    cut = ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")
    return cut, column - start + (1 if start else 0)
