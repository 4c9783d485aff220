"""Evaluator: operators, conditionals, for, splats, access, functions, unknown and
sensitive propagation, type constraints, and errors with positions."""

from __future__ import annotations

from decimal import Decimal

import pytest
from bakehouse.hcl.diagnostics import Diagnostics
from bakehouse.hcl.evaluator import EvalContext, evaluate, evaluate_type
from bakehouse.hcl.function import Function, FunctionError, Param
from bakehouse.hcl.parser import parse_expression, parse_text
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
    Value,
    from_python,
    list_value,
    number,
    set_value,
    string,
    to_python,
    unknown,
)


def ev(text: str, ctx: EvalContext | None = None, **variables: object) -> Value:
    ctx = ctx or EvalContext({k: from_python(v) for k, v in variables.items()})
    return evaluate(parse_expression(text), ctx)


def py(text: str, **variables: object) -> object:
    return to_python(ev(text, **variables))


def error_of(text: str, ctx: EvalContext | None = None, **variables: object) -> tuple[str, str, int, int]:
    with pytest.raises(Diagnostics) as info:
        ev(text, ctx, **variables)
    d = info.value.items[0]
    assert d.pos is not None
    return d.summary, d.detail, d.pos.line, d.pos.column


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("10 - 2 - 3", 5),
        ("-7 % 3", -1),
        ("7 % -3", 1),
        ("7.5 % 2", 1.5),
        ('"3" * "2"', 6),
        ("1 < 2 == true", True),
        ("!true || true && false", False),
        ("- -1", 1),
        ("!!true", True),
        ("1 == 1.0", True),
        ('1 == "1"', False),
        ("null == null", True),
        ("[1, [2]] == [1, [2]]", True),
        ("{a = 1} != {a = 1}", False),
        ("0.1 + 0.2 == 0.3", True),
        ("true ? 1 : 2", 1),
        ("false ? 1 : true ? 2 : 3", 2),
    ],
)
def test_operators_and_precedence(text: str, expected: object) -> None:
    assert py(text) == expected


def test_big_numbers_stay_exact() -> None:
    assert ev("123456789012345678901234567890 * 10").as_number() == Decimal("1234567890123456789012345678900")


def test_division_by_zero_is_infinity_and_zero_by_zero_an_error() -> None:
    assert ev("1 / 0").as_number() == Decimal("Infinity")
    assert ev("-1 / 0").as_number() == Decimal("-Infinity")
    assert error_of("0 / 0")[0] == "Division by zero"


def test_conditional_unifies_result_types() -> None:
    assert ev('true ? 1 : "a"') == string("1")
    assert ev("false ? null : 5") == number(5)
    assert ev('true ? null : "x"').type == STRING
    summary, detail, _, _ = error_of("true ? 1 : false")
    assert summary == "Inconsistent conditional result types"


def test_conditional_does_not_report_errors_of_the_branch_not_taken() -> None:
    assert py('length(l) > 0 ? l[0] : "none"', l=[]) == "none"


def test_conditional_with_unknown_predicate_is_unknown() -> None:
    ctx = EvalContext({"c": unknown(BOOL)})
    v = ev("c ? 1 : 2", ctx)
    assert not v.is_known and v.type == NUMBER


def test_for_expressions() -> None:
    assert py("[for x in [1, 2, 3] : x * 2 if x > 1]") == [4, 6]
    assert py("[for i, v in ['a', 'b'] : \"${i}${v}\"]".replace("'", '"')) == ["0a", "1b"]
    assert py("{for k, v in {b = 2, a = 1} : v => k}") == {"1": "a", "2": "b"}
    assert py('{for s in ["aa", "ab", "b"] : substr(s, 0, 1) => s...}') == {"a": ["aa", "ab"], "b": ["b"]}
    assert py("[for k, v in {b = 1, a = 2} : k]") == ["a", "b"]


def test_for_over_a_set_uses_set_order() -> None:
    ctx = EvalContext({"s": set_value([string("b"), string("a")])})
    assert to_python(ev("[for k, v in s : k]", ctx)) == ["a", "b"]


def test_for_duplicate_key_without_grouping_is_an_error() -> None:
    summary, detail, line, col = error_of('{for x in ["a", "a"] : x => 1}')
    assert summary == "Duplicate object key" and "..." in detail
    assert col == 24


def test_for_over_unknown_collection_is_unknown() -> None:
    assert not ev("[for x in u : x]", EvalContext({"u": unknown()})).is_known


