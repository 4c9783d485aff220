"""String functions (cty stdlib and Packer's own)."""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING

from bakehouse.hcl.function import Function, FunctionContext, FunctionError
from bakehouse.hcl.functions._format import format_values
from bakehouse.hcl.functions._util import define, graphemes, p, whole_number
from bakehouse.hcl.values import (
    BOOL,
    DYNAMIC,
    NUMBER,
    STRING,
    ListType,
    ObjectType,
    TupleType,
    Value,
    boolean,
    list_value,
    null,
    object_value,
    string,
    tuple_value,
    unknown,
)

if TYPE_CHECKING:
    import regex

# Go's unicode.IsSpace: these plus every character of category Zs.
_MAX_INDENT = 1 << 20
_GO_SPACE = "\t\n\v\f\r \x85\xa0"


def _simple_case(text: str, upper: bool) -> str:
    # Go maps rune by rune; Python's full mapping can expand (ß -> SS), which Go never does.
    out = []
    for ch in text:
        mapped = ch.upper() if upper else ch.lower()
        if len(mapped) != 1:
            # Only U+0130 lowercases to two characters; its simple mapping is the first.
            mapped = mapped[0] if not upper else ch
        out.append(mapped)
    return "".join(out)


def _upper(args: list[Value], fctx: FunctionContext) -> Value:
    return string(_simple_case(args[0].as_str(), True))


def _lower(args: list[Value], fctx: FunctionContext) -> Value:
    return string(_simple_case(args[0].as_str(), False))


def _chomp(args: list[Value], fctx: FunctionContext) -> Value:
    import regex  # the regex module and the RE2 translation load on first use, not at start-up

    return string(regex.sub(r"[\r\n]+\Z", "", args[0].as_str()))


def _startswith(args: list[Value], fctx: FunctionContext) -> Value:
    return boolean(args[0].as_str().startswith(args[1].as_str()))


def _endswith(args: list[Value], fctx: FunctionContext) -> Value:
    return boolean(args[0].as_str().endswith(args[1].as_str()))


def _strcontains(args: list[Value], fctx: FunctionContext) -> Value:
    return boolean(args[1].as_str() in args[0].as_str())


def _format(args: list[Value], fctx: FunctionContext) -> Value:
    if not all(a.is_wholly_known for a in args[1:]):
        return unknown(STRING)
    return string(format_values(args[0].as_str(), args[1:]))


def _formatlist(args: list[Value], fctx: FunctionContext) -> Value:
    fmt = args[0].as_str()
    rest = args[1:]
    if not rest:
        return list_value([string(format_values(fmt, []))], STRING)
    length = -1
    chooser = -1
    iterables: list[list[Value] | None] = []
    for i, arg in enumerate(rest):
        if arg.type.is_sequence and not arg.is_null:
            if not arg.is_known:
                return unknown(ListType(STRING))
            elems = arg.elements()
            if length == -1:
                length, chooser = len(elems), i
            elif len(elems) != length:
                raise FunctionError(
                    f"argument {i + 1} has length {len(elems)}, which is inconsistent with argument "
                    f"{chooser + 1} of length {length}",
                    i + 1,
                )
            iterables.append(elems)
        else:
            iterables.append(None)
    if length == 0:
        return list_value([], STRING)
    if length == -1:
        length = 1
    results: list[Value] = []
    for index in range(length):
        call_args = [
            elems[index] if elems is not None else single
            for elems, single in zip(iterables, rest, strict=False)
        ]
        if not all(a.is_wholly_known for a in call_args):
            results.append(unknown(STRING))
            continue
        try:
            results.append(string(format_values(fmt, call_args)))
        except FunctionError as exc:
            raise FunctionError(f"error on format iteration {index}: {exc.message}") from None
    return list_value(results, STRING)


def _indent(args: list[Value], fctx: FunctionContext) -> Value:
    spaces = whole_number(args[0], "the number of spaces", 0)
    if spaces < 0:
        raise FunctionError("the number of spaces must not be negative", 0)
    if spaces > _MAX_INDENT:
        raise FunctionError(f"the number of spaces must be at most {_MAX_INDENT}", 0)
    return string(args[1].as_str().replace("\n", "\n" + " " * spaces))


