"""The SSH communicator (paramiko), shared by every builder that reaches its
machine over SSH (``amazon-ebs``, the core's ``null`` builder, ...).

Two public names matter to builder authors:

- :class:`SSHConfig`: the ``communicator``/``ssh_*`` options as a pydantic
  model; a builder's :class:`~bakehouse.sdk.config.Config` inherits from it.
- :func:`connect_ssh`: waits for the SSH server (``pause_before_connecting``,
  ``ssh_timeout``, ``ssh_handshake_attempts``) and returns a connected
  :class:`SSHCommunicator` (through a bastion and/or SOCKS5 proxy, with
  its tunnels open, as the config says).
- :func:`clear_authorized_keys`: ``ssh_clear_authorized_keys``, for builders
  that made a temporary key pair.

Commands run through an ``exec`` channel (the login shell runs them, so
``/bin/sh -c`` semantics); output is streamed in chunks as it arrives.
Cancelling the context sends the remote process group ``TERM`` (then
``KILL``) and closes the channel, so the remote command stops. Files and
directories move over SFTP (or the remote ``scp``, see ``_scp``) in
fixed-size chunks, so memory stays flat. docs/communicator.md describes
every option.
"""

from __future__ import annotations

import fnmatch
import io
import logging
import os
import posixpath
import select
import shlex
import socket
import stat
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

from bakehouse.sdk import _scp
from bakehouse.sdk._ssh_config import SSHConfig as SSHConfig
from bakehouse.sdk._ssh_config import supported_ciphers as supported_ciphers
from bakehouse.sdk._ssh_config import supported_key_exchanges as supported_key_exchanges
from bakehouse.sdk._ssh_net import (
    ActivitySocket,
    SocksProxy,
    Tunnels,
    TunnelSpec,
    socks5_connect,
)
from bakehouse.sdk.communicator import EXIT_DISCONNECTED, Communicator, FileInfo, OutputCallback
from bakehouse.sdk.context import Cancelled, Context
from bakehouse.sdk.ui import Ui

if TYPE_CHECKING:
    import paramiko
else:  # imported at first use (see _ssh_net)
    from bakehouse.sdk._ssh_net import paramiko

log = logging.getLogger("bakehouse.sdk.ssh")

#: Size of the chunks file contents and command output move in.
CHUNK_SIZE = 32 * 1024
# OpenSSH may send a command's exit status before the last of its output:
# after the status, output is still read until the server's EOF, for at most
# this long (a background process that keeps stdout open would hold it forever).
OUTPUT_AFTER_EXIT_GRACE = 2.0


class SSHError(Exception):
    """Connecting to, or talking with, the SSH server failed (the message names host:port)."""




def load_private_key(text: str, password: str | None = None) -> paramiko.PKey:
    """Parse a PEM/OpenSSH private key of any type paramiko knows."""
    errors = []
    for key_class in (paramiko.Ed25519Key, paramiko.RSAKey, paramiko.ECDSAKey):
        try:
            return key_class.from_private_key(io.StringIO(text), password=password)
        except (paramiko.SSHException, ValueError) as exc:
            errors.append(str(exc))
    raise SSHError("the private key could not be parsed: " + "; ".join(errors))


@dataclass(frozen=True)
class SSHAuth:
    """How to log in to one SSH server: a password, a key (with its
    certificate loaded, if any) and/or the agent at ``SSH_AUTH_SOCK``."""

    username: str
    password: str = ""
    private_key: paramiko.PKey | None = None
    agent: bool = False


