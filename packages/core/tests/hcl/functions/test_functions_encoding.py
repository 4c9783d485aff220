"""Encoding functions, called with HCL values."""

from __future__ import annotations

import base64
import gzip

from bakehouse.hcl.values import to_python
from fnsupport import error_of


def test_base64_round_trip_and_errors(call) -> None:
    assert call("base64encode", "Hello World").as_str() == "SGVsbG8gV29ybGQ="
    assert call("base64decode", "SGVsbG8gV29ybGQ=").as_str() == "Hello World"
    assert call("base64decode", "SGVsbG8g\nV29ybGQ=").as_str() == "Hello World"
    assert "not valid UTF-8" in error_of(call, "base64decode", "/w==")
    assert "failed to decode base64" in error_of(call, "base64decode", "abc")


def test_base64gzip_matches_go_bytes_and_decompresses(call) -> None:
    assert call("base64gzip", "test").as_str() == "H4sIAAAAAAAA/ypJLS4BAAAA//8BAAD//wx+f9gEAAAA"
    text = "hello world " * 50
    raw = base64.b64decode(call("base64gzip", text).as_str())
    assert raw[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    assert gzip.decompress(raw).decode() == text


def test_urlencode_is_go_query_escape(call) -> None:
    assert call("urlencode", "a b&c=d/é~-_.").as_str() == "a+b%26c%3Dd%2F%C3%A9~-_."


def test_jsonencode_is_go_compatible(call) -> None:
    assert (
        call("jsonencode", {"b": [True, None], "a": -0.5}).as_str() == '{"a":-0.5,"b":[true,null]}'
    )
    assert (
        call("jsonencode", "a<b>&\u2028\n\t\x01\x08").as_str()
        == '"a\\u003cb\\u003e\\u0026\\u2028\\n\\t\\u0001\\b"'
    )
    assert call("jsonencode", 1e30).as_str() == "1" + "0" * 30
    assert call("jsonencode", None).as_str() == "null"


def test_jsondecode_keeps_numbers_exact(call) -> None:
    value = call("jsondecode", '{"a": 1.50, "b": [1e3, null, "x"], "c": 0.1}')
    assert to_python(value) == {"a": 1.5, "b": [1000, None, "x"], "c": 0.1}
    assert str(value.items()["c"].as_number()) == "0.1"
    for bad, reason in [
        ("{", "invalid JSON"),
        ("[1] x", "invalid JSON"),
        ('{"a":1,"a":2}', "duplicate"),
        ("NaN", "invalid"),
        ("", "empty"),
    ]:
        assert reason in error_of(call, "jsondecode", bad)


def test_yamlencode_follows_go_cty_yaml(call) -> None:
    assert call("yamlencode", {"a": "b"}).as_str() == '"a": "b"\n'
    assert call("yamlencode", ["b"]).as_str() == '- "b"\n'
    assert call("yamlencode", "hello\nworld").as_str() == "|-\n  hello\n  world\n"
    assert call("yamlencode", True).as_str() == "true\n...\n"
    assert call("yamlencode", None).as_str() == "null\n...\n"
    assert call("yamlencode", {}).as_str() == "{}\n"
    nested = {"list": ["a", 1, None], "m": {"k": "x\ny\n"}, "e": []}
    assert call("yamlencode", nested).as_str() == (
        '"e": []\n"list":\n- "a"\n- 1\n- null\n"m":\n  "k": |\n    x\n    y\n'
    )
    assert (
        call("yamlencode", [{"a": 1, "b": 2}, [1, 2]]).as_str()
        == '- "a": 1\n  "b": 2\n- - 1\n  - 2\n'
    )
    assert call("yamlencode", "tab\there").as_str() == '"tab\\there"\n'
    assert call("yamlencode", "keep\n\n").as_str() == "|+\n  keep\n\n...\n"
    assert call("yamlencode", " lead\nx").as_str() == "|2-\n   lead\n  x\n"
    assert call("yamlencode", "trailing space \nx").as_str() == '"trailing space \\nx"\n'


def test_yamldecode_uses_yaml_1_1_scalars(call) -> None:
    assert to_python(call("yamldecode", "a: 1\nb: [x, true]\n")) == {"a": 1, "b": ["x", True]}
    assert to_python(
        call("yamldecode", "x: yes\nw: off\nz: ~\nq: '1'\nt: 2001-12-14\nh: 0x1f")
    ) == {
        "x": True,
        "w": False,
        "z": None,
        "q": "1",
        "t": "2001-12-14T00:00:00Z",
        "h": "0x1f",
    }
    merged = call("yamldecode", "a: &x {b: 1}\nd:\n  <<: *x\n  e: 2\n")
    assert to_python(merged) == {"a": {"b": 1}, "d": {"b": 1, "e": 2}}
    assert call("yamldecode", "").is_null
    assert "extra content" in error_of(call, "yamldecode", "a: 1\n---\nb: 2\n")
    assert "NaN" in error_of(call, "yamldecode", "x: .nan")
    assert "unsupported tag" in error_of(call, "yamldecode", "x: !custom 1")
    assert "line 1" in error_of(call, "yamldecode", "a: [")
    assert "cannot be null" in error_of(call, "yamldecode", "~: 1")
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)
    )
    assert "excessive aliasing" in error_of(call, "yamldecode", bomb)
    assert "only strings" in error_of(call, "yamldecode", "? [a]\n: 1")


def test_csvdecode(call) -> None:
    rows = call("csvdecode", 'a,b\n1,2\r\n3,"4""x"\n\n5,"multi\nline"\n')
    assert to_python(rows) == [
        {"a": "1", "b": "2"},
        {"a": "3", "b": '4"x'},
        {"a": "5", "b": "multi\nline"},
    ]
    assert to_python(call("csvdecode", '"just","header"')) == []
    assert "missing header" in error_of(call, "csvdecode", "")
    assert "wrong number of fields" in error_of(call, "csvdecode", "a,b\n1\n")
    assert 'bare "' in error_of(call, "csvdecode", 'invalid"thing"')
    assert "extraneous" in error_of(call, "csvdecode", '"a"b\n')


def test_text_encodings_use_iana_names(call) -> None:
    assert call("textencodebase64", "Hello", "UTF-16LE").as_str() == "SABlAGwAbABvAA=="
    assert call("textencodebase64", "Hello", "UTF-16").as_str() == "/v8ASABlAGwAbABv"
    assert call("textencodebase64", "é", "windows-1252").as_str() == "6Q=="
    assert (
        call("textdecodebase64", "SABlAGwAbABvACAAVwBvAHIAbABkAA==", "UTF-16LE").as_str()
        == "Hello World"
    )
    assert call("textdecodebase64", "6Q==", "ISO-8859-1").as_str() == "é"
    assert "cannot be represented" in error_of(call, "textencodebase64", "€", "ISO-8859-1")
    assert "not a supported IANA encoding" in error_of(call, "textencodebase64", "x", "base64")
    assert "not a supported IANA encoding" in error_of(
        call, "textencodebase64", "x", "not-an-encoding"
    )
    assert "failed to decode base64" in error_of(call, "textdecodebase64", "!!", "UTF-8")