def _join(args: list[Value], fctx: FunctionContext) -> Value:
    sep = args[0].as_str()
    lists = args[1:]
    if not lists:
        raise FunctionError("at least one list is required")
    parts: list[str] = []
    for li, lst in enumerate(lists):
        for ei, elem in enumerate(lst.elements()):
            if not elem.is_known:
                return unknown(STRING)
            if elem.is_null:
                raise FunctionError(
                    f"element {ei} of list {li + 1} is null; cannot concatenate null values", li + 1
                )
            parts.append(elem.as_str())
    return string(sep.join(parts))


def _match_value(match: regex.Match[str]) -> Value:
    compiled = match.re
    if compiled.groups == 0:
        return string(match.group(0))
    names = {index: name for name, index in compiled.groupindex.items()}
    if names:
        return object_value(
            {
                name: (string(match.group(name)) if match.group(name) is not None else null(STRING))
                for name in compiled.groupindex
            }
        )
    return tuple_value(
        string(g) if g is not None else null(STRING)
        for g in (match.group(i) for i in range(1, compiled.groups + 1))
    )


def _compile(pattern: str) -> regex.Pattern[str]:
    from bakehouse.hcl.functions import _re2

    try:
        compiled = _re2.compile_re2(pattern)
    except _re2.PatternError as exc:
        raise FunctionError(f"invalid regular expression pattern: {exc}", 0) from None
    if compiled.groupindex and len(compiled.groupindex) != compiled.groups:
        # the result would be neither a tuple nor an object
        raise FunctionError(
            "invalid regular expression pattern: cannot mix both named and unnamed capture groups",
            0,
        )
    return compiled


def _regex(args: list[Value], fctx: FunctionContext) -> Value:
    from bakehouse.hcl.functions import _re2

    compiled = _compile(args[0].as_str())
    try:
        match = _re2.search(compiled, args[1].as_str())
    except _re2.PatternError as exc:
        raise FunctionError(str(exc), 0) from None
    if match is None:
        raise FunctionError("pattern did not match any part of the given string")
    return _match_value(match)


def _regexall(args: list[Value], fctx: FunctionContext) -> Value:
    from bakehouse.hcl.functions import _re2

    compiled = _compile(args[0].as_str())
    try:
        matches = [_match_value(m) for m in _re2.find_all(compiled, args[1].as_str())]
    except _re2.PatternError as exc:
        raise FunctionError(str(exc), 0) from None
    if not matches:
        if compiled.groups == 0:
            return list_value([], STRING)
        return list_value([], DYNAMIC)
    return list_value(matches)


def _regex_replace(args: list[Value], fctx: FunctionContext) -> Value:
    from bakehouse.hcl.functions import _re2

    text, pattern, replacement = args[0].as_str(), args[1].as_str(), args[2].as_str()
    try:
        compiled = _re2.compile_re2(pattern)
    except _re2.PatternError as exc:
        raise FunctionError(f"invalid regular expression pattern: {exc}", 1) from None
    try:
        return string(_re2.replace_all(compiled, text, replacement))
    except _re2.PatternError as exc:
        raise FunctionError(str(exc), 1) from None


def _replace(args: list[Value], fctx: FunctionContext) -> Value:
    return string(args[0].as_str().replace(args[1].as_str(), args[2].as_str()))


def _split(args: list[Value], fctx: FunctionContext) -> Value:
    sep, text = args[0].as_str(), args[1].as_str()
    parts = list(text) if sep == "" else text.split(sep)
    return list_value([string(x) for x in parts], STRING)


def _strrev(args: list[Value], fctx: FunctionContext) -> Value:
    return string("".join(reversed(graphemes(args[0].as_str()))))


def _substr(args: list[Value], fctx: FunctionContext) -> Value:
    clusters = graphemes(args[0].as_str())
    offset = whole_number(args[1], "offset", 1)
    length = whole_number(args[2], "length", 2)
    total = len(clusters)
    if offset < 0:
        offset = total + offset
        if offset < 0:
            offset = 0
    if offset > total:
        return string("")
    if length <= 0:
        # cty counts clusters before comparing, so a length of 0 never stops
        # the scan: like any negative length it takes the rest of the string.
        end = total
    else:
        end = min(offset + length, total)
    return string("".join(clusters[offset:end]))