def test_index_and_attribute_access() -> None:
    data = {"list": [10, 20], "obj": {"a": {"b": "c"}}}
    assert py("d.list[1]", d=data) == 20
    assert py('d.list["1"]', d=data) == 20
    assert py("d.list.0", d=data) == 10
    assert py('d.obj["a"].b', d=data) == "c"
    summary, detail, _, _ = error_of("d.list[2]", d=data)
    assert summary == "Invalid index" and "out of range" in detail
    summary, detail, _, col = error_of("d.obj.x", d=data)
    assert summary == "Unsupported attribute" and col == 6


def test_set_elements_cannot_be_indexed() -> None:
    ctx = EvalContext({"s": set_value([string("a")])})
    assert error_of("s[0]", ctx)[0] == "Invalid index"


def test_full_splat_applies_every_following_step() -> None:
    items = [{"a": {"b": [1, 2]}}, {"a": {"b": [3, 4]}}]
    assert py("items[*].a.b[0]", items=items) == [1, 3]


def test_attribute_splat_ends_at_the_first_index() -> None:
    items = [{"a": {"b": 1}}, {"a": {"b": 2}}]
    assert py("items.*.a[1].b", items=items) == 2


def test_nested_full_splats_map_per_element() -> None:
    a = [{"b": [{"c": 1}, {"c": 2}]}, {"b": [{"c": 3}]}]
    assert py("a[*].b[*].c", a=a) == [[1, 2], [3]]


def test_splat_of_null_and_of_a_single_value() -> None:
    assert py("null[*]") == []
    assert py('"x"[*]') == ["x"]
    assert py("{a = 1}[*].a") == [1]


def test_splat_over_a_list_gives_a_list() -> None:
    ctx = EvalContext({"l": list_value([from_python({"n": 1}), from_python({"n": 2})])})
    v = ev("l[*].n", ctx)
    assert v.type == ListType(NUMBER)


def test_unknown_variable_lists_similar_names() -> None:
    ctx = EvalContext({"var": from_python({"image": "x", "region": "y"}), "local": from_python({})})
    summary, detail, line, col = error_of("var.imgae", ctx)
    assert summary == "Unknown variable"
    assert 'var.imgae' in detail and '"var.image"' in detail
    assert (line, col) == (1, 4)
    summary, detail, _, _ = error_of("vra.image", ctx)
    assert summary == "Unknown variable" and '"var"' in detail


def test_unknown_function_suggests_names() -> None:
    summary, detail, _, _ = error_of("uper(1)", EvalContext(functions={"upper": _upper()}))
    assert summary == "Call to unknown function" and '"upper"' in detail


def _upper() -> Function:
    return Function(
        params=[Param("str", STRING)],
        impl=lambda args, fctx: string(args[0].as_str().upper()),
        return_type=STRING,
    )


def test_function_arguments_are_converted_and_checked() -> None:
    ctx = EvalContext(functions={"upper": _upper()})
    assert ev("upper(1)", ctx) == string("1")
    summary, detail, _, col = error_of("upper(null)", ctx)
    assert summary == "Invalid function argument" and col == 7
    summary, _, _, _ = error_of("upper()", ctx)
    assert summary == "Not enough function arguments"
    summary, _, _, col = error_of('upper("a", "b")', ctx)
    assert summary == "Too many function arguments" and col == 12
    summary, detail, _, _ = error_of("upper([1])", ctx)
    assert "string is required" in detail


def test_function_with_unknown_argument_is_not_called() -> None:
    called: list[int] = []

    def impl(args: list[Value], fctx: object) -> Value:
        called.append(1)
        return string("x")

    f = Function(params=[Param("s", STRING)], impl=impl, return_type=STRING)  # type: ignore[arg-type]
    v = ev("f(u)", EvalContext({"u": unknown()}, functions={"f": f}))
    assert not v.is_known and v.type == STRING and not called


def test_function_errors_point_at_the_argument() -> None:
    def impl(args: list[Value], fctx: object) -> Value:
        raise FunctionError("second is bad", 1)

    f = Function(params=[Param("a"), Param("b")], impl=impl)  # type: ignore[arg-type]
    summary, detail, _, col = error_of("f(1, 2)", EvalContext(functions={"f": f}))
    assert summary == "Error in function call" and "second is bad" in detail and col == 6


def test_expanding_the_final_argument() -> None:
    seen: list[int] = []

    def impl(args: list[Value], fctx: object) -> Value:
        seen.append(len(args))
        return number(sum(a.as_number() for a in args))

    f = Function(params=[], var_param=Param("n", NUMBER), impl=impl)  # type: ignore[arg-type]
    ctx = EvalContext(functions={"sum_all": f})
    assert ev("sum_all(1, [2, 3]...)", ctx) == number(6) and seen == [3]
    summary, _, _, _ = error_of('sum_all("x"...)', ctx)
    assert summary == "Invalid expanding argument"


