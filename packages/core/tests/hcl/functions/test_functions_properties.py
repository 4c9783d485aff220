"""Property-based checks: random values into every function, and round trips."""

from __future__ import annotations

from decimal import Decimal

from bakehouse.hcl.evaluator import call_function
from bakehouse.hcl.function import FunctionContext
from bakehouse.hcl.functions import FUNCTIONS
from bakehouse.hcl.values import EvalError, Value, from_python, null, number, unknown
from fnsupport import HERE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SKIP = {"bcrypt"}  # deliberately slow by design; covered by its own tests

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-1000, max_value=1000),
    st.text(max_size=12),
    st.sampled_from(
        [
            "%v",
            "%d",
            "%s %q",
            "10.0.0.0/8",
            "::/64",
            "2006-01-02T15:04:05Z",
            "1h",
            "[a-z]+",
            "(x)",
            "a,b\n1,2",
        ]
    ),
)
plain_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=10,
)


def to_value(obj: object) -> Value:
    if isinstance(obj, Decimal):
        return number(obj)
    if isinstance(obj, list):
        return from_python([to_value(x) for x in obj])
    if isinstance(obj, dict):
        return from_python({k: to_value(v) for k, v in obj.items()})
    return from_python(obj)


values = st.one_of(plain_values.map(to_value), st.just(unknown()), st.just(null()))


@settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(name=st.sampled_from(sorted(set(FUNCTIONS) - SKIP)), args=st.lists(values, max_size=4))
def test_any_arguments_give_a_value_or_a_clean_error(name: str, args: list[Value]) -> None:
    function = FUNCTIONS[name]
    fctx = FunctionContext(base_dir="/nonexistent-bakehouse-dir")
    try:
        result = call_function(name, function, args, [HERE] * len(args), HERE, fctx)
    except EvalError as exc:
        assert "unexpectedly" not in exc.detail, exc.detail
    else:
        assert isinstance(result, Value)


@settings(max_examples=100, deadline=None, database=None)
@given(plain_values.map(to_value))
def test_jsonencode_then_jsondecode_round_trips(value: Value) -> None:
    encoded = call_function(
        "jsonencode", FUNCTIONS["jsonencode"], [value], [HERE], HERE, FunctionContext()
    )
    decoded = call_function(
        "jsondecode", FUNCTIONS["jsondecode"], [encoded], [HERE], HERE, FunctionContext()
    )
    again = call_function(
        "jsonencode", FUNCTIONS["jsonencode"], [decoded], [HERE], HERE, FunctionContext()
    )
    assert again.as_str() == encoded.as_str()


@settings(max_examples=100, deadline=None, database=None)
@given(plain_values.map(to_value))
def test_yamlencode_then_yamldecode_round_trips(value: Value) -> None:
    yaml_text = call_function(
        "yamlencode", FUNCTIONS["yamlencode"], [value], [HERE], HERE, FunctionContext()
    )
    decoded = call_function(
        "yamldecode", FUNCTIONS["yamldecode"], [yaml_text], [HERE], HERE, FunctionContext()
    )
    as_json = [
        call_function(
            "jsonencode", FUNCTIONS["jsonencode"], [v], [HERE], HERE, FunctionContext()
        ).as_str()
        for v in (value, decoded)
    ]
    assert as_json[0] == as_json[1], yaml_text.as_str()
