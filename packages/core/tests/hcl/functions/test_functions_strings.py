"""String functions, called with HCL values."""

from __future__ import annotations

import pytest
from bakehouse.hcl.values import STRING, ListType, list_value, string, to_python, unknown
from fnsupport import error_of


@pytest.mark.parametrize(
    ("fmt", "args", "want"),
    [
        ("%v|%v|%v", ["s", 1.5, True], "s|1.5|true"),
        ("%v", [1000000], "1e+06"),
        ("%v", [[1, "a", {"b": None}]], '[1,"a",{"b":null}]'),
        ("%#v", ["a<b"], '"a\\u003cb"'),
        ("%v", [None], "null"),
        (
            "%5.2f|%-10.3e|%g|%G",
            [3.14159, 12345.678, 0.00001234, 1e21],
            " 3.14|1.235e+04 |1.234e-05|1E+21",
        ),
        ("%x %X %o %b %#x", [255, 255, 8, 5, 255], "ff FF 10 101 0xff"),
        ("%08d|%+.3d|% d", [-42, 7, 5], "-0000042|+007| 5"),
        ("%[2]s %[1]s %s", ["a", "b"], "b a b"),
        ("%10q|", ["hi"], '      "hi"|'),
        ("%-4s|%4s|", ["é", "😸"], "é   |   😸|"),
        ("%.1s", ["noël"], "n"),
        ("%.3s", ["noël"], "noë"),
        ("100%%", [], "100%"),
        ("%t", ["true"], "true"),
        ("%d", ["12"], "12"),
        ("%s", [12], "12"),
        ("%f", [1], "1.000000"),
        ("%.0f|%.0f", [2.5, 3.5], "2|4"),
    ],
)
def test_format_renders_go_verbs(call, fmt: str, args: list[object], want: str) -> None:
    assert call("format", fmt, *args).as_str() == want


@pytest.mark.parametrize(
    ("fmt", "args", "reason"),
    [
        ("%d", [1.5], "an integer is required"),
        ("%z", [1], "unsupported format verb"),
        ("%s", [None], "null value cannot be formatted"),
        ("%s", [], "not enough arguments"),
        ("%t", ["yes"], "cannot convert"),
        ("%s", [[1]], "string is required"),
        ("%", [1], "invalid format string"),
        ("%*d", [1, 2], "width or precision"),
    ],
)
def test_format_rejects_bad_verbs_and_values(
    call, fmt: str, args: list[object], reason: str
) -> None:
    assert reason in error_of(call, "format", fmt, *args)


def test_format_with_unknown_argument_is_unknown(call) -> None:
    assert not call("format", "%s", unknown(STRING)).is_known


def test_formatlist_iterates_lists_in_lockstep(call) -> None:
    result = call("formatlist", "%s=%d", ["a", "b"], [1, 2])
    assert to_python(result) == ["a=1", "b=2"]
    assert to_python(call("formatlist", "%s-%s", ["a", "b"], "x")) == ["a-x", "b-x"]
    assert to_python(call("formatlist", "%s", [])) == []
    assert to_python(call("formatlist", "no args")) == ["no args"]
    assert "inconsistent with argument 1" in error_of(call, "formatlist", "%s%s", ["a"], ["b", "c"])


def test_formatlist_unknown_element_gives_unknown_entry(call) -> None:
    items = list_value([string("a"), unknown(STRING)], STRING)
    result = call("formatlist", "<%s>", items)
    assert result.type == ListType(STRING)
    first, second = result.elements()
    assert first.as_str() == "<a>" and not second.is_known


def test_case_functions_follow_go_simple_mapping(call) -> None:
    assert call("upper", "жж").as_str() == "ЖЖ"
    assert call("upper", "straße").as_str() == "STRAßE"
    assert call("lower", "HELLO İ").as_str() == "hello i"
    assert call("title", "hello wORLD-foo_bar 3rd").as_str() == "Hello WORLD-Foo_bar 3rd"


def test_chomp_indent_and_trims(call) -> None:
    assert call("chomp", "hello\r\n\n").as_str() == "hello"
    assert call("chomp", "hello\n world").as_str() == "hello\n world"
    assert call("indent", 2, "a\nb\n").as_str() == "a\n  b\n  "
    assert "must not be negative" in error_of(call, "indent", -1, "a")
    assert call("trim", "?!hello?!", "!?").as_str() == "hello"
    assert call("trimprefix", "helloworld", "hello").as_str() == "world"
    assert call("trimprefix", "helloworld", "cat").as_str() == "helloworld"
    assert call("trimsuffix", "helloworld", "world").as_str() == "hello"
    assert call("trimspace", "\u00a0 \t hi \n\v").as_str() == "hi"


def test_join_and_split(call) -> None:
    assert call("join", ", ", ["a", "b"], ["c"]).as_str() == "a, b, c"
    assert call("join", ",", []).as_str() == ""
    assert "at least one list" in error_of(call, "join", ",")
    assert to_python(call("split", ",", "a,,b")) == ["a", "", "b"]
    assert to_python(call("split", ",", "")) == [""]
    assert to_python(call("split", "", "abc")) == ["a", "b", "c"]
    assert not call("join", ",", list_value([unknown(STRING)], STRING)).is_known


