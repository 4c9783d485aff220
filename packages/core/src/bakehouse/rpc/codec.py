"""The RPC message codec: message shapes and their msgpack encoding.

This module is the wire format and nothing else. It knows the message types
(call, return, error, cancel, stream data/end/credit, hello, shutdown) and
how they become bytes; it knows nothing of builders or handles. Values that
are not plain data (handles, contexts, streams) travel as msgpack extension
types whose meaning the object model (:mod:`bakehouse.rpc.session`) supplies
through the ``default``/``ext_hook`` callbacks.

Never pickle: core and plugins are installed independently and may be of
different versions, so only self-describing plain data crosses the pipe.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import msgpack

# re-exported: the wire format's users import them from here
from bakehouse.rpc.version import MAX_FRAME_BYTES as MAX_FRAME_BYTES
from bakehouse.rpc.version import PROTOCOL_VERSION as PROTOCOL_VERSION
from bakehouse.rpc.version import ProtocolError as ProtocolError
from bakehouse.rpc.version import compatible as compatible
from bakehouse.rpc.version import parse_version as parse_version

#: Deepest nesting of extension values (a handle inside a value inside ...)
#: accepted in one frame. Decoding an extension value recurses through the C
#: unpacker, so a few hundred levels in a 2 KB frame would overflow the reader
#: thread's stack; real messages nest two or three deep.
MAX_EXT_DEPTH = 32


class Ext(IntEnum):
    """msgpack extension type codes used inside argument and result values."""

    HANDLE = 1  #: an object served by the sender: {"id", "iface", "snapshot"}
    PEER_HANDLE = 2  #: an object served by the receiver, sent back: {"id"}
    CONTEXT = 3  #: a cancellation link: {"id", "cancelled", "reason"}
    SOURCE = 4  #: a readable stream owned by the sender: {"id"}
    SINK = 5  #: a writable stream or output callback owned by the sender: {"id", "kind"}
    VALUE = 6  #: a known SDK dataclass: {"type", "fields"}


@dataclass
class Hello:
    """First message, plugin -> core."""

    protocol_version: str
    plugin: str
    version: str
    components: dict[str, list[str]] = field(default_factory=dict)
    pid: int = 0


@dataclass
class Call:
    id: int
    obj: int  #: handle id of the target; 0 is the peer's root service
    method: str
    args: list[Any]
    kwargs: dict[str, Any]


@dataclass
class Return:
    id: int
    value: Any


@dataclass
class Error:
    id: int
    error: dict[str, Any]  #: {"type", "message", "problems"?, "reason"?, "traceback"?}


@dataclass
class Cancel:
    """Cancel the receiver's context linked to the sender's context ``ctx``."""

    ctx: int
    reason: str


@dataclass
class Data:
    stream: int
    data: bytes


@dataclass
class End:
    stream: int
    error: str = ""


@dataclass
class Credit:
    """The receiver of a stream may be sent ``n`` more bytes; ``close`` stops it."""

    stream: int
    n: int
    close: bool = False


@dataclass
class Shutdown:
    """Polite request to finish in-flight calls and exit."""

    reason: str = ""


Message = Hello | Call | Return | Error | Cancel | Data | End | Credit | Shutdown

_TAGS: dict[type[Any], str] = {
    Hello: "hello",
    Call: "call",
    Return: "return",
    Error: "error",
    Cancel: "cancel",
    Data: "data",
    End: "end",
    Credit: "credit",
    Shutdown: "shutdown",
}
_BY_TAG: dict[str, type[Any]] = {tag: cls for cls, tag in _TAGS.items()}

Default = Callable[[Any], Any]
ExtHook = Callable[[int, bytes], Any]


def pack(value: Any, default: Default | None = None) -> bytes:
    """Encode a value; ``default`` turns non-plain objects into :class:`msgpack.ExtType`."""
    data: bytes = msgpack.packb(value, default=default, use_bin_type=True)
    return data


def unpack(data: bytes, ext_hook: ExtHook | None = None) -> Any:
    if ext_hook is None:
        return msgpack.unpackb(data, raw=False, strict_map_key=False)
    return msgpack.unpackb(data, raw=False, strict_map_key=False, ext_hook=ext_hook)


def encode_message(message: Message, default: Default | None = None) -> bytes:
    """A message as one frame: a map with its tag under ``t``."""
    body = dict(vars(message))
    body["t"] = _TAGS[type(message)]
    return pack(body, default)


def decode_message(frame: bytes, ext_hook: ExtHook | None = None) -> Message:
    """Parse one frame; raise :class:`ProtocolError` for anything that is not a message."""
    try:
        body = unpack(frame, ext_hook)
    except ProtocolError:
        raise
    except Exception as exc:
        raise ProtocolError(f"undecodable frame ({type(exc).__name__}: {exc})") from None
    if not isinstance(body, dict) or not isinstance(body.get("t"), str) or body["t"] not in _BY_TAG:
        raise ProtocolError(f"not a message: {_preview(frame)}")
    cls = _BY_TAG[body.pop("t")]
    try:
        message: Message = cls(**body)
    except TypeError as exc:
        raise ProtocolError(f"malformed {cls.__name__.lower()} message: {exc}") from None
    return message


def _preview(frame: bytes) -> str:
    text = frame[:40]
    return repr(text) + ("..." if len(frame) > 40 else "")