def _is_go_title_separator(ch: str) -> bool:
    if ch.isascii():
        return not (ch.isalnum() or ch == "_")
    category = unicodedata.category(ch)
    if category[0] in "LN":
        return False
    return ch in _GO_SPACE or category == "Zs"


def _title(args: list[Value], fctx: FunctionContext) -> Value:
    out = []
    previous = " "
    for ch in args[0].as_str():
        if _is_go_title_separator(previous):
            titled = ch.title()
            out.append(titled if len(titled) == 1 else ch)
        else:
            out.append(ch)
        previous = ch
    return string("".join(out))


def _trim(args: list[Value], fctx: FunctionContext) -> Value:
    cutset = args[1].as_str()
    return string(args[0].as_str().strip(cutset) if cutset else args[0].as_str())


def _trimprefix(args: list[Value], fctx: FunctionContext) -> Value:
    text, prefix = args[0].as_str(), args[1].as_str()
    return string(text[len(prefix) :] if prefix and text.startswith(prefix) else text)


def _trimsuffix(args: list[Value], fctx: FunctionContext) -> Value:
    text, suffix = args[0].as_str(), args[1].as_str()
    return string(text[: -len(suffix)] if suffix and text.endswith(suffix) else text)


def _go_space(ch: str) -> bool:
    return ch in _GO_SPACE or unicodedata.category(ch) == "Zs"


def _trimspace(args: list[Value], fctx: FunctionContext) -> Value:
    text = args[0].as_str()
    start, end = 0, len(text)
    while start < end and _go_space(text[start]):
        start += 1
    while end > start and _go_space(text[end - 1]):
        end -= 1
    return string(text[start:end])


def _length(args: list[Value], fctx: FunctionContext) -> Value:
    from bakehouse.hcl.values import number

    value = args[0]
    t = value.type
    if t == STRING:
        if not value.is_known:
            return unknown(NUMBER)
        return number(len(graphemes(value.as_str())))
    if isinstance(t, TupleType):
        return number(len(t.elements))
    if isinstance(t, ObjectType):
        return number(len(t.attributes))
    if t.is_sequence or t.is_mapping:
        if not value.is_known:
            return unknown(NUMBER)
        return number(value.length())
    if t == DYNAMIC:
        return unknown(NUMBER)
    raise FunctionError("argument must be a string, a collection type, or a structural type", 0)


S = STRING
FUNCTIONS: dict[str, Function] = {
    "chomp": define([p("str", S)], _chomp, returns=S),
    "endswith": define([p("str", S), p("suffix", S)], _endswith, returns=BOOL),
    "format": define([p("format", S)], _format, var_param=p("args", null=True), returns=S),
    "formatlist": define(
        [p("format", S)],
        _formatlist,
        var_param=p("args", null=True, unknown_ok=True),
        returns=ListType(S),
    ),
    "indent": define([p("spaces", NUMBER), p("str", S)], _indent, returns=S),
    "join": define([p("separator", S)], _join, var_param=p("lists", ListType(S)), returns=S),
    "length": define([p("value", unknown_ok=True)], _length, returns=NUMBER),
    "lower": define([p("str", S)], _lower, returns=S),
    "regex": define([p("pattern", S), p("string", S)], _regex),
    "regexall": define([p("pattern", S), p("string", S)], _regexall),
    "regex_replace": define(
        [p("str", S), p("pattern", S), p("replace", S)], _regex_replace, returns=S
    ),
    "replace": define([p("str", S), p("substr", S), p("replace", S)], _replace, returns=S),
    "split": define([p("separator", S), p("str", S)], _split, returns=ListType(S)),
    "startswith": define([p("str", S), p("prefix", S)], _startswith, returns=BOOL),
    "strcontains": define([p("str", S), p("substr", S)], _strcontains, returns=BOOL),
    "strrev": define([p("str", S)], _strrev, returns=S),
    "substr": define([p("str", S), p("offset", NUMBER), p("length", NUMBER)], _substr, returns=S),
    "title": define([p("str", S)], _title, returns=S),
    "trim": define([p("str", S), p("cutset", S)], _trim, returns=S),
    "trimprefix": define([p("str", S), p("prefix", S)], _trimprefix, returns=S),
    "trimspace": define([p("str", S)], _trimspace, returns=S),
    "trimsuffix": define([p("str", S), p("suffix", S)], _trimsuffix, returns=S),
    "upper": define([p("str", S)], _upper, returns=S),
}
