"""RE2 patterns on top of the ``regex`` module.

Packer's ``regex``/``regexall``/``regex_replace`` use Go's RE2. The ``regex``
module has the same leftmost-first semantics and syntax for the common
cases; this module rewrites the few places where the dialects differ and
rejects what RE2 rejects (back-references, look-around), so a pattern that
fails in Packer fails here too.

Differences handled:
* ``\\d \\w \\s`` (and negations) are ASCII-only in RE2;
* ``$`` without the ``m`` flag matches only at the very end of the text;
* ``\\z`` is RE2's end of text; ``\\Q...\\E`` quotes literally;
* ``\\x{HHHH}`` hexadecimal escapes;
* Go's iteration rules for empty matches in "all" operations.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

import regex

_ASCII_CLASS_IN_SET = {"d": "0-9", "w": "0-9A-Za-z_", "s": "\\t\\n\\f\\r "}
_ASCII_CLASS = {
    "d": "[0-9]",
    "D": "[^0-9]",
    "w": "[0-9A-Za-z_]",
    "W": "[^0-9A-Za-z_]",
    "s": "[\\t\\n\\f\\r ]",
    "S": "[^\\t\\n\\f\\r ]",
}
# RE2's word boundaries are ASCII too.
_WORD = "[0-9A-Za-z_]"
_ASCII_BOUNDARY = {
    "b": f"(?:(?<={_WORD})(?!{_WORD})|(?<!{_WORD})(?={_WORD}))",
    "B": f"(?:(?<={_WORD})(?={_WORD})|(?<!{_WORD})(?!{_WORD}))",
}


class PatternError(ValueError):
    """The pattern is not valid RE2 syntax."""


_FLAGS_ONLY = regex.compile(r"\(\?([imsU]*(?:-[imsU]*)?)\)")


def _has_multiline_flag(pattern: str) -> bool:
    found = regex.search(r"\(\?[a-zA-Z]*m[a-zA-Z]*[:)]", pattern)
    return found is not None


def translate(pattern: str) -> str:
    """Rewrite an RE2 pattern into an equivalent ``regex`` pattern."""
    multiline = _has_multiline_flag(pattern)
    out: list[str] = []
    i = 0
    in_set = False
    n = len(pattern)
    # per open group, the scoped flag groups that must close with it
    scopes: list[list[str]] = [[]]
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= n:
                raise PatternError("trailing backslash at end of expression")
            nxt = pattern[i + 1]
            if nxt == "Q":
                end = pattern.find("\\E", i + 2)
                literal = pattern[i + 2 :] if end < 0 else pattern[i + 2 : end]
                out.append(regex.escape(literal))
                i = n if end < 0 else end + 2
                continue
            if nxt.isdigit() and nxt != "0":
                raise PatternError(
                    f"invalid escape sequence: \\{nxt} (back-references are not supported)"
                )
            if nxt == "z":
                out.append("\\Z")
                i += 2
                continue
            if nxt == "Z":
                raise PatternError("invalid escape sequence: \\Z")
            if nxt == "x" and i + 2 < n and pattern[i + 2] == "{":
                end = pattern.find("}", i + 3)
                if end < 0:
                    raise PatternError("invalid escape sequence: \\x{")
                try:
                    code = int(pattern[i + 3 : end], 16)
                except ValueError:
                    raise PatternError("invalid escape sequence in \\x{...}") from None
                out.append(regex.escape(chr(code)))
                i = end + 1
                continue
            if nxt in _ASCII_BOUNDARY and not in_set:
                out.append(_ASCII_BOUNDARY[nxt])
                i += 2
                continue
            if nxt in _ASCII_CLASS:
                if in_set:
                    out.append(_ASCII_CLASS_IN_SET.get(nxt, "\\" + nxt))
                else:
                    out.append(_ASCII_CLASS[nxt])
                i += 2
                continue
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_set:
            if ch == "[" and pattern.startswith("[:", i):
                end = pattern.find(":]", i + 2)
                if end >= 0:
                    out.append(pattern[i : end + 2])
                    i = end + 2
                    continue
            if ch == "[":
                # A literal '[' inside a class; the regex module would read a nested set.
                out.append("\\[")
                i += 1
                continue
            if ch == "]":
                in_set = False
            out.append(ch)
            i += 1
            continue
        if ch == "[":
            in_set = True
            out.append(ch)
            i += 1
            if i < n and pattern[i] == "^":
                out.append("^")
                i += 1
            if i < n and pattern[i] == "]":
                out.append("\\]")
                i += 1
            continue
        if ch == "(" and pattern.startswith("(?", i):
            rest = pattern[i + 2 : i + 4]
            if rest[:1] in ("=", "!") or rest in ("<=", "<!"):
                raise PatternError("invalid or unsupported Perl syntax: look-around assertions")
            if rest[:1] in (">", "|", "#", "&", "("):
                raise PatternError(f"invalid or unsupported Perl syntax: (?{rest[:1]}")
            flags = _FLAGS_ONLY.match(pattern, i)
            if flags is not None:
                if "U" in flags.group(1):
                    raise PatternError("the U (ungreedy) flag is not supported")
                # RE2 applies a bare flag group to the rest of the enclosing group;
                # the regex module would apply it to the whole pattern, so scope it.
                out.append("(?" + flags.group(1) + ":")
                scopes[-1].append(flags.group(1))
                i = flags.end()
                continue
            scopes.append([])
            out.append(ch)
            i += 1
            continue
        if ch == "(":
            scopes.append([])
        elif ch == ")" and len(scopes) > 1:
            out.append(")" * len(scopes.pop()))
        elif ch == "|" and scopes[-1]:
            # the flags stay in force in the next alternative of the same group
            opened = "".join(f"(?{flag}:" for flag in scopes[-1])
            out.append(")" * len(scopes[-1]) + "|" + opened)
            i += 1
            continue
        if ch == "$" and not multiline:
            out.append("\\Z")
            i += 1
            continue
        out.append(ch)
        i += 1
    if in_set:
        raise PatternError("missing closing ]")
    out.append(")" * len(scopes[0]))
    return "".join(out)


@lru_cache(maxsize=256)
def compile_re2(pattern: str) -> regex.Pattern[str]:
    """Compile an RE2 pattern; raises :class:`PatternError` with Go-like wording."""
    try:
        return regex.compile(translate(pattern), regex.VERSION0)
    except regex.error as exc:
        raise PatternError(f"error parsing regexp: {exc}") from None


# RE2 matches in linear time; a backtracking engine can take exponential time on
# patterns like (a+)+$, so a search that runs this long is stopped with an error.
SEARCH_TIMEOUT_SECONDS = 5.0


def search(compiled: regex.Pattern[str], text: str, pos: int = 0) -> regex.Match[str] | None:
    """``compiled.search`` with a time limit; raises :class:`PatternError` when exceeded."""
    try:
        return compiled.search(text, pos, timeout=SEARCH_TIMEOUT_SECONDS)
    except TimeoutError:
        raise PatternError(
            f"matching took longer than {SEARCH_TIMEOUT_SECONDS:g}s; simplify the pattern "
            "(nested repetition such as (a+)+ backtracks)"
        ) from None


def find_all(compiled: regex.Pattern[str], text: str) -> Iterator[regex.Match[str]]:
    """Successive matches as Go's ``FindAll*``: an empty match touching the previous match is skipped."""
    pos = 0
    prev_end = -1
    n = len(text)
    while pos <= n:
        match = search(compiled, text, pos)
        if match is None:
            return
        start, end = match.span()
        if start == end and start == prev_end:
            # Go ignores an empty match abutting the preceding one and moves on one character.
            pos = start + 1
            continue
        yield match
        prev_end = end
        pos = end if end > start else end + 1


