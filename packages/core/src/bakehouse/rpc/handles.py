"""Small shared pieces of the object model: references to remote objects and
explicit stream markers.

A :class:`RemoteRef` names an object served on the other side of a session;
proxies (see :mod:`bakehouse.rpc.interfaces`) call through it. :class:`AsSource`
and :class:`AsSink` tell the session how to send a file object whose
direction cannot be guessed (``io.BytesIO`` is both readable and writable).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bakehouse.rpc.session import Session


class AsSource:
    """Send ``stream`` as a readable stream: the receiver reads it in chunks.

    ``eager``: the receiver reads it whole (an upload's contents), so the
    first window is sent right behind the call, without waiting for the
    receiver's credit: the data crosses while the receiver gets ready.
    """

    def __init__(self, stream: IO[bytes], *, eager: bool = False) -> None:
        self.stream = stream
        self.eager = eager


class AsSink:
    """Send ``target`` (a writable file or a ``bytes`` callback) as a sink:
    the receiver writes into it in chunks."""

    def __init__(self, target: IO[bytes] | Callable[[bytes], Any]) -> None:
        self.target = target


class RemoteRef:
    """An object served by the peer of ``session`` under ``handle_id``."""

    def __init__(self, session: Session, handle_id: int, iface: str) -> None:
        self.session = session
        self.handle_id = handle_id
        self.iface = iface

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self.session.call(self.handle_id, method, args, kwargs)

    def __repr__(self) -> str:
        return f"<RemoteRef {self.iface}#{self.handle_id} via {self.session.name}>"


class Proxy:
    """Marker base of every proxy: ``_remote`` is where calls go."""

    _remote: RemoteRef
