"""Collection functions, called with HCL values."""

from __future__ import annotations

from decimal import Decimal

from bakehouse.hcl.values import (
    BOOL,
    DYNAMIC,
    NUMBER,
    STRING,
    ListType,
    MapType,
    ObjectType,
    SetType,
    TupleType,
    boolean,
    list_value,
    map_value,
    null,
    number,
    set_value,
    string,
    to_python,
    unknown,
)
from fnsupport import error_of


def strings(*items: str):
    return list_value([string(s) for s in items], STRING)


def test_alltrue_and_anytrue(call) -> None:
    assert call("alltrue", []).as_bool() is True
    assert call("alltrue", ["true", True]).as_bool() is True
    assert call("alltrue", list_value([boolean(True), null(BOOL)], BOOL)).as_bool() is False
    assert call("anytrue", []).as_bool() is False
    assert call("anytrue", list_value([null(BOOL), boolean(True)], BOOL)).as_bool() is True
    assert not call("anytrue", list_value([unknown(BOOL), boolean(False)], BOOL)).is_known
    assert "bool" in error_of(call, "alltrue", ["maybe"])


def test_chunklist(call) -> None:
    assert to_python(call("chunklist", ["a", "b", "c"], 2)) == [["a", "b"], ["c"]]
    assert to_python(call("chunklist", [1, 2, 3], 0)) == [[1, 2, 3]]
    assert call("chunklist", [], 2).type == ListType(ListType(DYNAMIC))
    assert "must be positive" in error_of(call, "chunklist", ["a"], -1)


def test_coalesce_skips_null_and_empty_strings(call) -> None:
    assert call("coalesce", None, False, "hello").as_str() == "false"
    assert call("coalesce", "", "b").as_str() == "b"
    assert call("coalesce", 1, "x").as_str() == "1"
    assert call("coalesce", None, 2).as_number() == 2
    assert "non-null, non-empty-string" in error_of(call, "coalesce", "", None)
    assert "same type" in error_of(call, "coalesce", 1, True)
    assert not call("coalesce", unknown(STRING), "x").is_known


def test_coalescelist(call) -> None:
    assert to_python(call("coalescelist", [], ["c", "d"])) == ["c", "d"]
    assert to_python(call("coalescelist", None, [], [1])) == [1]
    assert "no non-null arguments" in error_of(call, "coalescelist", [], [])
    assert "lists or tuples" in error_of(call, "coalescelist", {"a": True}, {"b": False})


def test_compact_concat_contains_distinct(call) -> None:
    assert to_python(
        call("compact", list_value([string("a"), null(STRING), string("")], STRING))
    ) == ["a"]
    mixed = call("concat", [1], ["foo"], [True])
    assert isinstance(mixed.type, TupleType) and to_python(mixed) == [1, "foo", True]
    lists = call("concat", list_value([number(1)], NUMBER), strings("a"))
    assert lists.type == ListType(STRING) and to_python(lists) == ["1", "a"]
    assert "lists or tuples" in error_of(call, "concat", "a", "b")
    assert call("contains", [1, 2, 3], 1).as_bool() is True
    assert call("contains", [1, 2, 3], "1").as_bool() is False
    assert call("contains", set_value([string("a")]), "a").as_bool() is True
    assert to_python(call("distinct", ["a", "b", "a", "c", "b"])) == ["a", "b", "c"]


def test_element_wraps_and_rejects_bad_indexes(call) -> None:
    assert call("element", ["a", "b", "c"], 4).as_str() == "b"
    assert "negative index" in error_of(call, "element", ["a"], -1)
    assert "empty list" in error_of(call, "element", [], 0)
    assert "whole number" in error_of(call, "element", ["a"], 0.5)


def test_flatten(call) -> None:
    assert to_python(call("flatten", [["a", ["b"]], [], "c"])) == ["a", "b", "c"]
    assert to_python(call("flatten", [set_value([number(2), number(1)])])) == [1, 2]
    assert "can only flatten" in error_of(call, "flatten", "a")


def test_index_is_a_position_search_without_conversion(call) -> None:
    assert call("index", ["a", "b", "c"], "b").as_number() == 1
    assert "item not found" in error_of(call, "index", ["1", "2"], 1)
    assert "empty list" in error_of(call, "index", [], "a")
    assert "list or tuple" in error_of(call, "index", {"a": 1}, 1)


def test_keys_and_values_follow_key_order(call) -> None:
    obj = {"b": 1, "a": "x"}
    assert to_python(call("keys", obj)) == ["a", "b"]
    assert to_python(call("values", obj)) == ["x", 1]
    as_map = map_value({"z": number(1), "y": number(2)}, NUMBER)
    assert call("keys", as_map).type == ListType(STRING)
    assert to_python(call("values", as_map)) == [2, 1]
    assert "map or object" in error_of(call, "values", [1])