@dataclass(frozen=True)
class Bastion:
    """An SSH server the machine is reached through (a ``direct-tcpip`` channel)."""

    host: str
    port: int
    auth: SSHAuth

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class SSHCommunicator(Communicator):
    """A :class:`Communicator` over one SSH connection."""

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        *,
        password: str = "",
        private_key: paramiko.PKey | None = None,
        agent: bool = False,
        keep_alive_seconds: float = 5.0,
        pty: bool = False,
        ciphers: Sequence[str] = (),
        key_exchanges: Sequence[str] = (),
        read_write_timeout: float = 0.0,
        bastion: Bastion | None = None,
        proxy: SocksProxy | None = None,
        file_transfer: Literal["sftp", "scp", "auto"] = "sftp",
        local_tunnels: Sequence[TunnelSpec] = (),
        remote_tunnels: Sequence[TunnelSpec] = (),
        forward_agent: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.auth = SSHAuth(username, password, private_key, agent)
        self.keep_alive_seconds = keep_alive_seconds
        self.pty = pty
        self.ciphers = tuple(c for c in ciphers if c in supported_ciphers()) if ciphers else ()
        self.key_exchanges = tuple(k for k in key_exchanges if k in supported_key_exchanges()) if key_exchanges else ()
        self.read_write_timeout = read_write_timeout
        self.bastion = bastion
        self.proxy = proxy
        self.file_transfer = file_transfer
        self.local_tunnels = tuple(local_tunnels)
        self.remote_tunnels = tuple(remote_tunnels)
        self.forward_agent = forward_agent
        self._client: paramiko.SSHClient | None = None
        self._bastion_client: paramiko.SSHClient | None = None
        self._activity: ActivitySocket | None = None
        self._tunnels: Tunnels | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._lock = threading.Lock()
        # Commands still running (their stop functions) and the threads
        # stopping cancelled ones: close() must not cut the connection under them.
        self._running: set[Callable[[], None]] = set()
        self._stoppers: list[threading.Thread] = []

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def password(self) -> str:
        return self.auth.password

    @property
    def private_key(self) -> paramiko.PKey | None:
        return self.auth.private_key

    # -- connection -----------------------------------------------------

    def _dial(self, host: str, port: int, timeout: float) -> socket.socket:
        """A TCP connection to the first hop, through the SOCKS proxy if set."""
        if self.proxy is not None:
            return socks5_connect(self.proxy, host, port, timeout)
        return socket.create_connection((host, port), timeout=timeout)

    def _transport_factory(self, sock: Any, **kwargs: Any) -> paramiko.Transport:
        """The target's transport, offering ``ssh_ciphers`` and
        ``ssh_key_exchange_algorithms`` in the template's order."""
        transport = paramiko.Transport(sock, **kwargs)
        options = transport.get_security_options()
        if self.ciphers:
            options.ciphers = self.ciphers
        if self.key_exchanges:
            options.kex = self.key_exchanges
        return transport

    def _handshake(self, sock: Any, host: str, port: int, auth: SSHAuth, *, target: bool) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        # The machine is brand new: there is no known host key to check against.
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        try:
            client.connect(
                host,
                port=port,
                username=auth.username,
                password=auth.password or None,
                pkey=auth.private_key,
                sock=sock,
                allow_agent=auth.agent,
                look_for_keys=False,
                timeout=30,
                banner_timeout=30,
                auth_timeout=30,
                transport_factory=self._transport_factory if target else None,
            )
        except BaseException:
            client.close()
            raise
        return client

    def _negotiation_error(self, exc: paramiko.ssh_exception.IncompatiblePeer) -> SSHError:
        text = str(exc)
        hint = ""
        if "cipher" in text and self.ciphers:
            hint = f" (ssh_ciphers offers {', '.join(self.ciphers)})"
        elif "kex" in text and self.key_exchanges:
            hint = f" (ssh_key_exchange_algorithms offers {', '.join(self.key_exchanges)})"
        return SSHError(f"SSH server {self.address} has no algorithm in common with Bakehouse: {text}{hint}")

    def connect(self, ctx: Context, timeout: float = 300.0, handshake_attempts: int = 10) -> None:
        """Wait up to ``timeout`` seconds for the server; give up after
        ``handshake_attempts`` failed SSH handshakes/authentications (the
        bastion's and the machine's)."""
        if (self.auth.agent or (self.bastion is not None and self.bastion.auth.agent)) \
                and not os.environ.get("SSH_AUTH_SOCK"):
            raise SSHError("agent authentication was asked for (ssh_agent_auth/ssh_bastion_agent_auth) "
                           "but SSH_AUTH_SOCK is not set: start ssh-agent and add the key")
        deadline = time.monotonic() + timeout
        attempts = 0
        last_error = "no attempt made"
        first_hop = self.bastion.address if self.bastion is not None else self.address
        while True:
            ctx.check()
            if time.monotonic() >= deadline:
                raise SSHError(f"timeout waiting for SSH on {self.address}: {last_error}")
            bastion_client: paramiko.SSHClient | None = None
            stage = "connect"
            try:
                hop_host, hop_port = (self.bastion.host, self.bastion.port) if self.bastion else (self.host, self.port)
                sock: Any = self._dial(hop_host, hop_port, min(10.0, max(1.0, deadline - time.monotonic())))
                if self.bastion is not None:
                    stage = "bastion"
                    bastion_client = self._handshake(sock, self.bastion.host, self.bastion.port,
                                                     self.bastion.auth, target=False)
                    bastion_transport = bastion_client.get_transport()
                    assert bastion_transport is not None
                    stage = "connect"
                    sock = bastion_transport.open_channel("direct-tcpip", (self.host, self.port), ("127.0.0.1", 0))
                stage = "target"
                if self.read_write_timeout > 0:
                    sock = ActivitySocket(sock, self.read_write_timeout)
                client = self._handshake(sock, self.host, self.port, self.auth, target=True)
            except paramiko.ssh_exception.IncompatiblePeer as exc:
                if bastion_client is not None:
                    bastion_client.close()
                raise self._negotiation_error(exc) from None
            except (paramiko.SSHException, OSError, EOFError) as exc:
                if bastion_client is not None:
                    bastion_client.close()
                if stage == "connect":
                    # nothing answers yet (the machine may still be booting)
                    via = f" through bastion {first_hop}" if self.bastion is not None else ""
                    last_error = f"{exc}{via}"
                    log.debug("TCP connect to %s%s failed: %s", self.address, via, exc)
                    if ctx.wait(min(2.0, max(0.0, deadline - time.monotonic()))):
                        ctx.check()
                    continue
                attempts += 1
                who = f"bastion {first_hop}" if stage == "bastion" else self.address
                user = self.bastion.auth.username if stage == "bastion" and self.bastion else self.username
                last_error = f"{type(exc).__name__}: {exc}"
                log.debug("SSH handshake %d with %s failed: %s", attempts, who, exc)
                if attempts >= handshake_attempts:
                    raise SSHError(
                        f"SSH handshake with {who} as {user!r} failed {attempts} times: {last_error}"
                    ) from None
                if ctx.wait(1.0):
                    ctx.check()
                continue
            transport = client.get_transport()
            assert transport is not None
            if self.keep_alive_seconds > 0:
                _keep_alive(transport, max(1, int(self.keep_alive_seconds)))
            self._client = client
            self._bastion_client = bastion_client
            self._activity = sock if isinstance(sock, ActivitySocket) else None
            break
        self._open_tunnels(transport)

    def _open_tunnels(self, transport: paramiko.Transport) -> None:
        if not (self.local_tunnels or self.remote_tunnels):
            return
        self._tunnels = Tunnels(transport, self.address)
        try:
            for spec in self.local_tunnels:
                self._tunnels.add_local(spec)
            for spec in self.remote_tunnels:
                self._tunnels.add_remote(spec)
        except OSError as exc:
            self.close()
            raise SSHError(str(exc)) from None

    def close(self, stop_timeout: float = 10.0) -> None:
        """Stop the tunnels and the remote commands still running, then close
        the SFTP session and the connection(s). A cancelled command is killed
        through the connection itself, so closing first would leave it running."""
        if self._tunnels is not None:
            self._tunnels.close()
            self._tunnels = None
        for stop in list(self._running):
            stop()
        deadline = time.monotonic() + stop_timeout
        for stopper in list(self._stoppers):
            stopper.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            if self._sftp is not None:
                self._sftp.close()
                self._sftp = None
            if self._client is not None:
                self._client.close()
                self._client = None
            if self._bastion_client is not None:
                self._bastion_client.close()
                self._bastion_client = None

    def _closed_reason(self) -> str:
        if self._activity is not None and self._activity.timed_out:
            return (f"the SSH connection to {self.address} was closed: the server sent nothing for "
                    f"{self.read_write_timeout:g}s (ssh_read_write_timeout)")
        return f"the SSH connection to {self.address} is closed"

    def _transport(self) -> paramiko.Transport:
        if self._client is None:
            raise SSHError(f"not connected to {self.address}")
        transport = self._client.get_transport()
        if transport is None or not transport.is_active():
            raise SSHError(self._closed_reason())
        return transport

    def _via_scp(self) -> bool:
        """scp when asked; "auto" (the default) settles on SFTP when the machine
        offers the subsystem, else on scp, which Packer uses by default."""
        if self.file_transfer == "auto":
            try:
                self._sftp_client()
                self.file_transfer = "sftp"
            except SSHError as exc:
                log.info("no SFTP on %s (%s): files move with scp", self.address, exc)
                self.file_transfer = "scp"
        return self.file_transfer == "scp"

    def _sftp_client(self) -> paramiko.SFTPClient:
        with self._lock:
            if self._sftp is None:
                try:
                    self._sftp = paramiko.SFTPClient.from_transport(self._transport())
                except paramiko.SSHException as exc:
                    raise SSHError(f"could not open SFTP on {self.address}: {exc} (is its sftp subsystem "
                                   "enabled? ssh_file_transfer_method = \"scp\" uses scp instead)") from None
                if self._sftp is None:
                    raise SSHError(f"could not open SFTP on {self.address}")
            return self._sftp

    # -- commands -------------------------------------------------------

    def execute(
        self,
        command: str,
        *,
        on_stdout: OutputCallback,
        on_stderr: OutputCallback,
        ctx: Context,
        stdin: BinaryIO | None = None,
    ) -> int:
        ctx.check()
        try:
            channel = self._transport().open_session()
        except (paramiko.SSHException, EOFError) as exc:
            raise SSHError(f"{self._closed_reason()}: {exc}") from None
        stopped = threading.Event()
        finished = threading.Event()
        stop_lock = threading.Lock()
        stderr = _PidMarkerFilter(on_stderr)

        def stop_remote() -> None:
            # The context outlives this command; once it ended, its pid may
            # belong to someone else, so a later cancel must not touch it.
            if finished.is_set():
                return
            with stop_lock:  # cancel and close() may both ask
                if stopped.is_set():
                    return
                stopped.set()
            stopper = threading.Thread(target=self._stop_remote, args=(channel, stderr), daemon=True)
            stopper.start()
            self._stoppers.append(stopper)

        agent_forward: Any = None
        try:
            if self.pty:
                channel.get_pty()
            if self.forward_agent:
                # the command sees the local agent (SSH_AUTH_SOCK) as its own
                from paramiko.agent import AgentRequestHandler

                agent_forward = AgentRequestHandler(channel)
            channel.exec_command(_wrap_command(command))
            if stdin is not None:
                threading.Thread(target=_feed_stdin, args=(channel, stdin), daemon=True).start()
            else:
                channel.shutdown_write()
            self._running.add(stop_remote)
            ctx.on_cancel(stop_remote)
            exited_at: float | None = None
            while not stopped.is_set():
                if channel.recv_ready():
                    on_stdout(channel.recv(CHUNK_SIZE))
                    continue
                if channel.recv_stderr_ready():
                    stderr.feed(channel.recv_stderr(CHUNK_SIZE))
                    continue
                if channel.closed or (channel.eof_received and channel.exit_status_ready()):
                    break
                if channel.exit_status_ready():
                    exited_at = exited_at or time.monotonic()
                    if time.monotonic() - exited_at > OUTPUT_AFTER_EXIT_GRACE:
                        break
                    select.select([channel], [], [], 0.05)
                    continue
                select.select([channel], [], [], 0.5)
            if stopped.is_set():
                raise Cancelled(ctx.reason or "context canceled")
            # output that arrived between the readiness checks and the exit status
            while channel.recv_ready():
                on_stdout(channel.recv(CHUNK_SIZE))
            while channel.recv_stderr_ready():
                stderr.feed(channel.recv_stderr(CHUNK_SIZE))
            stderr.flush()
            if self._activity is not None and self._activity.timed_out:
                raise SSHError(self._closed_reason())
            if not channel.exit_status_ready():
                return EXIT_DISCONNECTED
            status = channel.recv_exit_status()
            # -1: the server sent no status (the connection dropped mid-command).
            return EXIT_DISCONNECTED if status == -1 else status
        finally:
            self._running.discard(stop_remote)
            finished.set()
            if not stopped.is_set():
                channel.close()
            if agent_forward is not None:
                agent_forward.close()  # joins its relay threads

    def _stop_remote(self, channel: paramiko.Channel, marker: _PidMarkerFilter) -> None:
        """Stop a cancelled command: TERM its process group, KILL it if still
        there after a grace period, then close the channel.

        The RFC 4254 "signal" request is tried first, but OpenSSH refuses it
        for sessions without privilege separation (root logins), so the
        process group is also killed from a second channel, using the pid
        the command wrapper reported."""
        _signal_channel(channel, "TERM")
        pid = marker.pid
        if pid:
            killer = (
                f"kill -TERM -- -{pid} 2>/dev/null; i=0; "
                f"while kill -0 -- -{pid} 2>/dev/null && [ $i -lt 20 ]; do sleep 0.1; i=$((i+1)); done; "
                f"kill -KILL -- -{pid} 2>/dev/null; true"
            )
            try:
                killer_channel = self._transport().open_session()
                killer_channel.exec_command(killer)
                killer_channel.recv_exit_status()
                killer_channel.close()
            except Exception:  # connection gone: the server ends the session itself
                log.debug("could not kill remote process group %s", pid, exc_info=True)
        else:
            _signal_channel(channel, "KILL")
        channel.close()

    # -- files ----------------------------------------------------------

    def _file_error(self, what: str, exc: BaseException) -> SSHError:
        reason = str(exc) or type(exc).__name__
        if self._activity is not None and self._activity.timed_out:
            reason = self._closed_reason()
        via = " (scp)" if self.file_transfer == "scp" else ""
        return SSHError(f"{what} failed{via}: {reason}")

    def upload(self, dst: str, src: BinaryIO, info: FileInfo = FileInfo()) -> None:  # noqa: B008 - the SDK's signature
        if self._via_scp():
            try:
                _scp.upload(self._transport(), dst, src, info.size, info.mode)
            except (OSError, EOFError, paramiko.SSHException) as exc:
                raise self._file_error(f"upload to {self.address}:{dst}", exc) from None
            return
        sftp = self._sftp_client()
        try:
            with sftp.open(dst, "wb") as remote:
                remote.set_pipelined(True)
                while True:
                    chunk = src.read(CHUNK_SIZE)
                    if not chunk:
                        break
                    remote.write(chunk)
            sftp.chmod(dst, info.mode & 0o7777)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise self._file_error(f"upload to {self.address}:{dst}", exc) from None

    def download(self, src: str, dst: BinaryIO) -> None:
        if self._via_scp():
            try:
                _scp.download(self._transport(), src, dst)
            except (OSError, EOFError, paramiko.SSHException) as exc:
                raise self._file_error(f"download of {self.address}:{src}", exc) from None
            return
        sftp = self._sftp_client()
        try:
            with sftp.open(src, "rb") as remote:
                remote.prefetch()
                while True:
                    chunk = remote.read(CHUNK_SIZE)
                    if not chunk:
                        break
                    dst.write(chunk)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise self._file_error(f"download of {self.address}:{src}", exc) from None

    def upload_dir(self, dst: str, src: str, exclude: Sequence[str] = ()) -> None:
        if self._via_scp():
            try:
                _scp.upload_dir(self._transport(), dst, src, lambda rel: _excluded(rel, exclude))
            except (OSError, EOFError, paramiko.SSHException) as exc:
                raise self._file_error(f"upload of {src} to {self.address}:{dst}", exc) from None
            return
        sftp = self._sftp_client()
        root = dst if src.endswith("/") else posixpath.join(dst, os.path.basename(os.path.normpath(src)))
        _sftp_makedirs(sftp, root)
        base = os.path.normpath(src)
        for current, dirs, files in os.walk(base):
            rel_dir = os.path.relpath(current, base)
            for name in sorted(dirs):
                rel = os.path.normpath(os.path.join(rel_dir, name))
                if _excluded(rel, exclude):
                    dirs.remove(name)
                    continue
                _sftp_makedirs(sftp, posixpath.join(root, rel.replace(os.sep, "/")))
            for name in sorted(files):
                rel = os.path.normpath(os.path.join(rel_dir, name))
                if _excluded(rel, exclude):
                    continue
                local = os.path.join(current, name)
                mode = stat.S_IMODE(os.stat(local).st_mode)
                with open(local, "rb") as fh:
                    self.upload(posixpath.join(root, rel.replace(os.sep, "/")), fh, FileInfo(mode=mode))

    def download_dir(self, src: str, dst: str, exclude: Sequence[str] = ()) -> None:
        if self._via_scp():
            try:
                _scp.download_dir(self._transport(), src, dst, lambda rel: _excluded(rel, exclude))
            except (OSError, EOFError, paramiko.SSHException) as exc:
                raise self._file_error(f"download of {self.address}:{src}", exc) from None
            return
        sftp = self._sftp_client()
        base = src.rstrip("/") or "/"
        root = dst if src.endswith("/") else os.path.join(dst, posixpath.basename(base))
        os.makedirs(root, exist_ok=True)
        pending = [""]
        while pending:
            rel_dir = pending.pop()
            try:
                entries = sftp.listdir_attr(posixpath.join(base, rel_dir) if rel_dir else base)
            except OSError as exc:
                raise SSHError(f"listing {self.address}:{src} failed: {exc}") from None
            for entry in sorted(entries, key=lambda e: e.filename):
                rel = posixpath.join(rel_dir, entry.filename) if rel_dir else entry.filename
                if _excluded(rel, exclude):
                    continue
                local = os.path.join(root, *rel.split("/"))
                if stat.S_ISDIR(entry.st_mode or 0):
                    os.makedirs(local, exist_ok=True)
                    pending.append(rel)
                else:
                    with open(local, "wb") as fh:
                        self.download(posixpath.join(base, rel), fh)
                    if entry.st_mode is not None:
                        os.chmod(local, stat.S_IMODE(entry.st_mode))


