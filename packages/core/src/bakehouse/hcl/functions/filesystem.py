"""Filesystem functions. Relative paths resolve against ``fctx.base_dir`` (``path.root``)."""

from __future__ import annotations

import base64
import os
import posixpath
import stat

from bakehouse.hcl.function import Function, FunctionContext, FunctionError
from bakehouse.hcl.functions._util import define, p
from bakehouse.hcl.limits import MAX_FILE_FUNCTION_BYTES, ReadLimitError, read_regular_file
from bakehouse.hcl.values import BOOL, STRING, SetType, Value, boolean, set_value, string


def expand_home(path: str) -> str:
    """``~`` and ``~/x`` become the home directory; ``~user`` is refused as go-homedir does."""
    if not path.startswith("~"):
        return path
    if len(path) > 1 and path[1] not in "/\\":
        raise FunctionError("cannot expand user-specific home dir", 0)
    home = os.environ.get("HOME") or os.path.expanduser("~")
    return home + path[1:]


def resolve(path: str, fctx: FunctionContext, *, home: bool = True) -> str:
    """``path`` (``~`` expanded) joined to ``path.root`` when relative, then cleaned."""
    if home:
        try:
            path = expand_home(path)
        except FunctionError as exc:
            raise FunctionError(f"failed to expand ~: {exc.message}", 0) from None
    if not os.path.isabs(path):
        path = os.path.join(fctx.base_dir or ".", path)
    return go_clean(path)


def _read(path: str, fctx: FunctionContext) -> bytes:
    full = resolve(path, fctx)
    try:
        return read_regular_file(full, MAX_FILE_FUNCTION_BYTES, "file() and filebase64()")
    except ReadLimitError as exc:
        raise FunctionError(str(exc), 0) from None
    except FileNotFoundError:
        raise FunctionError(f"no file exists at {full}", 0) from None
    except IsADirectoryError:
        raise FunctionError(f"failed to read {full}: it is a directory", 0) from None
    except OSError as exc:
        raise FunctionError(f"failed to read {full}: {exc.strerror}", 0) from None


