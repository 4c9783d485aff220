"""The SSH communicator (paramiko), shared by every builder that reaches its
machine over SSH (``amazon-ebs``, the core's ``null`` builder, ...).

Two public names matter to builder authors:

- :class:`SSHConfig`: the ``communicator``/``ssh_*`` options as a pydantic
  model; a builder's :class:`~bakehouse.sdk.config.Config` inherits from it.
- :func:`connect_ssh`: waits for the SSH server (``pause_before_connecting``,
  ``ssh_timeout``, ``ssh_handshake_attempts``) and returns a connected
  :class:`SSHCommunicator`.

Commands run through an ``exec`` channel (the login shell runs them, so
``/bin/sh -c`` semantics); output is streamed in chunks as it arrives.
Cancelling the context sends the remote process group ``TERM`` (then
``KILL``) and closes the channel, so the remote command stops. Files and
directories move over SFTP in fixed-size chunks, so memory stays flat.
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
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

from pydantic import field_validator, model_validator

from bakehouse.sdk.communicator import EXIT_DISCONNECTED, Communicator, FileInfo, OutputCallback
from bakehouse.sdk.config import Config, option, parse_duration, unsupported
from bakehouse.sdk.context import Cancelled, Context
from bakehouse.sdk.ui import Ui

if TYPE_CHECKING:
    # Imported where a connection is made, not with the module: builders
    # import SSHConfig for their schema, and paramiko costs ~110 ms of CPU.
    import paramiko

log = logging.getLogger("bakehouse.sdk.ssh")

#: Size of the chunks file contents and command output move in.
CHUNK_SIZE = 32 * 1024


class SSHError(Exception):
    """Connecting to, or talking with, the SSH server failed (the message names host:port)."""


_NOT_YET = "not implemented in Bakehouse's SSH communicator yet"


class SSHConfig(Config):
    """The ``communicator`` and ``ssh_*`` options, as in Packer's SSH communicator.

    Durations are Go-style strings (``"5m"``, ``"30s"``); use the ``*_seconds``
    properties. ``communicator = "none"`` means the builder skips provisioning.
    """

    communicator: Literal["ssh", "none"] = "ssh"
    ssh_host: str = ""
    ssh_port: int = 22
    ssh_username: str = ""
    ssh_password: str = ""
    ssh_private_key_file: str = ""
    ssh_timeout: str = "5m"
    ssh_wait_timeout: str = option("", note="Packer's older name of ssh_timeout, used when ssh_timeout is not set")
    ssh_handshake_attempts: int = 10
    pause_before_connecting: str = "0s"
    ssh_agent_auth: bool = False
    ssh_keep_alive_interval: str = "5s"
    ssh_pty: bool = False
    ssh_disable_agent_forwarding: bool = option(False, note="accepted; Bakehouse never forwards an agent")
    ssh_file_transfer_method: Literal["", "sftp"] = option(
        "", note="sftp only (scp is not implemented yet)")
    ssh_bastion_host: Any = unsupported(_NOT_YET)
    ssh_bastion_port: Any = unsupported(_NOT_YET)
    ssh_bastion_username: Any = unsupported(_NOT_YET)
    ssh_bastion_password: Any = unsupported(_NOT_YET)
    ssh_bastion_private_key_file: Any = unsupported(_NOT_YET)
    ssh_bastion_certificate_file: Any = unsupported(_NOT_YET)
    ssh_bastion_agent_auth: Any = unsupported(_NOT_YET)
    ssh_bastion_interactive: Any = unsupported(_NOT_YET)
    ssh_proxy_host: Any = unsupported(_NOT_YET)
    ssh_proxy_port: Any = unsupported(_NOT_YET)
    ssh_proxy_username: Any = unsupported(_NOT_YET)
    ssh_proxy_password: Any = unsupported(_NOT_YET)
    ssh_clear_authorized_keys: Any = unsupported(_NOT_YET)
    ssh_ciphers: Any = unsupported(_NOT_YET)
    ssh_key_exchange_algorithms: Any = unsupported(_NOT_YET)
    ssh_certificate_file: Any = unsupported(_NOT_YET)
    ssh_read_write_timeout: Any = unsupported(_NOT_YET)
    ssh_local_tunnels: Any = unsupported(_NOT_YET)
    ssh_remote_tunnels: Any = unsupported(_NOT_YET)

    @field_validator("ssh_timeout", "ssh_wait_timeout", "pause_before_connecting", "ssh_keep_alive_interval")
    @classmethod
    def _valid_duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @model_validator(mode="after")
    def _wait_timeout_is_the_old_name(self) -> SSHConfig:
        if self.ssh_wait_timeout and "ssh_timeout" not in self.model_fields_set:
            self.ssh_timeout = self.ssh_wait_timeout
        return self

    @field_validator("ssh_port")
    @classmethod
    def _valid_port(cls, value: int) -> int:
        if not 0 < value < 65536:
            raise ValueError(f"ssh_port must be between 1 and 65535, got {value}")
        return value

    @field_validator("ssh_handshake_attempts")
    @classmethod
    def _valid_attempts(cls, value: int) -> int:
        if value < 1:
            raise ValueError("ssh_handshake_attempts must be at least 1")
        return value

    @field_validator("ssh_agent_auth")
    @classmethod
    def _no_agent(cls, value: bool) -> bool:
        if value:
            # Reaching into the user's agent from a plugin process would make
            # builds depend on the caller's session; ask for a key file instead.
            raise ValueError(
                "ssh_agent_auth is not supported by Bakehouse; use ssh_private_key_file "
                "or let the builder create a temporary key pair"
            )
        return value

    @model_validator(mode="after")
    def _key_file_exists(self) -> SSHConfig:
        if self.ssh_private_key_file and not os.path.isfile(
            os.path.expanduser(self.ssh_private_key_file)
        ):
            raise ValueError(f"ssh_private_key_file {self.ssh_private_key_file!r} does not exist")
        return self

    @property
    def ssh_timeout_seconds(self) -> float:
        return parse_duration(self.ssh_timeout)

    @property
    def pause_before_connecting_seconds(self) -> float:
        return parse_duration(self.pause_before_connecting)

    @property
    def keep_alive_seconds(self) -> float:
        return parse_duration(self.ssh_keep_alive_interval)


def load_private_key(text: str, password: str | None = None) -> paramiko.PKey:
    """Parse a PEM/OpenSSH private key of any type paramiko knows."""
    import paramiko

    errors = []
    for key_class in (paramiko.Ed25519Key, paramiko.RSAKey, paramiko.ECDSAKey):
        try:
            return key_class.from_private_key(io.StringIO(text), password=password)
        except (paramiko.SSHException, ValueError) as exc:
            errors.append(str(exc))
    raise SSHError("the private key could not be parsed: " + "; ".join(errors))


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
        keep_alive_seconds: float = 5.0,
        pty: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.private_key = private_key
        self.keep_alive_seconds = keep_alive_seconds
        self.pty = pty
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._lock = threading.Lock()
        # Commands still running (their stop functions) and the threads
        # stopping cancelled ones: close() must not cut the connection under them.
        self._running: set[Callable[[], None]] = set()
        self._stoppers: list[threading.Thread] = []

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    # -- connection -----------------------------------------------------

    def connect(self, ctx: Context, timeout: float = 300.0, handshake_attempts: int = 10) -> None:
        """Wait up to ``timeout`` seconds for the server; give up after
        ``handshake_attempts`` failed SSH handshakes/authentications."""
        import paramiko

        deadline = time.monotonic() + timeout
        attempts = 0
        last_error = "no attempt made"
        while True:
            ctx.check()
            if time.monotonic() >= deadline:
                raise SSHError(f"timeout waiting for SSH on {self.address}: {last_error}")
            try:
                sock = socket.create_connection(
                    (self.host, self.port), timeout=min(10.0, max(1.0, deadline - time.monotonic()))
                )
            except OSError as exc:
                last_error = str(exc)
                log.debug("TCP connect to %s failed: %s", self.address, exc)
                if ctx.wait(min(2.0, max(0.0, deadline - time.monotonic()))):
                    ctx.check()
                continue
            client = paramiko.SSHClient()
            # The machine is brand new: there is no known host key to check against.
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
            try:
                client.connect(
                    self.host,
                    port=self.port,
                    username=self.username,
                    password=self.password or None,
                    pkey=self.private_key,
                    sock=sock,
                    allow_agent=False,
                    look_for_keys=False,
                    timeout=30,
                    banner_timeout=30,
                    auth_timeout=30,
                )
            except (paramiko.SSHException, OSError, EOFError) as exc:
                client.close()
                attempts += 1
                last_error = f"{type(exc).__name__}: {exc}"
                log.debug("SSH handshake %d with %s failed: %s", attempts, self.address, exc)
                if attempts >= handshake_attempts:
                    raise SSHError(
                        f"SSH handshake with {self.address} as {self.username!r} failed "
                        f"{attempts} times: {last_error}"
                    ) from None
                if ctx.wait(1.0):
                    ctx.check()
                continue
            transport = client.get_transport()
            assert transport is not None
            if self.keep_alive_seconds > 0:
                transport.set_keepalive(max(1, int(self.keep_alive_seconds)))
            self._client = client
            return

    def close(self, stop_timeout: float = 10.0) -> None:
        """Stop remote commands still running, then close the SFTP session and
        the connection. A cancelled command is killed through the connection
        itself, so closing first would leave it running on the machine."""
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

    def _transport(self) -> paramiko.Transport:
        if self._client is None:
            raise SSHError(f"not connected to {self.address}")
        transport = self._client.get_transport()
        if transport is None or not transport.is_active():
            raise SSHError(f"the SSH connection to {self.address} is closed")
        return transport

    def _sftp_client(self) -> paramiko.SFTPClient:
        import paramiko

        with self._lock:
            if self._sftp is None:
                self._sftp = paramiko.SFTPClient.from_transport(self._transport())
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
        channel = self._transport().open_session()
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

        try:
            if self.pty:
                channel.get_pty()
            channel.exec_command(_wrap_command(command))
            if stdin is not None:
                threading.Thread(target=_feed_stdin, args=(channel, stdin), daemon=True).start()
            else:
                channel.shutdown_write()
            self._running.add(stop_remote)
            ctx.on_cancel(stop_remote)
            while not stopped.is_set():
                if channel.recv_ready():
                    on_stdout(channel.recv(CHUNK_SIZE))
                    continue
                if channel.recv_stderr_ready():
                    stderr.feed(channel.recv_stderr(CHUNK_SIZE))
                    continue
                if channel.exit_status_ready() or channel.closed:
                    break
                select.select([channel], [], [], 0.5)
            if stopped.is_set():
                raise Cancelled(ctx.reason or "context canceled")
            stderr.flush()
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

    def upload(self, dst: str, src: BinaryIO, info: FileInfo = FileInfo()) -> None:  # noqa: B008 - the SDK's signature
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
        except OSError as exc:
            raise SSHError(f"upload to {self.address}:{dst} failed: {exc}") from None

    def download(self, src: str, dst: BinaryIO) -> None:
        sftp = self._sftp_client()
        try:
            with sftp.open(src, "rb") as remote:
                remote.prefetch()
                while True:
                    chunk = remote.read(CHUNK_SIZE)
                    if not chunk:
                        break
                    dst.write(chunk)
        except OSError as exc:
            raise SSHError(f"download of {self.address}:{src} failed: {exc}") from None

    def upload_dir(self, dst: str, src: str, exclude: Sequence[str] = ()) -> None:
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
    import paramiko

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


def connect_ssh(
    config: SSHConfig,
    host: str,
    ctx: Context,
    ui: Ui | None = None,
    *,
    private_key_pem: str = "",
) -> SSHCommunicator:
    """Connect as ``config`` says to ``host`` (``ssh_host`` wins when set).

    ``private_key_pem`` is a key the builder made (a temporary key pair); an
    ``ssh_private_key_file`` from the template wins over it.
    """
    target = config.ssh_host or host
    if not target:
        raise SSHError("no address to connect to: set ssh_host")
    key: paramiko.PKey | None = None
    if config.ssh_private_key_file:
        with open(os.path.expanduser(config.ssh_private_key_file), encoding="utf-8") as fh:
            key = load_private_key(fh.read())
    elif private_key_pem:
        key = load_private_key(private_key_pem)
    if key is None and not config.ssh_password:
        raise SSHError("no SSH credentials: set ssh_password or ssh_private_key_file")
    pause = config.pause_before_connecting_seconds
    if pause > 0:
        if ui is not None:
            ui.say(f"Waiting {config.pause_before_connecting} before connecting...")
        if ctx.wait(pause):
            ctx.check()
    if ui is not None:
        ui.say(f"Waiting for SSH to become available on {target}:{config.ssh_port}...")
    communicator = SSHCommunicator(
        target,
        config.ssh_port,
        config.ssh_username,
        password=config.ssh_password,
        private_key=key,
        keep_alive_seconds=config.keep_alive_seconds,
        pty=config.ssh_pty,
    )
    communicator.connect(ctx, config.ssh_timeout_seconds, config.ssh_handshake_attempts)
    if ui is not None:
        ui.say("Connected to SSH!")
    return communicator
