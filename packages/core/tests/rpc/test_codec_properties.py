"""Property: any plain value survives a call message round trip unchanged."""

from __future__ import annotations

from typing import Any

from bakehouse.rpc.codec import Call, decode_message, encode_message
from hypothesis import given, settings
from hypothesis import strategies as st

plain = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False) | st.text() | st.binary(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=100, deadline=None)
@given(args=st.lists(plain, max_size=4), kwargs=st.dictionaries(st.text(max_size=8), plain, max_size=3))
def test_plain_values_round_trip(args: list[Any], kwargs: dict[str, Any]) -> None:
    message = Call(id=1, obj=0, method="m", args=args, kwargs=kwargs)
    assert decode_message(encode_message(message)) == message
