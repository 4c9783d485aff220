"""Encoding functions: base64, gzip, URL, JSON, YAML, CSV and text encodings."""

from __future__ import annotations

import base64
import binascii
import codecs
import struct
import urllib.parse
import zlib

from bakehouse.hcl.function import Function, FunctionContext, FunctionError
from bakehouse.hcl.functions import _json
from bakehouse.hcl.functions._util import define, p
from bakehouse.hcl.values import (
    DYNAMIC,
    STRING,
    ListType,
    ObjectType,
    Value,
    list_value,
    object_value,
    string,
    unknown,
)


def _b64decode(text: str, what: str = "the given value") -> bytes:
    # Go's StdEncoding ignores line breaks but is strict about padding and alphabet.
    cleaned = text.replace("\r", "").replace("\n", "")
    try:
        return base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        raise FunctionError(f"failed to decode base64 data from {what}", 0) from None


def _base64encode(args: list[Value], fctx: FunctionContext) -> Value:
    return string(
        base64.b64encode(args[0].as_str().encode("utf-8", "surrogatepass")).decode("ascii")
    )


def _base64decode(args: list[Value], fctx: FunctionContext) -> Value:
    raw = _b64decode(args[0].as_str())
    try:
        return string(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise FunctionError(
            "the result of decoding the provided string is not valid UTF-8", 0
        ) from None


def go_gzip(data: bytes) -> bytes:
    """Bytes as Go's ``gzip.Writer`` writes them after ``Write``, ``Flush``, ``Close``.

    Header: no name, mtime 0, XFL 0, OS 255 (unknown). Body: a raw deflate
    stream flushed with a sync flush, then Go's closing empty final stored block.
    """
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15, 8)
    body = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    final_block = b"\x01\x00\x00\xff\xff"
    trailer = struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF, len(data) & 0xFFFFFFFF)
    return header + body + final_block + trailer


def _base64gzip(args: list[Value], fctx: FunctionContext) -> Value:
    return string(base64.b64encode(go_gzip(args[0].as_str().encode("utf-8"))).decode("ascii"))


def _urlencode(args: list[Value], fctx: FunctionContext) -> Value:
    return string(urllib.parse.quote_plus(args[0].as_str(), safe="-_.~"))


def _jsonencode(args: list[Value], fctx: FunctionContext) -> Value:
    value = args[0]
    if not value.is_wholly_known:
        return unknown(STRING)
    return string(_json.encode(value))


def _jsondecode(args: list[Value], fctx: FunctionContext) -> Value:
    return _json.decode(args[0].as_str())


def _yamlencode(args: list[Value], fctx: FunctionContext) -> Value:
    value = args[0]
    if not value.is_wholly_known:
        return unknown(STRING)
    from bakehouse.hcl.functions import _yaml  # PyYAML: imported by the templates that use it

    return string(_yaml.encode(value))


def _yamldecode(args: list[Value], fctx: FunctionContext) -> Value:
    from bakehouse.hcl.functions import _yaml

    return _yaml.decode(args[0].as_str())


class _CsvError(Exception):
    pass


def _csv_records(text: str) -> list[list[str]]:
    """Go's ``encoding/csv`` reader with default settings (strict quotes)."""
    records: list[list[str]] = []
    i, n, line = 0, len(text), 1
    while i < n:
        # Skip empty lines, as Go does.
        if text[i] == "\n":
            i += 1
            line += 1
            continue
        if text.startswith("\r\n", i):
            i += 2
            line += 1
            continue
        fields: list[str] = []
        while True:
            if i < n and text[i] == '"':
                i += 1
                buf: list[str] = []
                while True:
                    if i >= n:
                        raise _CsvError(
                            f'record on line {line}: extraneous or missing " in quoted-field'
                        )
                    ch = text[i]
                    if ch == '"':
                        if i + 1 < n and text[i + 1] == '"':
                            buf.append('"')
                            i += 2
                            continue
                        i += 1
                        break
                    if ch == "\n":
                        line += 1
                    if ch == "\r" and i + 1 < n and text[i + 1] == "\n":
                        i += 1
                        continue
                    buf.append(ch)
                    i += 1
                fields.append("".join(buf))
                if i < n and text[i] not in ",\r\n":
                    raise _CsvError(
                        f'record on line {line}: extraneous or missing " in quoted-field'
                    )
            else:
                start = i
                while i < n and text[i] not in ",\n" and not text.startswith("\r\n", i):
                    if text[i] == '"':
                        raise _CsvError(f'record on line {line}: bare " in non-quoted-field')
                    i += 1
                fields.append(text[start:i])
            if i < n and text[i] == ",":
                i += 1
                continue
            break
        if text.startswith("\r\n", i):
            i += 2
        elif i < n and text[i] == "\n":
            i += 1
        line += 1
        records.append(fields)
    return records