def test_predicates(call) -> None:
    assert call("startswith", "hello world", "hello").as_bool() is True
    assert call("endswith", "hello world", "hello").as_bool() is False
    assert call("strcontains", "hello", "ell").as_bool() is True
    assert call("strcontains", "abc", "").as_bool() is True


def test_regex_results_by_group_kind(call) -> None:
    assert call("regex", "[a-z]+", "53454abc23").as_str() == "abc"
    assert to_python(call("regex", r"(\d\d\d\d)-(\d\d)-(\d\d)", "2019-02-01")) == [
        "2019",
        "02",
        "01",
    ]
    named = call("regex", r"(?P<k>[a-z]+)=(?P<v>\d+)?", "key=")
    assert to_python(named) == {"k": "key", "v": None}
    assert "did not match" in error_of(call, "regex", "[a-z]+", "123")
    assert "invalid regular expression" in error_of(call, "regex", "(", "x")
    assert "cannot mix" in error_of(call, "regex", "(?P<a>x)(y)", "xy")
    assert to_python(call("regex", "(?P<a>x)(?:y)", "xy")) == {"a": "x"}


def test_regex_uses_re2_semantics(call) -> None:
    # `$` is end of text (no match before a final newline); \d is ASCII only.
    assert "did not match" in error_of(call, "regex", r"^\d$", "5\n")
    assert "did not match" in error_of(call, "regex", r"\d", "٣")
    assert call("regex", r"(?m)^b$", "a\nb\nc").as_str() == "b"
    assert call("regex", r"\Qa.b\E", "xa.by").as_str() == "a.b"
    assert to_python(call("regexall", r"\bfoo\b", "foo éfooé foo_ xfoo")) == ["foo", "foo"]
    assert "back-references" in error_of(call, "regex", r"(a)\1", "aa")
    assert "look-around" in error_of(call, "regex", r"a(?=b)", "ab")


def test_regexall_skips_empty_matches_next_to_a_match(call) -> None:
    assert to_python(call("regexall", "[a-z]+", "135abc456def789")) == ["abc", "def"]
    assert to_python(call("regexall", "([0-9]*)([a-z]*)", "135abc456def")) == [
        ["135", "abc"],
        ["456", "def"],
    ]
    assert to_python(call("regexall", "x*", "abc")) == ["", "", "", ""]
    assert to_python(call("regexall", "z", "abc")) == []


def test_regex_replace_expands_go_templates(call) -> None:
    assert call("regex_replace", "-ab-axxb-", "a(x*)b", "T").as_str() == "-T-T-"
    assert call("regex_replace", "-ab-axxb-", "a(x*)b", "$1W").as_str() == "---"
    assert call("regex_replace", "-ab-axxb-", "a(x*)b", "${1}W").as_str() == "-W-xxW-"
    assert (
        call("regex_replace", "k=v", "(?P<key>\\w)=(?P<val>\\w)", "${val}=${key}").as_str() == "v=k"
    )
    assert call("regex_replace", "a.b", "\\.", "$$").as_str() == "a$b"
    assert call("regex_replace", "abc", "x*", "-").as_str() == "-a-b-c-"


def test_replace_is_plain_substring(call) -> None:
    assert call("replace", "1 + 2 + 3", "+", "-").as_str() == "1 - 2 - 3"
    assert call("replace", "abc", "", "-").as_str() == "-a-b-c-"
    assert call("replace", "a.b", "/./", "x").as_str() == "a.b"


def test_grapheme_functions(call) -> None:
    assert call("strrev", "noël").as_str() == "lëon"
    assert call("substr", "hello", -3, -1).as_str() == "llo"
    assert call("substr", "hello", -10, 2).as_str() == "he"
    assert call("substr", "hello", 10, 10).as_str() == ""
    assert call("substr", "hello", 5, 1).as_str() == ""
    assert call("substr", "hello", 1, 0).as_str() == "ello"
    assert call("substr", "😸😾", 1, 1).as_str() == "😾"
    assert "whole number" in error_of(call, "substr", "hello", 1.5, 1)
    assert call("length", "wé́́é́́é́́!").as_number() == 5
    assert call("length", "Живой Журнал").as_number() == 12


def test_length_of_collections(call) -> None:
    assert call("length", []).as_number() == 0
    assert call("length", {"a": 1, "b": 2}).as_number() == 2
    assert call("length", ["a", "b", "c"]).as_number() == 3
    assert "must be a string, a collection type" in error_of(call, "length", 5)
    assert not call("length", unknown(ListType(STRING))).is_known


def test_regex_inline_flags_apply_to_the_rest_of_their_group(call) -> None:
    assert call("regex", "a(?i)b", "xaBx").as_str() == "aB"
    assert "did not match" in error_of(call, "regex", "^a(?i)b$", "AB")
    assert call("regex", "^(?:a(?i)b|c)$", "C").as_str() == "C"
    assert "did not match" in error_of(call, "regex", "^(x(?i)y)z$", "xYZ")
    assert "U (ungreedy)" in error_of(call, "regex", "(?U)a+", "aa")


def test_runaway_backtracking_is_stopped_with_an_error(
    call, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bakehouse.hcl.functions import _re2

    monkeypatch.setattr(_re2, "SEARCH_TIMEOUT_SECONDS", 0.2)
    message = error_of(call, "regex", "(a|aa)+$", "a" * 5000 + "!")
    assert "matching took longer" in message