def _keep_alive(transport: paramiko.Transport, interval: int) -> None:
    """Send ``keepalive@openssh.com`` asking for a reply after ``interval``
    seconds without traffic (paramiko's own keep-alive asks for none): the
    reply proves the server is alive, which ``ssh_read_write_timeout`` needs."""
    proxy = weakref.proxy(transport)

    def request() -> None:
        message = paramiko.Message()
        message.add_byte(paramiko.common.cMSG_GLOBAL_REQUEST)
        message.add_string("keepalive@openssh.com")
        message.add_boolean(True)
        proxy._send_user_message(message)

    transport.packetizer.set_keepalive(interval, request)


def _excluded(rel_path: str, patterns: Sequence[str]) -> bool:
    rel_path = rel_path.replace(os.sep, "/")
    name = rel_path.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(rel_path, p) or fnmatch.fnmatch(name, p) for p in patterns)


def _sftp_makedirs(sftp: paramiko.SFTPClient, path: str) -> None:
    parts = [p for p in path.split("/") if p]
    current = "/" if path.startswith("/") else ""
    for part in parts:
        current = posixpath.join(current, part) if current else part
        try:
            sftp.stat(current)
        except OSError:
            sftp.mkdir(current)


def _feed_stdin(channel: paramiko.Channel, stdin: BinaryIO) -> None:
    try:
        while True:
            chunk = stdin.read(CHUNK_SIZE)
            if not chunk:
                break
            channel.sendall(chunk)
        channel.shutdown_write()
    except (OSError, EOFError):
        pass  # the command ended or was cancelled; nothing left to feed


