"""Stream endpoints of an RPC session: chunked byte streams with credit-based flow control.

A readable stream (:class:`~bakehouse.rpc.handles.AsSource`) or a writable
stream or ``bytes`` callback (:class:`~bakehouse.rpc.handles.AsSink`) passed in
a call crosses as a stream id; each side keeps one endpoint per stream:

* :class:`LocalSource` / :class:`LocalSink`: the owner's side of a readable /
  writable it passed (it reads or writes the real file);
* :class:`PeerSource` / :class:`PeerSink`: the receiver's side, a file object
  whose bytes come from or go to the owner.

A receiver grants credit; a sender never has more than :data:`WINDOW` bytes in
flight per stream. The session (:mod:`bakehouse.rpc.session`) creates the
endpoints while encoding and decoding values and routes ``data``, ``end`` and
``credit`` messages to them; endpoints only send messages and leave the
session's stream table through :class:`StreamLink`.
"""

from __future__ import annotations

import collections
import io
import queue
import threading
from collections.abc import Callable
from typing import IO, Any, Protocol

from bakehouse.rpc.codec import Credit, Data, End, Message

#: Bytes a stream receiver allows in flight before it must grant more credit.
WINDOW = 1024 * 1024
#: Largest data frame.
CHUNK = 256 * 1024


class StreamLink(Protocol):
    """What an endpoint needs of its session."""

    def send_message(self, message: Message) -> None:
        """Send ``message``; raises ``OSError`` when the peer is gone."""

    def send_message_quietly(self, message: Message) -> None:
        """Send ``message``, dropping it when the peer is gone."""

    def forget_stream(self, sid: int) -> None:
        """The stream ``sid`` is finished: route no more messages to it."""


class StreamEndpoint:
    """One side of one stream; the session calls these from its reader thread."""

    sid: int

    def on_data(self, message: Data) -> None:
        pass

    def on_end(self, message: End) -> None:
        pass

    def on_credit(self, message: Credit) -> None:
        pass

    def on_lost(self) -> None:
        pass


class LocalSource(StreamEndpoint):
    """A readable we own; sends chunks while the peer grants credit."""

    def __init__(self, session: StreamLink, sid: int, stream: IO[bytes]) -> None:
        self.session = session
        self.sid = sid
        self.stream = stream
        self.credit = 0
        self.stopped = False
        self.cond = threading.Condition()
        self.thread: threading.Thread | None = None

    def on_credit(self, message: Credit) -> None:
        start = False
        with self.cond:
            if message.close:
                self.stopped = True
            else:
                self.credit += message.n
            if self.thread is None and not self.stopped:
                self.thread = threading.Thread(target=self._pump, name=f"rpc-source-{self.sid}", daemon=True)
                start = True
            self.cond.notify_all()
        if start and self.thread is not None:
            self.thread.start()
        if message.close and self.thread is None:
            self.session.forget_stream(self.sid)

    def send_first_window(self) -> None:
        """An eager source: send the first window unasked, once the call is on the pipe."""
        self.on_credit(Credit(self.sid, WINDOW))

    def on_lost(self) -> None:
        with self.cond:
            self.stopped = True
            self.cond.notify_all()

    def _pump(self) -> None:
        try:
            while True:
                with self.cond:
                    self.cond.wait_for(lambda: self.credit > 0 or self.stopped)
                    if self.stopped:
                        return
                    size = min(self.credit, CHUNK)
                data = self.stream.read(size)
                if not data:
                    self.session.send_message_quietly(End(self.sid))
                    return
                with self.cond:
                    self.credit -= len(data)
                self.session.send_message(Data(self.sid, bytes(data)))
        except OSError as exc:
            self.session.send_message_quietly(End(self.sid, f"{type(exc).__name__}: {exc}"))
        except Exception as exc:
            self.session.send_message_quietly(End(self.sid, f"{type(exc).__name__}: {exc}"))
        finally:
            self.session.forget_stream(self.sid)


