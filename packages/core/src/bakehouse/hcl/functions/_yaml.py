"""YAML as go-cty-yaml does it.

Encoding reproduces the output of go-cty-yaml (libyaml's emitter, block
style, 2-space indent, best width 80): strings double-quoted, strings with a
newline as literal blocks (``|``, ``|-``, ``|+``), map keys double-quoted and
sorted, sequences inside mappings not indented, empty collections as ``[]`` and
``{}``, plain scalars at the top level followed by the ``...`` end marker.

Decoding uses PyYAML's parser for the syntax but resolves untagged plain
scalars with go-cty-yaml's YAML 1.1 table (``yes``/``on`` are booleans,
numbers stay exact, timestamps become RFC 3339 strings).
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import yaml

from bakehouse.hcl.function import FunctionError
from bakehouse.hcl.functions._gonum import plain_decimal
from bakehouse.hcl.values import (
    BOOL,
    DYNAMIC,
    NUMBER,
    STRING,
    Value,
    boolean,
    null,
    number,
    object_value,
    parse_number,
    string,
    tuple_value,
)

_BEST_WIDTH = 80
_INDENT = 2

# ------------------------------------------------------------------ encoding

_ESCAPES = {
    "\0": "0", "\a": "a", "\b": "b", "\t": "t", "\n": "n", "\v": "v", "\f": "f",
    "\r": "r", "\x1b": "e", '"': '"', "\\": "\\", "\x85": "N", "\xa0": "_",
    "\u2028": "L", "\u2029": "P",
}  # fmt: skip


def _printable(ch: str) -> bool:
    o = ord(ch)
    return (
        o == 0x0A
        or 0x20 <= o <= 0x7E
        or o == 0x85
        or (0xA0 <= o <= 0xD7FF)
        or (0xE000 <= o <= 0xFFFD and o != 0xFEFF)
        or (0x10000 <= o <= 0x10FFFF)
    )


def _block_allowed(text: str) -> bool:
    """libyaml's analysis: can this multi-line string be a literal block?"""
    if text.endswith(" "):
        return False
    for i, ch in enumerate(text):
        if not _printable(ch) and ch not in "\n":
            return False
        if ch == " " and i + 1 < len(text) and text[i + 1] in "\n\x85\u2028\u2029":
            return False
    return True


class _Writer:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.column = 0
        # libyaml ends the stream with "..." when the last thing written leaves
        # the document open: a plain top-level scalar or a "|+" block.
        self.open_ended = False

    def write(self, text: str) -> None:
        self.open_ended = False
        self.parts.append(text)
        newline = text.rfind("\n")
        self.column = len(text) - newline - 1 if newline >= 0 else self.column + len(text)

    def newline(self, indent: int) -> None:
        self.write("\n" + " " * max(indent, 0))

    def text(self) -> str:
        return "".join(self.parts)


def _double_quoted(w: _Writer, text: str, indent: int, allow_breaks: bool) -> None:
    w.write('"')
    spaces = False
    last = len(text) - 1
    for i, ch in enumerate(text):
        if not _printable(ch) or ch in '"\\' or ch in "\n\x85\u2028\u2029" or ch == "\ufeff":
            if ch in _ESCAPES:
                w.write("\\" + _ESCAPES[ch])
            elif ord(ch) <= 0xFF:
                w.write(f"\\x{ord(ch):02X}")
            elif ord(ch) <= 0xFFFF:
                w.write(f"\\u{ord(ch):04X}")
            else:
                w.write(f"\\U{ord(ch):08X}")
            spaces = False
        elif ch == " ":
            if allow_breaks and not spaces and w.column > _BEST_WIDTH and i != 0 and i != last:
                w.newline(indent)
                if i + 1 <= last and text[i + 1] == " ":
                    w.write("\\")
            else:
                w.write(" ")
            spaces = True
        else:
            w.write(ch)
            spaces = False
    w.write('"')