def _signal_channel(channel: paramiko.Channel, signal_name: str) -> None:
    """Send an RFC 4254 "signal" channel request (OpenSSH delivers it to the
    command's process group); paramiko has no public call for it."""
    if channel.closed:
        return
    try:
        message = paramiko.Message()
        message.add_byte(paramiko.common.cMSG_CHANNEL_REQUEST)
        message.add_int(channel.remote_chanid)
        message.add_string("signal")
        message.add_boolean(False)
        message.add_string(signal_name)
        channel.transport._send_user_message(message)
    except Exception:  # the channel may already be gone; closing follows anyway
        log.debug("could not send signal %s", signal_name, exc_info=True)


_PID_MARKER = b"BAKEHOUSE-REMOTE-PID="


def _wrap_command(command: str) -> str:
    """Report the session's pid (its process group, as sshd calls setsid) on
    stderr, then run ``command`` with ``/bin/sh -c`` semantics in its place."""
    return f"printf '%s%s\\n' '{_PID_MARKER.decode()}' \"$$\" >&2; exec /bin/sh -c {shlex.quote(command)}"


class _PidMarkerFilter:
    """Takes the wrapper's pid line off the start of stderr, passes the rest on."""

    def __init__(self, on_stderr: OutputCallback) -> None:
        self.on_stderr = on_stderr
        self.pid = 0
        self._head: bytes | None = b""  # None once the marker line is consumed

    def feed(self, chunk: bytes) -> None:
        if self._head is None:
            self.on_stderr(chunk)
            return
        self._head += chunk
        if b"\n" not in self._head:
            if not _PID_MARKER.startswith(self._head[: len(_PID_MARKER)]):
                self.flush()
            return
        line, rest = self._head.split(b"\n", 1)
        self._head = None
        if line.startswith(_PID_MARKER) and line[len(_PID_MARKER):].isdigit():
            self.pid = int(line[len(_PID_MARKER):])
        else:
            rest = line + b"\n" + rest
        if rest:
            self.on_stderr(rest)

    def flush(self) -> None:
        if self._head:
            self.on_stderr(self._head)
        self._head = None


