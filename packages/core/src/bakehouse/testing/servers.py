"""Real servers on loopback for tests: a moto server, an OpenSSH server,
a Docker registry, and the local Docker engine behind a TCP/TLS listener.

All are context managers; the pytest plugin wraps them as the fixtures
``bakehouse_moto`` (with ``bakehouse_aws_env``), ``bakehouse_sshd`` and
``bakehouse_registry`` / ``bakehouse_registry_with_login``.

:func:`moto_server` starts ``moto_server`` (``moto[server]``) on a free
loopback port. :func:`openssh_server` starts ``/usr/sbin/sshd`` on a free
loopback port with a temporary host key. It accepts a generated client key
(``SshServer.client_key``) and, when given a moto endpoint and run as root,
every key pair that moto knows: an ``AuthorizedKeysCommand`` asks moto for the
public keys, so a temporary key pair a builder creates is really accepted.
:func:`docker_engine_relay` makes the local engine a "remote" one
(``DOCKER_HOST=tcp://127.0.0.1:PORT``, optionally TLS) and records the
requests it relays.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MOTO_SERVER = Path(sys.executable).parent / "moto_server"
SSHD = "/usr/sbin/sshd"
REGISTRY = "/usr/bin/docker-registry"
SSH_KEYGEN = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"

#: Regions the AuthorizedKeysCommand asks moto about.
KEY_REGIONS = ("us-east-1", "us-west-2")

__all__ = [
    "KEY_REGIONS",
    "MOTO_SERVER",
    "MotoServer",
    "REGISTRY",
    "RegistryCredentials",
    "SSHD",
    "SshServer",
    "docker_registry",
    "docker_registry_with_login",
    "free_port",
    "moto_server",
    "openssh_server",
    "ssh_agent",
    "sshd_accepts_moto_keys",
]


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout}s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class MotoServer:
    """A running moto server: ``endpoint`` and the environment that targets it."""

    endpoint: str
    process: subprocess.Popen[bytes]
    env: dict[str, str] = field(default_factory=dict)

    def reset(self) -> None:
        """Forget every resource (moto's reset API)."""
        request = urllib.request.Request(self.endpoint + "/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).read()

    def client(self, service: str = "ec2", region: str = "us-east-1") -> Any:
        """A boto3 client of ``service`` talking to this server."""
        import boto3

        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


@contextmanager
def moto_server() -> Iterator[MotoServer]:
    """A real ``moto_server`` process on a free loopback port."""
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="moto-server-", suffix=".log", delete=False)
    proc = subprocess.Popen(
        [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    try:
        _wait_port(port, proc, "moto_server")
        endpoint = f"http://127.0.0.1:{port}"
        env = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            # never read the developer's real configuration
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        yield MotoServer(endpoint, proc, env)
    finally:
        _stop(proc)
        log.close()
        os.unlink(log.name)


_KEYS_COMMAND = '''\
"""AuthorizedKeysCommand: print the public keys of every key pair moto knows."""
import boto3
for region in {regions!r}:
    ec2 = boto3.client("ec2", region_name=region, endpoint_url={endpoint!r},
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    for pair in ec2.describe_key_pairs(IncludePublicKey=True).get("KeyPairs", []):
        key = (pair.get("PublicKey") or "").strip()
        if key:
            print(key)
'''


@dataclass
class SshServer:
    """A running sshd on loopback."""

    host: str
    port: int
    user: str
    client_key: Path  #: private key (OpenSSH format) accepted by the server
    client_public_key: str
    workdir: Path
    process: subprocess.Popen[bytes]


@contextmanager
def ssh_agent(socket_path: Path, *keys: Path) -> Iterator[Path]:
    """A real ``ssh-agent`` listening on ``socket_path`` and holding ``keys``;
    stopped on exit. Point ``SSH_AUTH_SOCK`` at the path to use it."""
    process = subprocess.Popen(["ssh-agent", "-D", "-a", str(socket_path)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not socket_path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        env = {**os.environ, "SSH_AUTH_SOCK": str(socket_path)}
        for key in keys:
            subprocess.run(["ssh-add", "-q", str(key)], env=env, check=True, stderr=subprocess.DEVNULL)
        yield socket_path
    finally:
        process.terminate()
        process.wait(10)


def sshd_accepts_moto_keys() -> bool:
    """Whether :func:`openssh_server` can accept moto's key pairs (needs root)."""
    return os.getuid() == 0


def _owned_safe_dir() -> Path:
    """A directory sshd's path-safety check accepts (no world-writable parent):
    /tmp is world-writable, so the AuthorizedKeysCommand script cannot live there."""
    base = Path.home() / ".cache" / "bakehouse-tests"
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    return Path(tempfile.mkdtemp(prefix="sshd-", dir=base))


def _sshd_keyword(line: str) -> str:
    """The keyword of an sshd_config line (with the subsystem's name for ``Subsystem``)."""
    words = line.lower().split()
    return " ".join(words[:2]) if words and words[0] == "subsystem" else (words[0] if words else "")


@contextmanager
def openssh_server(moto_endpoint: str | None = None, extra_config: Sequence[str] = ()) -> Iterator[SshServer]:
    """A real OpenSSH server on a free loopback port, running as the current
    user; with ``moto_endpoint`` (and root) it also accepts moto's key pairs.
    ``extra_config`` lines replace the default lines of the same keywords
    (``Subsystem sftp ...`` replaces the sftp subsystem); its log is
    ``workdir/sshd.log``."""
    workdir = _owned_safe_dir()
    os.chmod(workdir, 0o700)
    user = os.environ.get("USER") or __import__("pwd").getpwuid(os.getuid()).pw_name
    host_key = workdir / "host_ed25519"
    client_key = workdir / "client_ed25519"
    for key in (host_key, client_key):
        subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    client_public = (workdir / "client_ed25519.pub").read_text().strip()
    authorized = workdir / "authorized_keys"
    authorized.write_text(client_public + "\n")
    authorized.chmod(0o600)
    port = free_port()
    lines = [
        f"Port {port}",
        "ListenAddress 127.0.0.1",
        f"HostKey {host_key}",
        f"PidFile {workdir / 'sshd.pid'}",
        f"AuthorizedKeysFile {authorized}",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        "PermitRootLogin yes",
        "Subsystem sftp internal-sftp",
        "LogLevel ERROR",
        "MaxStartups 50",
        "MaxSessions 50",
    ]
    replaced = {_sshd_keyword(line) for line in extra_config}
    lines = [line for line in lines if _sshd_keyword(line) not in replaced] + list(extra_config)
    if moto_endpoint and sshd_accepts_moto_keys():
        # sshd can only run the command (as a given user) when it runs as root.
        script = workdir / "moto_keys.py"
        script.write_text(_KEYS_COMMAND.format(regions=KEY_REGIONS, endpoint=moto_endpoint))
        script.chmod(0o600)
        lines += [f"AuthorizedKeysCommand {sys.executable} {script}", f"AuthorizedKeysCommandUser {user}"]
    config = workdir / "sshd_config"
    config.write_text("\n".join(lines) + "\n")
    if os.getuid() == 0:
        # sshd's privilege separation directory; the Debian service normally creates it.
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    # sshd insists on being started by absolute path; -D keeps it in the foreground.
    with open(workdir / "sshd.log", "wb") as log:
        proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(config)],
            stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL,
        )
    try:
        try:
            _wait_port(port, proc, "sshd")
        except RuntimeError as exc:
            log_text = (workdir / "sshd.log").read_text(errors="replace")
            raise RuntimeError(f"{exc}: {log_text.strip()}") from None
        yield SshServer("127.0.0.1", port, user, client_key, client_public, workdir, proc)
    finally:
        _stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


# -- a Docker registry ---------------------------------------------------------


@dataclass(frozen=True)
class RegistryCredentials:
    """A registry that asks for a login, and the login it accepts."""

    address: str  #: ``127.0.0.1:PORT``
    username: str
    password: str


def _serve_registry(root: Path, htpasswd: Path | None = None) -> Iterator[str]:
    port = free_port()
    auth = (
        "auth:\n  htpasswd:\n    realm: bakehouse-test\n    path: " + str(htpasswd) + "\n"
        if htpasswd is not None else ""
    )
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        "storage:\n  filesystem:\n    rootdirectory: " + str(root / "data") + "\n"
        "  delete:\n    enabled: true\n"
        "http:\n  addr: 127.0.0.1:" + str(port) + "\n" + auth
    )
    log = open(root / "registry.log", "wb")
    process = subprocess.Popen([REGISTRY, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://{address}/v2/", timeout=2) as response:
                    if response.status == 200:
                        break
            except urllib.error.HTTPError as exc:
                if exc.code == 401:  # up, and asking for credentials
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "docker-registry did not start: " + (root / "registry.log").read_text(errors="replace")[-2000:]
                )
            time.sleep(0.1)
        yield address
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@contextmanager
def docker_registry(root: Path) -> Iterator[str]:
    """Debian's ``docker-registry`` serving plain HTTP on a free loopback port,
    storing under ``root``; yields ``127.0.0.1:PORT`` (the engine treats
    loopback registries as insecure, so no TLS is needed)."""
    yield from _serve_registry(root)


@contextmanager
def docker_registry_with_login(
    root: Path, username: str = "bakehouse", password: str = ""
) -> Iterator[RegistryCredentials]:
    """The same registry, requiring a user name and password (htpasswd, bcrypt);
    the password is random unless given (e.g. the one a token service hands out)."""
    import bcrypt

    password = password or uuid.uuid4().hex
    htpasswd = root / "htpasswd"
    htpasswd.write_text(f"{username}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()}\n")
    for address in _serve_registry(root, htpasswd):
        yield RegistryCredentials(address, username, password)


# -- the local Docker engine as a remote one -------------------------------------

ENGINE_SOCKET = "/var/run/docker.sock"
#: A request line, wherever a read of the client's bytes starts or ends.
_REQUEST_LINE = re.compile(rb"(?:GET|POST|PUT|HEAD|DELETE|PATCH|OPTIONS) /\S* HTTP/1\.[01]\r\n")


@dataclass
class EngineRelay:
    """A loopback listener relaying each connection to the engine's unix socket
    (TLS-terminated when ``tls`` is a server context); ``requests`` holds each
    request's line and headers as the client sent them."""

    tls: ssl.SSLContext | None = None
    requests: list[bytes] = field(default_factory=list)  #: request line and headers as sent
    port: int = 0

    def __post_init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self._open: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    @property
    def docker_host(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            thread = threading.Thread(target=self._relay, args=(client,), daemon=True)
            with self._lock:
                self._open.append(client)
                self._threads.append(thread)
            thread.start()

    def _relay(self, client: socket.socket) -> None:
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with self._lock:
            self._open.append(upstream)
        try:
            if self.tls is not None:
                client = self.tls.wrap_socket(client, server_side=True)
                with self._lock:
                    self._open.append(client)
            upstream.connect(ENGINE_SOCKET)
            client_open = True
            unread = b""  # the client's bytes not yet searched for a whole request head
            while True:
                pending = isinstance(client, ssl.SSLSocket) and client.pending() > 0
                ready = [client] if pending else select.select(
                    [client, upstream] if client_open else [upstream], [], [], 1.0)[0]
                for sock in ready:
                    data = sock.recv(65536)
                    if sock is client:
                        if not data:  # the client is done sending: pass the half-close on
                            client_open = False
                            upstream.shutdown(socket.SHUT_WR)
                            continue
                        unread = self._record_heads(unread + data)
                        upstream.sendall(data)
                    else:
                        if not data:
                            return
                        client.sendall(data)
        except OSError:  # ssl.SSLError is one
            return
        finally:
            for sock in (client, upstream):
                try:
                    sock.close()
                except OSError:
                    pass

    def _record_heads(self, data: bytes) -> bytes:
        """Record each whole request head in ``data`` (a head may arrive split
        across reads, or behind a body in the same read); return what may
        still hold the start of one."""
        while True:
            line = _REQUEST_LINE.search(data)
            if line is None:
                return data[-8192:]
            end = data.find(b"\r\n\r\n", line.start())
            if end < 0:
                return data[line.start():]
            with self._lock:
                self.requests.append(data[line.start():end])
            data = data[end + 4:]

    def close(self) -> None:
        # close() alone does not wake a thread blocked in accept() on Linux
        # (the join below then waited its full 10 s): shutdown() does.
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            sockets, threads = list(self._open), list(self._threads)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self._accepting.join(timeout=10)
        for thread in threads:
            thread.join(timeout=10)
        assert not any(thread.is_alive() for thread in threads), "a relay thread did not stop"

    def saw(self, pattern: str) -> list[str]:
        with self._lock:
            heads = [head.decode("latin-1") for head in self.requests]
        return [head for head in heads if re.search(pattern, head, re.S)]


@contextmanager
def docker_engine_relay(tls: ssl.SSLContext | None = None) -> Iterator[EngineRelay]:
    """The local engine behind ``relay.docker_host`` (``tcp://127.0.0.1:PORT``)
    until the block ends; every relay thread is stopped on the way out."""
    relay = EngineRelay(tls=tls)
    try:
        yield relay
    finally:
        relay.close()