def _literal(w: _Writer, text: str, indent: int) -> None:
    hints = ""
    if text[:1] in (" ", "\n"):
        hints += str(_INDENT)
    if not text.endswith("\n"):
        hints += "-"
    elif text == "\n" or text.endswith("\n\n"):
        hints += "+"
    w.write("|" + hints)
    lines = text.split("\n")
    if text.endswith("\n"):
        lines = lines[:-1]
    for line in lines:
        if line:
            w.newline(indent)
            w.write(line)
        else:
            w.write("\n")
            w.column = 0
    if hints.endswith("+"):
        w.open_ended = True


def _scalar_text(value: Value) -> str | None:
    """Plain scalar text for null/bool/number, None for strings."""
    if value.is_null:
        return "null"
    if value.type == BOOL:
        return "true" if value.as_bool() else "false"
    if value.type == NUMBER:
        d = value.as_number()
        if d.is_infinite():
            return "+Inf" if d > 0 else "-Inf"
        return plain_decimal(d)
    return None


def _emit(w: _Writer, value: Value, indent: int, *, simple_key: bool = False) -> None:
    """Emit a node whose first character goes at the writer's current position."""
    plain = _scalar_text(value)
    if plain is not None:
        w.write(plain)
        return
    t = value.type
    if t == STRING:
        text = value.as_str()
        scalar_indent = indent + _INDENT if indent >= 0 else _INDENT
        if "\n" in text and not simple_key and _block_allowed(text):
            _literal(w, text, scalar_indent)
        else:
            _double_quoted(w, text, scalar_indent, not simple_key)
        return
    if t.is_sequence:
        elems = value.elements()
        if not elems:
            w.write("[]")
            return
        _emit_sequence(w, elems, max(indent, 0), first_inline=True)
        return
    if t.is_mapping:
        items = sorted(value.items().items())
        if not items:
            w.write("{}")
            return
        _emit_mapping(w, items, max(indent, 0), first_inline=True)
        return
    raise FunctionError(f"cannot encode a value of type {t.friendly()} as YAML")


def _emit_sequence(w: _Writer, elems: list[Value], indent: int, first_inline: bool) -> None:
    for i, elem in enumerate(elems):
        if i > 0 or not first_inline:
            w.newline(indent)
        w.write("- ")
        child_indent = indent + _INDENT
        if elem.type.is_sequence and not elem.is_null and elem.elements():
            _emit_sequence(w, elem.elements(), child_indent, first_inline=True)
        elif elem.type.is_mapping and not elem.is_null and elem.items():
            _emit_mapping(w, sorted(elem.items().items()), child_indent, first_inline=True)
        else:
            _emit(w, elem, indent)


def _emit_mapping(
    w: _Writer, items: list[tuple[str, Value]], indent: int, first_inline: bool
) -> None:
    for i, (key, val) in enumerate(items):
        if i > 0 or not first_inline:
            w.newline(indent)
        _emit(w, string(key), indent, simple_key=True)
        w.write(":")
        if val.type.is_mapping and not val.is_null and val.items():
            _emit_mapping(w, sorted(val.items().items()), indent + _INDENT, first_inline=False)
        elif val.type.is_sequence and not val.is_null and val.elements():
            # libyaml writes a block sequence inside a mapping without extra indentation
            _emit_sequence(w, val.elements(), indent, first_inline=False)
        else:
            w.write(" ")
            _emit(w, val, indent)


def encode(value: Value) -> str:
    """go-cty-yaml's ``yamlencode`` for a wholly known value."""
    w = _Writer()
    _emit(w, value, -1)
    out = w.text() + "\n"
    if _scalar_text(value) is not None or w.open_ended:
        out += "...\n"
    return out


# ------------------------------------------------------------------ decoding

_PLAIN = "tag:bakehouse:plain"
_STR = "tag:yaml.org,2002:str"
_BOOL_TRUE = {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"}
_BOOL_FALSE = {"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"}
_NULLS = {"", "~", "null", "Null", "NULL"}
_INF = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"}
_NEG_INF = {"-.inf", "-.Inf", "-.INF"}
_NAN = {".nan", ".NaN", ".NAN"}
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:(?:[Tt]|[ \t]+)(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d+))?"
    r"(?:[ \t]*(Z|[+-]\d{1,2}(?::?\d{2})?))?)?\Z"
)