def _key_from_file(path: str, certificate: str = "") -> paramiko.PKey:
    with open(os.path.expanduser(path), encoding="utf-8") as fh:
        key = load_private_key(fh.read())
    if certificate:
        try:
            key.load_certificate(os.path.expanduser(certificate))
        except (ValueError, OSError, paramiko.SSHException) as exc:
            raise SSHError(f"certificate {certificate!r} cannot be used with key {path!r}: {exc}") from None
    return key


def communicator_for(config: SSHConfig, host: str, *, private_key_pem: str = "") -> SSHCommunicator:
    """An unconnected :class:`SSHCommunicator` set up as ``config`` says
    (``ssh_host`` wins over ``host``). ``private_key_pem`` is a key the
    builder made (a temporary key pair); ``ssh_private_key_file`` wins over it,
    and ``ssh_agent_auth`` uses the agent only, as in Packer."""
    target = config.ssh_host or host
    if not target:
        raise SSHError("no address to connect to: set ssh_host")
    key: paramiko.PKey | None = None
    password = config.ssh_password
    if config.ssh_agent_auth:
        password = ""
    elif config.ssh_private_key_file:
        key = _key_from_file(config.ssh_private_key_file, config.ssh_certificate_file)
    elif private_key_pem:
        key = load_private_key(private_key_pem)
    if key is None and not password and not config.ssh_agent_auth:
        raise SSHError("no SSH credentials: set ssh_password, ssh_private_key_file or ssh_agent_auth")
    bastion = None
    if config.ssh_bastion_host:
        bastion_key = None
        if config.ssh_bastion_private_key_file and not config.ssh_bastion_agent_auth:
            bastion_key = _key_from_file(config.ssh_bastion_private_key_file, config.ssh_bastion_certificate_file)
        bastion = Bastion(config.ssh_bastion_host, config.ssh_bastion_port, SSHAuth(
            config.ssh_bastion_username, config.ssh_bastion_password, bastion_key, config.ssh_bastion_agent_auth))
    proxy = None
    if config.ssh_proxy_host:
        proxy = SocksProxy(config.ssh_proxy_host, config.ssh_proxy_port,
                           config.ssh_proxy_username, config.ssh_proxy_password)
    return SSHCommunicator(
        target,
        config.ssh_port,
        config.ssh_username,
        password=password,
        private_key=key,
        agent=config.ssh_agent_auth,
        keep_alive_seconds=config.keep_alive_seconds,
        pty=config.ssh_pty,
        ciphers=config.ssh_ciphers,
        key_exchanges=config.ssh_key_exchange_algorithms,
        read_write_timeout=config.read_write_timeout_seconds,
        bastion=bastion,
        proxy=proxy,
        file_transfer=config.ssh_file_transfer_method or "auto",
        local_tunnels=[TunnelSpec.parse(t) for t in config.ssh_local_tunnels],
        remote_tunnels=[TunnelSpec.parse(t) for t in config.ssh_remote_tunnels],
        # Packer forwards the agent whenever there is one, unless told not to
        forward_agent=not config.ssh_disable_agent_forwarding and bool(os.environ.get("SSH_AUTH_SOCK")),
    )


