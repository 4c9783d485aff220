"""The value model: types, constructors, conversion and unification (cty rules)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from bakehouse.hcl.values import (
    BOOL,
    DYNAMIC,
    NUMBER,
    STRING,
    ConversionError,
    EvalError,
    ListType,
    MapType,
    ObjectType,
    SetType,
    TupleType,
    boolean,
    convert,
    format_number,
    from_python,
    list_value,
    map_value,
    null,
    number,
    object_value,
    set_value,
    string,
    to_python,
    tuple_value,
    unify,
    unknown,
    values_equal,
)


def test_types_are_hashable_and_compare_structurally() -> None:
    assert ListType(STRING) == ListType(STRING)
    assert ListType(STRING) != SetType(STRING)
    assert {ObjectType({"a": STRING}): 1}[ObjectType({"a": STRING})] == 1
    assert ObjectType({"a": STRING}, frozenset({"a"})) != ObjectType({"a": STRING})
    assert hash(TupleType([STRING, NUMBER])) == hash(TupleType((STRING, NUMBER)))


def test_friendly_names_for_messages() -> None:
    assert ListType(STRING).friendly() == "list of string"
    assert MapType(NUMBER).friendly() == "map of number"
    assert ObjectType({"a": STRING}).friendly() == "object"
    assert DYNAMIC.friendly() == "any"
    assert ObjectType({"b": NUMBER, "a": STRING}, {"b"}).expr() == "object({a = string, b = optional(number)})"


def test_values_are_immutable() -> None:
    v = string("x")
    with pytest.raises(AttributeError):
        v.type = NUMBER  # type: ignore[misc]


def test_accessors_reject_the_wrong_kind() -> None:
    assert string("hé").as_str() == "hé"
    assert number("1.50").as_number() == Decimal("1.5")
    assert boolean(True).as_bool() is True
    with pytest.raises(EvalError):
        string("1").as_number()
    with pytest.raises(EvalError):
        null(STRING).as_str()
    with pytest.raises(EvalError):
        unknown(STRING).as_str()


def test_length_counts_grapheme_clusters_and_elements() -> None:
    assert string("noe\u0308l").length() == 4
    assert tuple_value([number(1), string("a")]).length() == 2
    assert object_value({"a": number(1)}).length() == 1


def test_sets_deduplicate_and_order_like_cty() -> None:
    s = set_value([string("b"), string("a"), string("b")])
    assert [e.as_str() for e in s.elements()] == ["a", "b"]
    n = set_value([number(10), number(9), number(1), number("1.0")])
    assert [e.as_number() for e in n.elements()] == [1, 9, 10]


def test_list_value_unifies_element_types() -> None:
    v = list_value([number(1), string("a")])
    assert v.type == ListType(STRING)
    assert [e.as_str() for e in v.elements()] == ["1", "a"]
    with pytest.raises(ConversionError):
        list_value([number(1), boolean(True)])


def test_from_python_and_back() -> None:
    data = {"a": [1, 2.5, None, True, "x"], "b": {"c": Decimal("1e3")}}
    v = from_python(data)
    assert v.type.is_mapping
    assert to_python(v) == {"a": [1, 2.5, None, True, "x"], "b": {"c": 1000}}
    assert isinstance(to_python(number("1000")), int)


def test_to_python_unknown_raises_or_uses_placeholder() -> None:
    with pytest.raises(EvalError):
        to_python(unknown(STRING))
    assert to_python(tuple_value([unknown(), string("x")]), unknown_as="<unknown>") == ["<unknown>", "x"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1.50", "1.5"), ("1e3", "1000"), ("-0.000", "0"), ("123456789012345678901234567890", "123456789012345678901234567890"), ("0.1", "0.1"), ("1E-7", "0.0000001")],
)
def test_format_number_shortest_exact_decimal(text: str, expected: str) -> None:
    assert format_number(Decimal(text)) == expected


def test_decimal_arithmetic_is_exact() -> None:
    a = number("0.1").as_number() + number("0.2").as_number()
    assert a == Decimal("0.3")


@pytest.mark.parametrize(
    ("value", "target", "expected"),
    [
        (number(1.5), STRING, string("1.5")),
        (string("1e3"), NUMBER, number(1000)),
        (boolean(True), STRING, string("true")),
        (string("false"), BOOL, boolean(False)),
        (string("1"), BOOL, boolean(True)),
        (string("0"), BOOL, boolean(False)),
        (tuple_value([number(1), number(2)]), ListType(STRING), list_value([string("1"), string("2")])),
        (tuple_value([string("b"), string("a"), string("a")]), SetType(STRING), set_value([string("a"), string("b")])),
        (object_value({"a": number(1)}), MapType(STRING), map_value({"a": string("1")})),
        (null(), STRING, null(STRING)),
    ],
)
def test_convert_follows_cty_rules(value, target, expected) -> None:  # type: ignore[no-untyped-def]
    assert convert(value, target) == expected


@pytest.mark.parametrize(
    ("value", "target"),
    [
        (boolean(True), NUMBER),
        (number(1), BOOL),
        (string("yes"), BOOL),
        (string(" 1"), NUMBER),
        (string("0x10"), NUMBER),
        (tuple_value([number(1), boolean(True)]), ListType(DYNAMIC)),
        (string("a"), ListType(STRING)),
        (tuple_value([number(1)]), TupleType([NUMBER, NUMBER])),
    ],
)
def test_convert_rejects_impossible_conversions(value, target) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConversionError):
        convert(value, target)


def test_convert_tuple_to_list_of_any_unifies() -> None:
    v = convert(tuple_value([number(1), string("a")]), ListType(DYNAMIC))
    assert v.type == ListType(STRING)


def test_convert_object_drops_extras_and_fills_optionals() -> None:
    target = ObjectType({"a": STRING, "b": NUMBER}, {"b"})
    v = convert(object_value({"a": number(1), "extra": boolean(True)}), target)
    assert v.type == ObjectType({"a": STRING, "b": NUMBER})
    assert v.items() == {"a": string("1"), "b": null(NUMBER)}


def test_convert_object_missing_required_attribute_names_it() -> None:
    with pytest.raises(ConversionError, match='attribute "a" is required'):
        convert(object_value({}), ObjectType({"a": STRING}))


def test_conversion_error_has_a_path() -> None:
    with pytest.raises(ConversionError) as info:
        convert(tuple_value([number(1), tuple_value([])]), ListType(NUMBER))
    assert info.value.path == ("[1]",)


def test_convert_keeps_sensitive_and_unknown() -> None:
    assert convert(number(1).with_sensitive(), STRING).sensitive
    u = convert(unknown(), ListType(STRING))
    assert not u.is_known and u.type == ListType(STRING)


@pytest.mark.parametrize(
    ("types", "expected"),
    [
        ([STRING, STRING], STRING),
        ([NUMBER, STRING], STRING),
        ([NUMBER, BOOL], None),
        ([ListType(NUMBER), ListType(STRING)], ListType(STRING)),
        ([TupleType([NUMBER]), TupleType([STRING])], TupleType([STRING])),
        ([TupleType([NUMBER, NUMBER]), TupleType([NUMBER])], ListType(NUMBER)),
        ([ObjectType({"a": NUMBER}), ObjectType({"b": STRING})], MapType(STRING)),
        ([STRING, DYNAMIC], DYNAMIC),
        ([ListType(STRING), STRING], None),
    ],
)
def test_unify(types, expected) -> None:  # type: ignore[no-untyped-def]
    assert unify(types) == expected


def test_equality_does_not_convert() -> None:
    assert values_equal(number(1), number("1.0")).as_bool()
    assert not values_equal(number(1), string("1")).as_bool()
    assert values_equal(null(), null(STRING)).as_bool()
    assert values_equal(tuple_value([number(1)]), tuple_value([number(1)])).as_bool()
    assert not values_equal(unknown(), number(1)).is_known


def test_sensitive_mark() -> None:
    v = string("secret").with_sensitive()
    assert v.sensitive and not string("secret").sensitive
    assert v != string("secret")
    assert tuple_value([v]).contains_sensitive


def test_equality_with_unknown_parts_is_unknown_unless_decided() -> None:
    a = tuple_value([unknown(NUMBER), number(1)])
    assert not values_equal(a, tuple_value([number(2), number(1)])).is_known
    assert values_equal(a, tuple_value([number(2), number(3)])).as_bool() is False
    assert values_equal(a, tuple_value([number(2)])).as_bool() is False
