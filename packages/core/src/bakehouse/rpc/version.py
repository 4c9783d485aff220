"""The protocol's version and frame limit, and the error for bad input.

Apart from :mod:`bakehouse.rpc.codec` (which re-exports them) so that finding
plugins and spawning one need neither msgpack nor the message classes: the
core starts its first plugin before it imports those.
"""

from __future__ import annotations

#: Protocol version spoken by this side. A different major version is refused
#: at the handshake; minor versions only add optional fields and messages.
PROTOCOL_VERSION = "1.0"

#: Largest frame accepted; stream chunks are far smaller, so anything bigger is garbage.
MAX_FRAME_BYTES = 64 * 1024 * 1024


class ProtocolError(Exception):
    """The peer sent bytes that are not a valid message."""


def parse_version(text: str) -> tuple[int, int]:
    """``"1.0"`` -> ``(1, 0)``; raise :class:`ProtocolError` when malformed."""
    try:
        major, minor = str(text).split(".", 1)
        return int(major), int(minor)
    except ValueError:
        raise ProtocolError(f"malformed protocol version {text!r}") from None


def compatible(theirs: str, ours: str = PROTOCOL_VERSION) -> bool:
    """Same major version: minor versions are backwards compatible by rule."""
    return parse_version(theirs)[0] == parse_version(ours)[0]
