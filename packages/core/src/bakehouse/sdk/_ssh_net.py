"""Network pieces of the SSH communicator: a SOCKS5 dialer (``ssh_proxy_*``),
a socket that notices a silent server (``ssh_read_write_timeout``) and port
forwards (``ssh_local_tunnels`` / ``ssh_remote_tunnels``).

Private: :mod:`bakehouse.sdk.ssh` is the public face.
"""

from __future__ import annotations

import ipaddress
import logging
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import paramiko
else:

    class _Paramiko:
        """paramiko, imported at first use: builders import the SSH config
        for their schema, and paramiko costs ~110 ms of CPU to import."""

        def __getattr__(self, name: str) -> Any:
            import paramiko as module

            return getattr(module, name)

    paramiko = _Paramiko()

log = logging.getLogger("bakehouse.sdk.ssh")

_RELAY_CHUNK = 32 * 1024


class SilentServer(EOFError):
    """The server sent nothing for longer than ``ssh_read_write_timeout``."""


# -- SOCKS5 (RFC 1928, user/password RFC 1929) --------------------------------


@dataclass(frozen=True)
class SocksProxy:
    host: str
    port: int
    username: str = ""
    password: str = ""

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise OSError("the SOCKS proxy closed the connection")
        data += chunk
    return data


_SOCKS_REPLIES = {
    1: "general failure", 2: "connection not allowed by ruleset", 3: "network unreachable",
    4: "host unreachable", 5: "connection refused", 6: "TTL expired", 7: "command not supported",
    8: "address type not supported",
}