def connect_ssh(
    config: SSHConfig,
    host: str,
    ctx: Context,
    ui: Ui | None = None,
    *,
    private_key_pem: str = "",
) -> SSHCommunicator:
    """Connect as ``config`` says to ``host`` (``ssh_host`` wins when set),
    after ``pause_before_connecting``; see :func:`communicator_for`."""
    communicator = communicator_for(config, host, private_key_pem=private_key_pem)
    pause = config.pause_before_connecting_seconds
    if pause > 0:
        if ui is not None:
            ui.say(f"Waiting {config.pause_before_connecting} before connecting...")
        if ctx.wait(pause):
            ctx.check()
    if ui is not None:
        via = f" through bastion {communicator.bastion.address}" if communicator.bastion else ""
        ui.say(f"Waiting for SSH to become available on {communicator.address}{via}...")
    communicator.connect(ctx, config.ssh_timeout_seconds, config.ssh_handshake_attempts)
    if ui is not None:
        ui.say("Connected to SSH!")
    return communicator


def clear_authorized_keys(communicator: Communicator, public_key: str, ctx: Context, ui: Ui | None = None) -> None:
    """``ssh_clear_authorized_keys``: remove the line holding ``public_key``
    (``"type base64"``) from the login user's and root's ``authorized_keys``
    (root's through sudo when not root), with ``sed`` on the machine, as
    Packer does. Failures are reported, not fatal: the key is temporary."""
    fields = public_key.split()
    if len(fields) < 2:
        return
    # base64 has no sed-special characters but "/" and "+": match it literally
    pattern = fields[1].replace("/", "\\/")
    script = (
        f"sed -i.bak '/{pattern}/d' ~/.ssh/authorized_keys; rm -f ~/.ssh/authorized_keys.bak; "
        f"if [ \"$(id -u)\" != 0 ]; then sudo -n sed -i.bak '/{pattern}/d' /root/.ssh/authorized_keys; "
        f"sudo -n rm -f /root/.ssh/authorized_keys.bak; fi"
    )
    if ui is not None:
        ui.say("Trying to remove ephemeral keys from authorized_keys files")
    errors = bytearray()
    status = communicator.execute(script, on_stdout=lambda _: None, on_stderr=errors.extend, ctx=ctx)
    if status != 0 and ui is not None:
        ui.say(f"Removing the temporary key from authorized_keys failed (exit {status}): "
                 f"{errors.decode(errors='replace').strip()}")