class _Loader(yaml.SafeLoader):  # type: ignore[misc]
    """Leaves every implicit scalar unresolved so go-cty-yaml's rules apply."""

    def resolve(self, kind: Any, value: str, implicit: tuple[bool, bool]) -> str:
        if kind is yaml.ScalarNode:
            return _PLAIN if implicit[0] else _STR
        resolved: str = super().resolve(kind, value, implicit)
        return resolved


def _timestamp(text: str) -> str | None:
    match = _TIMESTAMP.match(text)
    if not match:
        return None
    year, month, day = int(match.group(1)), int(match.group(2)), int(match.group(3))
    try:
        if match.group(4) is None:
            when = datetime(year, month, day, tzinfo=UTC)
        else:
            zone = match.group(8)
            tz = UTC
            if zone and zone != "Z":
                # Go's layouts only take offsets written as +hh:mm.
                zm = re.fullmatch(r"([+-])(\d{2}):(\d{2})", zone)
                if not zm:
                    return None
                delta = timedelta(hours=int(zm.group(2)), minutes=int(zm.group(3)))
                tz = timezone(-delta if zm.group(1) == "-" else delta)
            elif zone is None and "T" in text.upper() and " " not in text:
                return None
            when = datetime(
                year,
                month,
                day,
                int(match.group(4)),
                int(match.group(5)),
                int(match.group(6)),
                tzinfo=tz,
            )
    except ValueError:
        return None
    offset = when.utcoffset() or timedelta(0)
    if offset == timedelta(0):
        zone_text = "Z"
    else:
        seconds = int(offset.total_seconds())
        sign = "-" if seconds < 0 else "+"
        seconds = abs(seconds)
        zone_text = f"{sign}{seconds // 3600:02d}:{(seconds % 3600) // 60:02d}"
    return when.strftime("%Y-%m-%dT%H:%M:%S") + zone_text


def _number_text(text: str) -> Decimal | None:
    plain = text.replace("_", "")
    parsed = parse_number(plain)
    if parsed is not None:
        return parsed
    try:
        sign = -1 if plain.startswith("-") else 1
        body = plain.lstrip("+-")
        if body.startswith(("0x", "0X")):
            return Decimal(sign * int(body[2:], 16))
        if body.startswith(("0b", "0B")):
            return Decimal(sign * int(body[2:], 2))
        if body.startswith(("0o", "0O")):
            return Decimal(sign * int(body[2:], 8))
        if len(body) > 1 and body.startswith("0") and body.isdigit():
            return Decimal(sign * int(body, 8))
    except ValueError:
        return None
    return None


def _resolve_plain(text: str) -> Value:
    if text in _BOOL_TRUE:
        return boolean(True)
    if text in _BOOL_FALSE:
        return boolean(False)
    if text in _NULLS:
        return null(DYNAMIC)
    if text in _INF:
        return number(Decimal("Infinity"))
    if text in _NEG_INF:
        return number(Decimal("-Infinity"))
    if text in _NAN:
        raise FunctionError("floating point NaN is not supported")
    head = text[:1]
    if head == ".":
        parsed = parse_number(text)
        if parsed is not None:
            return number(parsed)
    elif head.isdigit() or head in "+-":
        stamp = _timestamp(text)
        if stamp is not None:
            return string(stamp)
        plain = text.replace("_", "")
        parsed = parse_number(plain)
        if parsed is not None:
            return number(parsed)
        if plain.startswith(("0b", "-0b")):
            found = _number_text(plain)
            if found is not None:
                return number(found)
    return string(text)


