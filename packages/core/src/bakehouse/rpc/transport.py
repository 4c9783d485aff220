"""Frames over two anonymous pipes.

Each plugin process gets two pipes: one the core writes and the plugin reads,
one the other way round. Their descriptor numbers reach the plugin in
``BAKEHOUSE_PLUGIN_FDS`` (``"READ,WRITE"`` from the plugin's point of view).
Framing (a length prefix per frame) is :class:`multiprocess.connection.Connection`'s
wire format (a big-endian signed 32-bit length; ``-1`` then an unsigned 64-bit
length for larger frames), written here with plain ``os.read``/``os.write`` so
that a plugin's start-up does not import multiprocess and dill.
"""

from __future__ import annotations

import os
import select
import struct
import threading

from bakehouse.rpc.version import MAX_FRAME_BYTES, ProtocolError

#: Environment variable naming the plugin's RPC descriptors, ``"READ,WRITE"``.
FDS_ENV = "BAKEHOUSE_PLUGIN_FDS"
#: Env var with the core's pid, so a plugin can tell it was orphaned before
#: ``PR_SET_PDEATHSIG`` took effect.
CORE_PID_ENV = "BAKEHOUSE_CORE_PID"
#: Env var: JSON list of [kind, type] the plugin imports right after its
#: handshake (the core knows them when it starts the plugin early).
PRELOAD_ENV = "BAKEHOUSE_PLUGIN_PRELOAD"


class _Fd:
    """One end of a pipe, reading or writing whole frames."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.closed = False

    def send_bytes(self, frame: bytes) -> None:
        size = len(frame)
        if size > 0x7FFFFFFF:
            self._write(struct.pack("!iQ", -1, size))
            self._write(frame)
        elif size > 16384:
            self._write(struct.pack("!i", size))
            self._write(frame)
        else:
            self._write(struct.pack("!i", size) + frame)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]

    def recv_bytes(self, maxlength: int) -> bytes:
        (size,) = struct.unpack("!i", self._read(4))
        if size == -1:
            (size,) = struct.unpack("!Q", self._read(8))
        if size > maxlength:
            raise OSError("bad message length")
        return self._read(size) if size > 0 else b""

    def _read(self, size: int) -> bytes:
        chunks: list[bytes] = []
        remaining = size
        while remaining > 0:
            chunk = os.read(self.fd, min(remaining, 1 << 20))
            if not chunk:
                if remaining == size:
                    raise EOFError
                raise OSError("got end of file during message")
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def poll(self, timeout: float) -> bool:
        poller = select.poll()  # not select(): descriptors above 1023 work too
        poller.register(self.fd, select.POLLIN)
        return bool(poller.poll(max(0.0, timeout) * 1000))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self.fd)


class PipeTransport:
    """Sends and receives whole frames; safe to send from many threads."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self._reader = _Fd(read_fd)
        self._writer = _Fd(write_fd)
        self._send_lock = threading.Lock()
        self._write_closed = False

    @property
    def read_fd(self) -> int:
        return self._reader.fd

    @property
    def write_fd(self) -> int:
        return self._writer.fd

    def send(self, frame: bytes) -> None:
        """Write one frame; raise ``OSError`` when the peer is gone."""
        with self._send_lock:
            if self._write_closed:
                raise BrokenPipeError("transport closed")
            self._writer.send_bytes(frame)

    def recv(self) -> bytes:
        """Block for the next frame. ``EOFError`` at end of stream,
        :class:`ProtocolError` for a frame that cannot be one of ours."""
        try:
            frame: bytes = self._reader.recv_bytes(MAX_FRAME_BYTES)
        except EOFError:
            raise
        except OSError as exc:
            if "bad message length" in str(exc):
                raise ProtocolError("bad frame length (not a Bakehouse RPC stream)") from None
            if "end of file" in str(exc):
                raise EOFError(str(exc)) from None
            raise
        if not frame:
            # A negative length prefix reads as an empty frame; no message is empty.
            raise ProtocolError("bad frame length (not a Bakehouse RPC stream)")
        return frame

    def poll(self, timeout: float) -> bool:
        """True when a frame (or EOF) is ready to be read."""
        return bool(self._reader.poll(timeout))

    def close_write(self) -> None:
        """Close our sending side: the peer reads EOF."""
        with self._send_lock:
            if not self._write_closed:
                self._write_closed = True
                self._writer.close()

    def close_read(self) -> None:
        """Release our reading side; only once nobody is blocked reading it."""
        try:
            if not self._reader.closed:
                self._reader.close()
        except OSError:
            pass

    def close(self) -> None:
        self.close_write()
        self.close_read()


def transport_from_env(environ: dict[str, str] | None = None) -> PipeTransport | None:
    """The transport the core passed to this plugin process, or None outside the core."""
    value = (environ if environ is not None else dict(os.environ)).get(FDS_ENV, "")
    try:
        read_text, write_text = value.split(",")
        read_fd, write_fd = int(read_text), int(write_text)
        os.fstat(read_fd)
        os.fstat(write_fd)
    except (ValueError, OSError):
        return None
    # Commands a plugin runs must not inherit the RPC pipes, or the core's EOF
    # would never reach us while such a command lives.
    os.set_inheritable(read_fd, False)
    os.set_inheritable(write_fd, False)
    return PipeTransport(read_fd, write_fd)