def test_lookup_converts_the_default_to_a_maps_element_type(call) -> None:
    assert call("lookup", {"a": "x"}, "a", "d").as_str() == "x"
    str_map = map_value({"a": string("x")}, STRING)
    assert call("lookup", str_map, "b", 5).as_str() == "5"
    assert call("lookup", str_map, "a", 5).as_str() == "x"
    # an object (an HCL literal) has no element type: the default keeps its own, as in cty
    assert call("lookup", {"a": "x"}, "b", 5).as_number() == 5
    num_map = map_value({"a": number(1)}, NUMBER)
    assert "same type as the map elements" in error_of(call, "lookup", num_map, "b", "x")
    assert "Not enough function arguments" in error_of(call, "lookup", {"a": 1}, "a")


def test_merge(call) -> None:
    assert to_python(call("merge", {"a": "b", "c": "d"}, {"a": "x"})) == {"a": "x", "c": "d"}
    assert to_python(call("merge", {"a": 1}, None, {"b": "x"})) == {"a": 1, "b": "x"}
    assert to_python(call("merge")) == {}
    maps = call("merge", map_value({"a": string("1")}), map_value({"b": string("2")}))
    assert maps.type == MapType(STRING)
    assert "maps or objects" in error_of(call, "merge", {"a": "b"}, ["a"])


def test_range(call) -> None:
    assert to_python(call("range", 3)) == [0, 1, 2]
    assert to_python(call("range", -5)) == [0, -1, -2, -3, -4]
    assert to_python(call("range", 0, 2, 0.5)) == [0, 0.5, 1, 1.5]
    assert to_python(call("range", 1, 1)) == []
    assert "step must not be zero" in error_of(call, "range", 1, 2, 0)
    assert "positive" in error_of(call, "range", 0, 3, -1)
    assert "more than 1024" in error_of(call, "range", 2000)
    assert "no arguments" in error_of(call, "range")


def test_reverse_and_slice(call) -> None:
    assert to_python(call("reverse", ["a", 1])) == [1, "a"]
    assert to_python(call("reverse", set_value([string("b"), string("a")]))) == ["b", "a"]
    assert to_python(call("slice", ["a", "b", "c", "d"], 1, 3)) == ["b", "c"]
    assert to_python(call("slice", ["a"], 1, 1)) == []
    assert "greater than the length" in error_of(call, "slice", ["a"], 0, 2)
    assert "less than or equal" in error_of(call, "slice", ["a", "b", "c"], 2, 1)


def test_set_functions(call) -> None:
    inter = call("setintersection", ["a", "b"], ["b", "c"])
    assert inter.type == SetType(STRING) and to_python(inter) == ["b"]
    assert to_python(call("setunion", ["b", "a"], ["c"])) == ["a", "b", "c"]
    assert to_python(call("setunion", [10, 9], [1])) == [1, 9, 10]
    product = call("setproduct", ["a", "b"], ["x", 3])
    assert product.type == ListType(TupleType([STRING, STRING]))
    assert to_python(product) == [["a", "x"], ["a", "3"], ["b", "x"], ["b", "3"]]
    from_sets = call("setproduct", set_value([string("a")]), ["x"])
    assert isinstance(from_sets.type, SetType)
    assert to_python(call("setproduct", [], ["a"])) == []
    assert "at least two" in error_of(call, "setproduct", ["a"])
    big = list(range(200))
    assert "at most" in error_of(call, "setproduct", big, big, big)


def test_sort_sum_zipmap(call) -> None:
    assert to_python(call("sort", ["10", "9", "1"])) == ["1", "10", "9"]
    assert "null" in error_of(call, "sort", list_value([null(STRING)], STRING))
    assert call("sum", [10.2, 19.4, 5.7]).as_number() == __import__("decimal").Decimal("35.3")
    assert call("sum", ["1", 2]).as_number() == 3
    assert "empty" in error_of(call, "sum", [])
    assert "noniterable" in error_of(call, "sum", 12)
    assert "of number values" in error_of(call, "sum", ["a"])
    assert "opposing infinities" in error_of(
        call, "sum", [number(Decimal("Infinity")), number(Decimal("-Infinity"))]
    )
    zipped = call("zipmap", ["a", "b"], [1, "x"])
    assert isinstance(zipped.type, ObjectType) and to_python(zipped) == {"a": 1, "b": "x"}
    assert call("zipmap", ["a"], list_value([number(1)])).type == MapType(NUMBER)
    assert "does not match" in error_of(call, "zipmap", ["a"], [])


def test_merge_of_maps_with_different_types_is_an_object(call) -> None:
    mixed = call("merge", map_value({"a": string("x")}), map_value({"b": number(1)}))
    assert isinstance(mixed.type, ObjectType)
    assert to_python(mixed) == {"a": "x", "b": 1}