def _file(args: list[Value], fctx: FunctionContext) -> Value:
    path = args[0].as_str()
    raw = _read(path, fctx)
    try:
        return string(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise FunctionError(
            f"contents of {path} are not valid UTF-8; use the filebase64 function to obtain "
            "the Base64 encoded contents",
            0,
        ) from None


def _filebase64(args: list[Value], fctx: FunctionContext) -> Value:
    return string(base64.b64encode(_read(args[0].as_str(), fctx)).decode("ascii"))


def _fileexists(args: list[Value], fctx: FunctionContext) -> Value:
    full = resolve(args[0].as_str(), fctx)
    try:
        info = os.stat(full)
    except FileNotFoundError:
        return boolean(False)
    except OSError:
        raise FunctionError(f"failed to stat {full}", 0) from None
    if stat.S_ISREG(info.st_mode):
        return boolean(True)
    raise FunctionError(f'{full} is not a regular file, but "{_mode_name(info.st_mode)}"', 0)


def _mode_name(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "d" + stat.filemode(mode)[1:]
    return stat.filemode(mode)


def glob_to_regex(pattern: str) -> str:
    """A doublestar glob (``**``, ``*``, ``?``, ``[...]``, ``{a,b}``) as a regex over ``/`` paths."""
    import regex  # loaded on first use, not at start-up
    out: list[str] = []
    i, n = 0, len(pattern)
    depth = 0
    while i < n:
        ch = pattern[i]
        if ch == "*":
            if pattern.startswith("**", i):
                at_start = i == 0 or pattern[i - 1] == "/"
                j = i + 2
                if at_start and (j == n or pattern[j] == "/"):
                    if j == n:
                        out.append(".*")
                        i = j
                    else:
                        out.append("(?:[^/]*/)*")
                        i = j + 1
                    continue
            out.append("[^/]*")
            i += 1
            while i < n and pattern[i] == "*":
                i += 1
            continue
        if ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i + 2)
            if end < 0:
                raise FunctionError(f"syntax error in pattern {pattern!r}: missing ]", 1)
            body = pattern[i + 1 : end]
            if body[:1] in "!^":
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
            continue
        elif ch == "{":
            depth += 1
            out.append("(?:")
        elif ch == "}" and depth:
            depth -= 1
            out.append(")")
        elif ch == "," and depth:
            out.append("|")
        elif ch == "\\" and i + 1 < n:
            out.append(regex.escape(pattern[i + 1]))
            i += 2
            continue
        else:
            out.append(regex.escape(ch))
        i += 1
    if depth:
        raise FunctionError(f"syntax error in pattern {pattern!r}: missing }}", 1)
    return "".join(out)


_GLOB_CHARS = frozenset("*?[{\\")


def _fileset(args: list[Value], fctx: FunctionContext) -> Value:
    path, pattern = args[0].as_str(), args[1].as_str()
    root = os.path.abspath(resolve(path, fctx, home=False))
    # As Packer does: the pattern is joined to the path and cleaned, so it may
    # climb out of it ("../shared/*"); results are relative to the path.
    full_pattern = go_clean(root + "/" + pattern)
    segments = full_pattern.split("/")
    literal: list[str] = []
    for segment in segments:
        if _GLOB_CHARS & set(segment):
            break
        literal.append(segment)
    walk_root = "/".join(literal) or "/"
    import regex

    try:
        matcher = regex.compile(glob_to_regex(full_pattern))
    except regex.error as exc:
        raise FunctionError(f"failed to glob pattern ({full_pattern}): {exc}", 1) from None
    matches: list[str] = []
    if len(literal) == len(segments):
        if os.path.isfile(full_pattern):
            matches.append(full_pattern)
    elif os.path.isdir(walk_root):
        for directory, dirnames, filenames in os.walk(walk_root, followlinks=True):
            dirnames.sort()
            for name in filenames:
                candidate = os.path.join(directory, name)
                if matcher.fullmatch(candidate) and os.path.isfile(candidate):
                    matches.append(candidate)
    return set_value(
        [string(os.path.relpath(m, root).replace(os.sep, "/")) for m in matches], STRING
    )


def _abspath(args: list[Value], fctx: FunctionContext) -> Value:
    return string(os.path.abspath(args[0].as_str()).replace(os.sep, "/"))


def go_clean(path: str) -> str:
    """Go's ``filepath.Clean`` for ``/`` paths."""
    if path == "":
        return "."
    cleaned = posixpath.normpath(path)
    # normpath keeps a leading '//' (POSIX allows it); Go does not.
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


def _basename(args: list[Value], fctx: FunctionContext) -> Value:
    path = args[0].as_str()
    if path == "":
        return string(".")
    stripped = path.rstrip("/")
    if stripped == "":
        return string("/")
    return string(stripped.rsplit("/", 1)[-1])


def _dirname(args: list[Value], fctx: FunctionContext) -> Value:
    path = args[0].as_str()
    head = path[: path.rfind("/") + 1]
    return string(go_clean(head) if head else ".")


def _pathexpand(args: list[Value], fctx: FunctionContext) -> Value:
    return string(expand_home(args[0].as_str()))


S = STRING
FUNCTIONS: dict[str, Function] = {
    "abspath": define([p("path", S)], _abspath, returns=S),
    "basename": define([p("path", S)], _basename, returns=S),
    "dirname": define([p("path", S)], _dirname, returns=S),
    "file": define([p("path", S)], _file, returns=S),
    "filebase64": define([p("path", S)], _filebase64, returns=S),
    "fileexists": define([p("path", S)], _fileexists, returns=BOOL),
    "fileset": define([p("path", S), p("pattern", S)], _fileset, returns=SetType(S)),
    "pathexpand": define([p("path", S)], _pathexpand, returns=S),
}