def _resolve_tagged(tag: str, text: str) -> Value:
    short = tag.replace("tag:yaml.org,2002:", "!!")
    if short == "!!str":
        return string(text)
    if short == "!!binary":
        try:
            base64.b64decode(text.replace("\n", ""), validate=True)
        except ValueError:
            raise FunctionError(f"cannot parse {text!r} as {short}: not valid base64") from None
        return string(text)
    if short == "!!bool":
        if text in _BOOL_TRUE:
            return boolean(True)
        if text in _BOOL_FALSE:
            return boolean(False)
    elif short in ("!!int", "!!float"):
        found = _number_text(text)
        if found is not None:
            return number(found)
    elif short == "!!null":
        return null(DYNAMIC)
    elif short == "!!timestamp":
        stamp = _timestamp(text)
        if stamp is not None:
            return string(stamp)
    else:
        raise FunctionError(f"unsupported tag {short!r}")
    raise FunctionError(f"cannot parse {text!r} as {short}")


_MAX_EXPANDED_NODES = 1_000_000


class _Decoder:
    """Turns composed nodes into values; each node (anchors included) is decoded once.

    ``expanded`` counts the nodes a value stands for once aliases are expanded,
    so an alias bomb is refused instead of being blown up by later consumers.
    """

    def __init__(self) -> None:
        self.done: dict[int, tuple[Value, int]] = {}
        self.expanded = 0

    def value(self, node: yaml.Node, depth: int = 0) -> Value:
        known = self.done.get(id(node))
        if known is None:
            outer = self.expanded
            self.expanded = 1
            decoded = _node_value(node, depth, self)
            known = (decoded, self.expanded)
            self.expanded = outer
            if known[1] > _MAX_EXPANDED_NODES:
                raise FunctionError("document contains excessive aliasing")
            self.done[id(node)] = known
        self.expanded += known[1]
        if self.expanded > _MAX_EXPANDED_NODES:
            raise FunctionError("document contains excessive aliasing")
        return known[0]


def _node_value(node: yaml.Node, depth: int = 0, decoder: _Decoder | None = None) -> Value:
    if decoder is None:
        decoder = _Decoder()
        return decoder.value(node, depth)
    if depth > 500:
        raise FunctionError("YAML document is nested too deeply")
    if isinstance(node, yaml.ScalarNode):
        if node.tag == _PLAIN:
            return _resolve_plain(node.value)
        return _resolve_tagged(node.tag, node.value)
    if isinstance(node, yaml.SequenceNode):
        return tuple_value(decoder.value(n, depth + 1) for n in node.value)
    if isinstance(node, yaml.MappingNode):
        attrs: dict[str, Value] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or (
                isinstance(key_node, yaml.ScalarNode)
                and key_node.tag == _PLAIN
                and key_node.value == "<<"
            ):
                sources = (
                    value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                )
                for source in sources:
                    merged = decoder.value(source, depth + 1)
                    if not merged.type.is_mapping:
                        raise FunctionError(
                            "map merge requires map or sequence of maps as the value"
                        )
                    for k, v in merged.items().items():
                        attrs.setdefault(k, v)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise FunctionError("only strings are allowed as mapping keys")
            key = decoder.value(key_node, depth + 1)
            if key.is_null:
                raise FunctionError("mapping key cannot be null")
            if key.type == STRING:
                key_text = key.as_str()
            elif key.type == BOOL:
                key_text = "true" if key.as_bool() else "false"
            elif key.type == NUMBER:
                key_text = plain_decimal(key.as_number())
            else:
                raise FunctionError("only scalar values can be used as mapping keys")
            attrs[key_text] = decoder.value(value_node, depth + 1)
        return object_value(attrs)
    raise FunctionError("unsupported YAML node")


def decode(text: str) -> Value:
    """go-cty-yaml's ``yamldecode``: one document, implied types."""
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.YAMLError as exc:
        message = str(exc).replace("\n", " ")
        raise FunctionError(f"on line {_line(exc)}: {message}") from None
    if len(nodes) > 1:
        raise FunctionError("unexpected extra content after value")
    if not nodes or nodes[0] is None:
        return null(DYNAMIC)
    return _node_value(nodes[0])


def _line(exc: yaml.YAMLError) -> int:
    mark = getattr(exc, "problem_mark", None)
    return (mark.line + 1) if mark is not None else 1
