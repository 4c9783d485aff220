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


# -- hostile frames: whatever a peer sends, decoding ends in a message or a ProtocolError

def _session() -> Any:
    import os

    from bakehouse.rpc.session import Session
    from bakehouse.rpc.transport import PipeTransport

    read_fd, write_fd = os.pipe()
    return Session(PipeTransport(read_fd, write_fd), initiator=True, name="fuzzed-peer")


def _nested_ext(depth: int, code: int) -> bytes:
    import msgpack

    value: bytes = msgpack.packb(None)
    for _ in range(depth):
        value = msgpack.packb(msgpack.ExtType(code, value), use_bin_type=True)
    return value


def _decode_or_protocol_error(frame: bytes) -> None:
    from bakehouse.rpc.codec import ProtocolError
    from bakehouse.rpc.session import _Scope

    session = _session()
    try:
        decode_message(frame, session._ext_hook(_Scope()))
    except ProtocolError:
        pass


@settings(max_examples=300, deadline=None)
@given(frame=st.binary(max_size=512))
def test_random_bytes_never_escape_as_anything_but_protocol_errors(frame: bytes) -> None:
    _decode_or_protocol_error(frame)


@settings(max_examples=60, deadline=None)
@given(depth=st.integers(min_value=0, max_value=3000), code=st.integers(min_value=0, max_value=127))
def test_nested_extension_values_are_bounded(depth: int, code: int) -> None:
    import msgpack
    from bakehouse.rpc.codec import MAX_EXT_DEPTH, ProtocolError
    from bakehouse.rpc.session import _Scope

    inner = msgpack.unpackb(_nested_ext(depth, code), raw=False, ext_hook=msgpack.ExtType) if depth else None
    frame = msgpack.packb({"t": "return", "id": 1, "value": inner}, use_bin_type=True)
    session = _session()
    try:
        decode_message(frame, session._ext_hook(_Scope()))
    except ProtocolError as exc:
        if depth > MAX_EXT_DEPTH and code == 6:
            assert f"deeper than {MAX_EXT_DEPTH}" in str(exc)
    else:
        assert depth == 0 or depth <= MAX_EXT_DEPTH


@settings(max_examples=100, deadline=None)
@given(body=st.dictionaries(st.sampled_from(["t", "id", "obj", "method", "args", "kwargs", "value",
                                             "error", "ctx", "stream", "data", "n", "x"]),
                            st.one_of(st.sampled_from(["call", "return", "error", "cancel", "data",
                                                       "end", "credit", "shutdown", "hello"]),
                                      st.integers(min_value=-(2**63), max_value=2**64 - 1), st.none(),
                                      st.binary(max_size=8),
                                      st.lists(st.integers(min_value=0, max_value=2**32), max_size=3)),
                            max_size=7))
def test_malformed_messages_are_protocol_errors(body: dict[str, Any]) -> None:
    import msgpack

    _decode_or_protocol_error(msgpack.packb(body, use_bin_type=True))