def _csvdecode(args: list[Value], fctx: FunctionContext) -> Value:
    try:
        records = _csv_records(args[0].as_str())
    except _CsvError as exc:
        raise FunctionError(f"parse error on {exc}", 0) from None
    if not records:
        raise FunctionError("missing header line", 0)
    header = records[0]
    row_type = ObjectType({name: STRING for name in header})
    rows: list[Value] = []
    for number, record in enumerate(records[1:], start=2):
        if len(record) != len(header):
            raise FunctionError(f"record on line {number}: wrong number of fields", 0)
        rows.append(
            object_value({name: string(cell) for name, cell in zip(header, record, strict=False)})
        )
    return list_value(rows, row_type)


# IANA names Go's ianaindex resolves differently from Python's codec registry.
_IANA_OVERRIDES = {"utf-16": "utf-16-be-bom"}


def _codec(name: str) -> codecs.CodecInfo | str:
    key = name.strip().lower()
    if key in _IANA_OVERRIDES:
        return _IANA_OVERRIDES[key]
    try:
        info = codecs.lookup(name)
    except LookupError:
        raise FunctionError(f"{name!r} is not a supported IANA encoding name or alias", 1) from None
    if not getattr(info, "_is_text_encoding", True) or info.name in (
        "mbcs",
        "oem",
        "unicode-escape",
        "raw-unicode-escape",
        "idna",
        "punycode",
    ):
        raise FunctionError(f"{name!r} is not a supported IANA encoding name or alias", 1)
    return info


def _textencodebase64(args: list[Value], fctx: FunctionContext) -> Value:
    text, name = args[0].as_str(), args[1].as_str()
    info = _codec(name)
    try:
        if info == "utf-16-be-bom":
            raw = "\ufeff".encode("utf-16-be") + text.encode("utf-16-be")
        else:
            assert isinstance(info, codecs.CodecInfo)
            raw = info.encode(text)[0]
    except UnicodeEncodeError as exc:
        raise FunctionError(
            f"the given string contains characters that cannot be represented in {name}: {exc.object[exc.start : exc.end]!r}",
            0,
        ) from None
    return string(base64.b64encode(raw).decode("ascii"))


def _textdecodebase64(args: list[Value], fctx: FunctionContext) -> Value:
    encoded, name = args[0].as_str(), args[1].as_str()
    info = _codec(name)
    raw = _b64decode(encoded)
    if info == "utf-16-be-bom":
        if raw.startswith(b"\xff\xfe"):
            return string(raw[2:].decode("utf-16-le", "replace"))
        return string(
            (raw[2:] if raw.startswith(b"\xfe\xff") else raw).decode("utf-16-be", "replace")
        )
    assert isinstance(info, codecs.CodecInfo)
    # Go's decoders replace invalid input with U+FFFD rather than failing.
    return string(info.decode(raw, "replace")[0])


S = STRING
FUNCTIONS: dict[str, Function] = {
    "base64decode": define([p("str", S)], _base64decode, returns=S),
    "base64encode": define([p("str", S)], _base64encode, returns=S),
    "base64gzip": define([p("str", S)], _base64gzip, returns=S),
    "csvdecode": define([p("str", S)], _csvdecode, returns=ListType(DYNAMIC)),
    "jsondecode": define([p("str", S)], _jsondecode),
    "jsonencode": define([p("val", null=True, unknown_ok=True)], _jsonencode, returns=S),
    "textdecodebase64": define([p("source", S), p("encoding", S)], _textdecodebase64, returns=S),
    "textencodebase64": define([p("string", S), p("encoding", S)], _textencodebase64, returns=S),
    "urlencode": define([p("str", S)], _urlencode, returns=S),
    "yamldecode": define([p("src", S)], _yamldecode),
    "yamlencode": define([p("value", null=True, unknown_ok=True)], _yamlencode, returns=S),
}