def expand_go_template(template: str, match: regex.Match[str]) -> str:
    """Go's ``Regexp.Expand``: ``$1``, ``${1}``, ``$name``, ``${name}``, ``$$``."""
    out: list[str] = []
    i = 0
    n = len(template)
    while i < n:
        ch = template[i]
        if ch != "$":
            out.append(ch)
            i += 1
            continue
        if i + 1 < n and template[i + 1] == "$":
            out.append("$")
            i += 2
            continue
        name = None
        if i + 1 < n and template[i + 1] == "{":
            end = template.find("}", i + 2)
            if end > i + 2:
                candidate = template[i + 2 : end]
                if regex.fullmatch(r"[A-Za-z0-9_]+", candidate):
                    name = candidate
                    i = end + 1
        else:
            found = regex.match(r"[A-Za-z0-9_]+", template[i + 1 :])
            if found:
                name = found.group(0)
                i += 1 + len(name)
        if name is None:
            out.append("$")
            i += 1
            continue
        out.append(_group_text(match, name))
    return "".join(out)


def _group_text(match: regex.Match[str], name: str) -> str:
    try:
        if name.isdigit():
            index = int(name)
            if index > (match.re.groups or 0):
                return ""
            return match.group(index) or ""
        return match.group(name) or ""
    except (IndexError, regex.error):
        return ""


def replace_all(compiled: regex.Pattern[str], text: str, template: str) -> str:
    """Go's ``ReplaceAllString``."""
    out: list[str] = []
    last = 0
    for match in find_all(compiled, text):
        out.append(text[last : match.start()])
        out.append(expand_go_template(template, match))
        last = match.end()
    out.append(text[last:])
    return "".join(out)