def socks5_connect(proxy: SocksProxy, host: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection to ``host:port`` made by the SOCKS5 proxy (the proxy
    resolves names). Raises OSError naming the proxy when it refuses."""
    sock = socket.create_connection((proxy.host, proxy.port), timeout=timeout)
    try:
        methods = b"\x00\x02" if proxy.username else b"\x00"
        sock.sendall(b"\x05" + bytes([len(methods)]) + methods)
        version, method = _recv_exactly(sock, 2)
        if version != 5 or method == 0xFF:
            raise OSError(f"SOCKS proxy {proxy.address} accepts none of our authentication methods")
        if method == 2:
            user, password = proxy.username.encode(), proxy.password.encode()
            sock.sendall(b"\x01" + bytes([len(user)]) + user + bytes([len(password)]) + password)
            if _recv_exactly(sock, 2)[1] != 0:
                raise OSError(f"SOCKS proxy {proxy.address} refused ssh_proxy_username/ssh_proxy_password")
        try:
            packed = ipaddress.ip_address(host).packed
            address = (b"\x01" if len(packed) == 4 else b"\x04") + packed
        except ValueError:
            address = b"\x03" + bytes([len(host.encode())]) + host.encode()
        sock.sendall(b"\x05\x01\x00" + address + struct.pack(">H", port))
        try:
            _, reply, _, kind = _recv_exactly(sock, 4)
        except OSError:
            raise OSError(f"SOCKS proxy {proxy.address} could not reach {host}:{port}: "
                          "it closed the connection") from None
        if reply != 0:
            reason = _SOCKS_REPLIES.get(reply, f"error {reply}")
            raise OSError(f"SOCKS proxy {proxy.address} could not reach {host}:{port}: {reason}")
        _recv_exactly(sock, {1: 4, 4: 16}.get(kind) or _recv_exactly(sock, 1)[0])
        _recv_exactly(sock, 2)
        return sock
    except BaseException:
        sock.close()
        raise


# -- read/write timeout ----------------------------------------------------------


class ActivitySocket:
    """Wraps the socket (or bastion channel) paramiko reads: when the server
    has sent nothing for ``timeout`` seconds, the next read fails, which
    ends the transport, as a read deadline on the connection would.
    Keep-alive replies count as data, so a live but quiet connection stays up
    while ``ssh_keep_alive_interval`` is shorter than the timeout."""

    def __init__(self, sock: Any, timeout: float) -> None:
        self._sock = sock
        self.timeout = timeout
        self.last_read = time.monotonic()
        self.timed_out = False

    def recv(self, size: int) -> bytes:
        try:
            data: bytes = self._sock.recv(size)
        except TimeoutError:
            if time.monotonic() - self.last_read > self.timeout:
                self.timed_out = True
                raise SilentServer(f"no data for {self.timeout:g}s") from None
            raise
        if data:
            self.last_read = time.monotonic()
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


# -- tunnels ----------------------------------------------------------------------


@dataclass(frozen=True)
class TunnelSpec:
    """``[bind_address:]port:host:hostport`` as Packer (and ``ssh -L/-R``) write it."""

    bind_address: str
    port: int
    host: str
    host_port: int

    @classmethod
    def parse(cls, text: str) -> TunnelSpec:
        parts = text.split(":")
        if len(parts) == 3:
            parts.insert(0, "")
        if len(parts) != 4:
            raise ValueError(f"tunnel {text!r} is not [bind_address:]port:host:hostport")
        bind, port, host, host_port = parts
        try:
            numbers = int(port), int(host_port)
        except ValueError:
            raise ValueError(f"tunnel {text!r}: ports must be numbers") from None
        if not all(0 < n < 65536 for n in numbers) or not host:
            raise ValueError(f"tunnel {text!r}: ports must be 1-65535 and host must be set")
        return cls(bind, numbers[0], host, numbers[1])


def _relay(one: Any, other: Any, stop: threading.Event) -> None:
    """Copy bytes both ways until either side closes or ``stop`` is set."""
    try:
        while not stop.is_set():
            ready, _, _ = select.select([one, other], [], [], 0.5)
            for source in ready:
                data = source.recv(_RELAY_CHUNK)
                if not data:
                    return
                (other if source is one else one).sendall(data)
    except (OSError, EOFError, paramiko.SSHException):
        return
    finally:
        one.close()
        other.close()


class Tunnels:
    """The port forwards of one connection; :meth:`close` stops them all and
    joins their threads."""

    def __init__(self, transport: paramiko.Transport, address: str) -> None:
        self.transport = transport
        self.address = address
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._listeners: list[socket.socket] = []
        self._remote: list[tuple[str, int]] = []
        self._lock = threading.Lock()

    def _start(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True, name="bakehouse-ssh-tunnel")
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def add_local(self, spec: TunnelSpec) -> None:
        """Listen on ``bind_address:port`` here; each connection is carried to
        ``host:hostport`` as seen from the machine."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((spec.bind_address or "127.0.0.1", spec.port))
        except OSError as exc:
            listener.close()
            raise OSError(f"ssh_local_tunnels: cannot listen on "
                          f"{spec.bind_address or '127.0.0.1'}:{spec.port}: {exc.strerror}") from None
        listener.listen(16)
        listener.settimeout(0.5)
        self._listeners.append(listener)
        self._start(self._accept_local, listener, spec)

    def _accept_local(self, listener: socket.socket, spec: TunnelSpec) -> None:
        while not self._stop.is_set():
            try:
                client, origin = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                channel = self.transport.open_channel("direct-tcpip", (spec.host, spec.host_port), origin)
            except (paramiko.SSHException, OSError) as exc:
                log.warning("local tunnel to %s:%d through %s failed: %s", spec.host, spec.host_port, self.address, exc)
                client.close()
                continue
            self._start(_relay, client, channel, self._stop)

    def add_remote(self, spec: TunnelSpec) -> None:
        """Ask the server to listen on ``bind_address:port``; each connection
        is carried back to ``host:hostport`` as seen from here."""

        def handler(channel: paramiko.Channel, origin: Any, server: Any) -> None:
            # called on paramiko's transport thread: connect and relay elsewhere
            self._start(self._connect_remote, channel, spec)

        try:
            self.transport.request_port_forward(spec.bind_address, spec.port, handler)
        except paramiko.SSHException as exc:
            raise OSError(f"ssh_remote_tunnels: {self.address} refused to listen on "
                          f"{spec.bind_address or '*'}:{spec.port}: {exc}") from None
        self._remote.append((spec.bind_address, spec.port))

    def _connect_remote(self, channel: paramiko.Channel, spec: TunnelSpec) -> None:
        try:
            local = socket.create_connection((spec.host, spec.host_port), timeout=10)
        except OSError as exc:
            log.warning("remote tunnel: cannot reach %s:%d: %s", spec.host, spec.host_port, exc)
            channel.close()
            return
        _relay(channel, local, self._stop)

    def close(self) -> None:
        self._stop.set()
        for bind, port in self._remote:
            try:
                self.transport.cancel_port_forward(bind, port)
            except Exception:  # the connection may be gone already
                log.debug("cancel_port_forward %s:%d failed", bind, port, exc_info=True)
        for listener in self._listeners:
            listener.close()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(5)