class PeerSource(io.RawIOBase, StreamEndpoint):
    """A readable file whose bytes come from a stream the peer owns.

    ``eager``: the owner said the call reads it whole and sends the first
    window without waiting for credit; the first read grants none."""

    def __init__(self, session: StreamLink, sid: int, *, eager: bool = False) -> None:
        super().__init__()
        self.session = session
        self.sid = sid
        self.eager = eager
        self.cond = threading.Condition()
        self.chunks: collections.deque[memoryview] = collections.deque()
        self.eof = False
        self.error = ""
        self.lost = False
        self.started = eager
        self.consumed = 0
        self.finished = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.finished:
            raise ValueError("stream used after the call that received it returned")
        if not self.started:
            self.started = True
            self.session.send_message_quietly(Credit(self.sid, WINDOW))
        grant = 0
        view = memoryview(buffer).cast("B")
        with self.cond:
            self.cond.wait_for(lambda: bool(self.chunks) or self.eof or self.lost or self.finished)
            if self.finished:
                raise ValueError("stream used after the call that received it returned")
            if not self.chunks:
                if self.error:
                    raise OSError(f"remote stream failed: {self.error}")
                if self.lost and not self.eof:
                    raise OSError("remote stream interrupted: connection lost")
                return 0
            chunk = self.chunks[0]
            size = min(len(view), len(chunk))
            view[:size] = chunk[:size]
            if size < len(chunk):
                self.chunks[0] = chunk[size:]
            else:
                self.chunks.popleft()
            self.consumed += size
            if self.consumed >= CHUNK and not self.eof:
                grant, self.consumed = self.consumed, 0
        if grant:
            self.session.send_message_quietly(Credit(self.sid, grant))
        return size

    def on_data(self, message: Data) -> None:
        with self.cond:
            self.chunks.append(memoryview(message.data))
            self.cond.notify_all()

    def on_end(self, message: End) -> None:
        with self.cond:
            self.eof = True
            self.error = message.error
            self.cond.notify_all()
        self.session.forget_stream(self.sid)

    def on_lost(self) -> None:
        with self.cond:
            self.lost = True
            self.cond.notify_all()

    def finish(self) -> None:
        """The call that received this stream returned: stop the sender."""
        with self.cond:
            done = self.eof or self.lost
            self.chunks.clear()
            self.finished = True
            self.cond.notify_all()
        if not done:
            self.session.send_message_quietly(Credit(self.sid, 0, close=True))
        self.session.forget_stream(self.sid)


class LocalSink(StreamEndpoint):
    """A writable (or callback) we own; the peer pushes chunks into it."""

    def __init__(self, session: StreamLink, sid: int, target: Any) -> None:
        self.session = session
        self.sid = sid
        self.write: Callable[[bytes], Any] = target.write if hasattr(target, "write") else target
        self.queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.ended = threading.Event()
        self.error: BaseException | None = None
        self.remote_error = ""
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def grant_initial(self) -> None:
        self.session.send_message_quietly(Credit(self.sid, WINDOW))

    def _ensure_thread(self) -> None:
        with self.lock:
            if self.thread is None:
                self.thread = threading.Thread(target=self._drain, name=f"rpc-sink-{self.sid}", daemon=True)
                self.thread.start()

    def on_data(self, message: Data) -> None:
        self._ensure_thread()
        self.queue.put(message.data)

    def on_end(self, message: End) -> None:
        self.remote_error = message.error
        self._ensure_thread()
        self.queue.put(None)

    def on_lost(self) -> None:
        self._ensure_thread()
        self.queue.put(None)

    def _drain(self) -> None:
        while True:
            data = self.queue.get()
            if data is None:
                break
            if self.error is None:
                try:
                    self.write(data)
                except Exception as exc:  # reported to the caller when the call returns
                    self.error = exc
            self.session.send_message_quietly(Credit(self.sid, len(data)))
        self.session.forget_stream(self.sid)
        self.ended.set()

    def wait_drained(self) -> None:
        self.ended.wait()


class PeerSink(io.RawIOBase, StreamEndpoint):
    """A writable file whose bytes go to a sink the peer owns."""

    def __init__(self, session: StreamLink, sid: int) -> None:
        super().__init__()
        self.session = session
        self.sid = sid
        self.cond = threading.Condition()
        self.credit = 0
        self.lost = False
        self.ended = False

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        offset = 0
        while offset < len(view):
            with self.cond:
                self.cond.wait_for(lambda: self.credit > 0 or self.lost or self.ended)
                if self.ended:
                    raise ValueError("stream used after the call that received it returned")
                if self.lost:
                    raise OSError("remote stream interrupted: connection lost")
                size = min(self.credit, CHUNK, len(view) - offset)
                self.credit -= size
            self.session.send_message(Data(self.sid, bytes(view[offset : offset + size])))
            offset += size
        return len(view)

    def on_credit(self, message: Credit) -> None:
        with self.cond:
            if message.close:
                self.lost = True
            self.credit += message.n
            self.cond.notify_all()

    def on_lost(self) -> None:
        with self.cond:
            self.lost = True
            self.cond.notify_all()

    def finish(self) -> None:
        with self.cond:
            if self.ended:
                return
            self.ended = True
            self.cond.notify_all()
        self.session.send_message_quietly(End(self.sid))
        self.session.forget_stream(self.sid)

    def close(self) -> None:
        self.finish()
        super().close()

    def as_callback(self) -> Callable[[bytes], None]:
        def callback(data: bytes) -> None:
            self.write(data)

        return callback
