"""Property: any plain value survives a call message round trip unchanged."""

from __future__ import annotations

import functools
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

@functools.cache
def _session() -> Any:
    """One unstarted session for every example: decoding never touches its pipe
    (a pipe per example leaked hundreds of descriptors into the test process)."""
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


@settings(max_examples=150, deadline=None)
@given(code=st.integers(min_value=-128, max_value=127), payload=st.binary(max_size=64),
       where=st.sampled_from(["args", "value"]))
def test_any_extension_type_with_any_payload_is_a_message_or_a_protocol_error(
    code: int, payload: bytes, where: str
) -> None:
    """Unknown codes, msgpack's own timestamp (-1) with a bad body, and our
    codes with garbage inside: decoding ends cleanly either way."""
    import struct

    import msgpack

    # ext 8 written by hand: msgpack.ExtType refuses the negative (reserved) codes.
    ext = b"\xc7" + struct.pack("!Bb", len(payload), code) + payload
    marker = msgpack.ExtType(127, b"MARK")
    body = ({"t": "call", "id": 1, "obj": 0, "method": "m", "args": [marker], "kwargs": {}}
            if where == "args" else {"t": "return", "id": 1, "value": marker})
    packed_marker = msgpack.packb(marker)
    frame = msgpack.packb(body, use_bin_type=True).replace(packed_marker, ext)
    _decode_or_protocol_error(frame)


@settings(max_examples=100, deadline=None)
@given(header=st.sampled_from([b"\xdd", b"\xdf", b"\xdb", b"\xc6", b"\xc9\x00"]),
       count=st.integers(min_value=2**16, max_value=2**32 - 1), tail=st.binary(max_size=16))
def test_huge_declared_lengths_inside_a_small_frame_are_protocol_errors(
    header: bytes, count: int, tail: bytes
) -> None:
    """array32/map32/str32/bin32/ext32 headers claiming up to 4 GiB in a few bytes:
    refused without allocating what they claim."""
    import msgpack

    bomb = header[:1] + count.to_bytes(4, "big") + header[1:] + tail
    frame = b"\x82\xa1t\xa6return\xa5value" + bomb  # {"t": "return", "value": <bomb>}
    assert msgpack.unpackb(b"\x82\xa1t\xa6return\xa5value\xc0", raw=False)["t"] == "return"
    _decode_or_protocol_error(frame)


@settings(max_examples=60, deadline=None)
@given(size=st.one_of(st.integers(min_value=-(2**31), max_value=2**31 - 1),
                      st.integers(min_value=2**32, max_value=2**64 - 1)),
       extended=st.booleans(), tail=st.binary(max_size=32))
def test_frame_length_prefixes_beyond_the_limit_are_refused_unread(
    size: int, extended: bool, tail: bytes
) -> None:
    """The transport's length prefix (4 bytes, or -1 then 8 bytes): a frame
    longer than MAX_FRAME_BYTES, or of a negative or zero length, is a protocol
    error before any of it is read; one the pipe cannot fill is end of stream."""
    import os
    import struct

    from bakehouse.rpc.codec import MAX_FRAME_BYTES, ProtocolError
    from bakehouse.rpc.transport import PipeTransport

    if extended:
        prefix = struct.pack("!i", -1) + struct.pack("!Q", abs(size) % 2**64)
        declared = abs(size) % 2**64
    else:
        declared = size if -(2**31) <= size < 2**31 else -2
        prefix = struct.pack("!i", declared)
    read_fd, write_fd = os.pipe()
    os.write(write_fd, prefix + tail)
    os.close(write_fd)
    unused_read, unused = os.pipe()
    os.close(unused_read)
    transport = PipeTransport(read_fd, unused)
    try:
        frame = transport.recv()
    except ProtocolError:  # too long, negative, or empty (no message is)
        assert declared > MAX_FRAME_BYTES or declared <= 0
    except EOFError:
        assert declared <= MAX_FRAME_BYTES
    else:
        assert 0 < declared <= len(tail) and frame == tail[:declared]
    finally:
        transport.close()
