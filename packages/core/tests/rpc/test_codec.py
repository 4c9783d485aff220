"""The wire format: message shapes, msgpack only, versions, garbage."""

from __future__ import annotations

import os

import msgpack
import pytest
from bakehouse.rpc.codec import (
    PROTOCOL_VERSION,
    Call,
    Credit,
    Data,
    Hello,
    ProtocolError,
    compatible,
    decode_message,
    encode_message,
    parse_version,
)
from bakehouse.rpc.errors import RemoteError, error_from_wire, error_to_wire
from bakehouse.rpc.transport import PipeTransport, transport_from_env
from bakehouse.sdk import Cancelled, ConfigError, ConfigProblem


def test_messages_are_msgpack_maps_tagged_by_type() -> None:
    frame = encode_message(Call(id=3, obj=0, method="create", args=["builder", "docker"], kwargs={}))
    assert msgpack.unpackb(frame) == {"t": "call", "id": 3, "obj": 0, "method": "create",
                                      "args": ["builder", "docker"], "kwargs": {}}
    assert decode_message(frame) == Call(3, 0, "create", ["builder", "docker"], {})


def test_binary_data_stays_binary() -> None:
    message = Data(stream=5, data=b"\x00\x01\xff" * 10)
    assert decode_message(encode_message(message)) == message


@pytest.mark.parametrize("frame", [
    b"",
    b"GARBAGE!",
    msgpack.packb([1, 2, 3]),
    msgpack.packb({"t": "launch-missiles"}),
    msgpack.packb({"t": "credit", "stream": 1}),  # missing field
])
def test_garbage_is_a_protocol_error(frame: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_message(frame)


def test_pickle_is_never_accepted() -> None:
    import pickle

    with pytest.raises(ProtocolError):
        decode_message(pickle.dumps(Credit(1, 2)))


def test_versions() -> None:
    assert PROTOCOL_VERSION == "1.0"
    assert compatible("1.0") and compatible("1.7")
    assert not compatible("2.0") and not compatible("99.0")
    assert parse_version("1.12") == (1, 12)
    with pytest.raises(ProtocolError):
        parse_version("one")


def test_hello_round_trip() -> None:
    hello = Hello("1.0", "bakehouse-plugin-x", "1.2.3", {"builders": ["x"]}, 42)
    assert decode_message(encode_message(hello)) == hello


def test_error_mapping() -> None:
    config = ConfigError([ConfigProblem(("changes", 2), "Bad.")])
    back = error_from_wire(msgpack.unpackb(msgpack.packb(error_to_wire(config))))
    assert isinstance(back, ConfigError)
    assert back.problems == [ConfigProblem(("changes", 2), "Bad.")]
    assert str(back) == "changes.2: Bad."
    cancelled = error_from_wire(error_to_wire(Cancelled("user interrupt")))
    assert isinstance(cancelled, Cancelled) and cancelled.reason == "user interrupt"
    other = error_from_wire(error_to_wire(KeyError("missing")))
    assert isinstance(other, RemoteError) and other.type_name == "KeyError"
    # Relaying keeps the innermost type.
    relayed = error_from_wire(error_to_wire(other))
    assert isinstance(relayed, RemoteError) and relayed.type_name == "KeyError"


def test_transport_rejects_an_absurd_frame_length() -> None:
    read_fd, write_fd = os.pipe()
    other_r, other_w = os.pipe()
    transport = PipeTransport(read_fd, other_w)
    os.write(write_fd, b"GARB")  # read as a 1.2 GB length prefix
    with pytest.raises(ProtocolError, match="bad frame length"):
        transport.recv()
    os.close(write_fd)
    os.close(other_r)
    transport.close()


def test_transport_from_env() -> None:
    assert transport_from_env({}) is None
    assert transport_from_env({"BAKEHOUSE_PLUGIN_FDS": "nonsense"}) is None
    assert transport_from_env({"BAKEHOUSE_PLUGIN_FDS": "999,998"}) is None  # not open
    read_fd, write_fd = os.pipe()
    transport = transport_from_env({"BAKEHOUSE_PLUGIN_FDS": f"{read_fd},{write_fd}"})
    assert transport is not None
    assert not os.get_inheritable(read_fd)  # commands a plugin runs must not hold the pipe
    transport.send(b"frame")
    assert transport.recv() == b"frame"
    transport.close()


def test_a_permanent_error_stays_permanent_across_pipes() -> None:
    from bakehouse.sdk import PermanentError, is_permanent

    class NoSuchUser(PermanentError):
        pass

    first_hop = error_from_wire(error_to_wire(NoSuchUser("unable to find user x")))
    relayed = error_from_wire(error_to_wire(first_hop))
    assert is_permanent(first_hop) and is_permanent(relayed)
    assert str(relayed) == "unable to find user x"
    assert not is_permanent(error_from_wire(error_to_wire(OSError("connection reset"))))