def test_try_and_can_catch_evaluation_errors() -> None:
    assert py('try(nope, "fallback")') == "fallback"
    assert py("try({a = 1}.b, {a = 1}.a)") == 1
    assert py("can(nope)") is False
    assert py("can([1][0])") is True
    assert error_of("try(nope, nada)")[0] == "Error in function call"
    assert not ev("can(u)", EvalContext({"u": unknown()})).is_known


def test_convert_takes_a_type_expression() -> None:
    assert ev("convert([1, 2], list(string))") == list_value([string("1"), string("2")])
    assert ev('convert(["b", "a", "b"], set(string))').type == SetType(STRING)
    v = ev("convert({a = 1}, object({a = string, b = optional(number)}))")
    assert to_python(v) == {"a": "1", "b": None}
    assert error_of("convert(1, foo)")[0] == "Invalid type specification"
    assert error_of("convert({}, object({a = optional(string, \"x\")}))")[0] == "Invalid type specification"


def test_sensitive_values_propagate() -> None:
    ctx = EvalContext({"s": string("hunter2").with_sensitive(), "l": from_python(["a"]).with_sensitive()}, functions={"upper": _upper()})
    for text in ["s", "upper(s)", '"x${s}"', "s == \"x\"", "l[0]", "[for v in l : v]", 'true ? s : "x"', "[s][0]", "length(s) > 0 ? 1 : 0"]:
        if text.startswith("length"):
            continue
        assert ev(text, ctx).contains_sensitive, text


def test_unknown_values_propagate() -> None:
    ctx = EvalContext({"u": unknown(), "n": unknown(NUMBER)})
    for text in ["n + 1", "-n", '"${u}"', "u.x", "u[0]", "u[*].a", "n > 1", "[for x in u : x]", "{(u) = 1}"]:
        assert not ev(text, ctx).is_known, text
    assert ev("true || u", ctx).as_bool() is True
    assert ev("[u, 1]", ctx).type == TupleType([DYNAMIC, NUMBER])


def test_object_keys() -> None:
    assert py('{a = 1, "b c" = 2, (k) = 3, 4 = 5}', k="dyn") == {"a": 1, "b c": 2, "dyn": 3, "4": 5}
    assert py("{a = 1, a = 2}") == {"a": 2}


def test_evaluate_type_with_optional_defaults() -> None:
    expr = parse_expression('object({name = string, port = optional(number, 22), tags = optional(list(string), ["a"]), nested = optional(object({x = optional(bool, true)}), {})})')
    t, defaults = evaluate_type(expr)
    assert isinstance(t, ObjectType) and t.optional == frozenset({"port", "tags", "nested"})
    assert defaults is not None
    from bakehouse.hcl.values import convert

    value = convert(defaults.apply(from_python({"name": "web", "port": None})), t)
    assert to_python(value) == {"name": "web", "port": 22, "tags": ["a"], "nested": {"x": True}}


def test_evaluate_type_of_collections() -> None:
    cases = {
        "string": STRING,
        "any": DYNAMIC,
        "list(number)": ListType(NUMBER),
        "map(set(bool))": MapType(SetType(BOOL)),
        "tuple([string, number])": TupleType([STRING, NUMBER]),
    }
    for text, expected in cases.items():
        assert evaluate_type(parse_expression(text)) == (expected, None)


@pytest.mark.parametrize("text", ['"string"', "lst(string)", "list", "optional(string)", "object({a = 1})"])
def test_invalid_type_expressions_are_diagnostics(text: str) -> None:
    with pytest.raises(Diagnostics) as info:
        evaluate_type(parse_expression(text))
    assert info.value.items[0].summary.startswith("Invalid type specification")


def test_error_positions_in_a_file() -> None:
    body = parse_text('a = 1\nb = {\n  c = [1, 2][5]\n}\n', "t.pkr.hcl")
    with pytest.raises(Diagnostics) as info:
        evaluate(body.attributes["b"].expr, EvalContext())
    pos = info.value.items[0].pos
    assert (pos.filename, pos.line, pos.column) == ("t.pkr.hcl", 3, 13)


def test_child_context_shadows_and_inherits() -> None:
    parent = EvalContext({"a": number(1), "b": number(2)})
    child = parent.child({"a": number(10)})
    assert ev("a + b", child) == number(12)
    assert ev("a", parent) == number(1)
