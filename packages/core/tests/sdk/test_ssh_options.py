"""Packer's SSH communicator options, each proven against real OpenSSH
servers on loopback: a second sshd as bastion, one that trusts a user CA,
one that offers few algorithms, a real ssh-agent, a real SOCKS5 proxy
(``ssh -D``) and the remote ``scp`` program."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from bakehouse.sdk import ConfigError, Context, FileInfo, parse_config
from bakehouse.sdk.ssh import (
    SSHCommunicator,
    SSHConfig,
    SSHError,
    clear_authorized_keys,
    connect_ssh,
)
from bakehouse.testing.servers import SSH_KEYGEN, SshServer, free_port, openssh_server, ssh_agent

pytestmark = [pytest.mark.ssh]


def _config(server: SshServer, **extra: object) -> SSHConfig:
    raw: dict[str, object] = {
        "ssh_username": server.user,
        "ssh_port": server.port,
        "ssh_private_key_file": str(server.client_key),
        "ssh_timeout": "20s",
        "ssh_handshake_attempts": 2,
    }
    raw.update(extra)
    return parse_config(SSHConfig, {k: v for k, v in raw.items() if v is not None})


def _run(comm: SSHCommunicator, command: str) -> tuple[int, bytes]:
    out = bytearray()
    status = comm.execute(command, on_stdout=out.extend, on_stderr=out.extend, ctx=Context())
    return status, bytes(out)


def _keygen(path: Path) -> Path:
    subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user CA key, and a client key it signed (``key``, ``key-cert.pub``)."""
    root = tmp_path_factory.mktemp("ssh-ca")
    _keygen(root / "ca")
    _keygen(root / "key")
    user = os.environ.get("USER") or __import__("pwd").getpwuid(os.getuid()).pw_name
    subprocess.run([SSH_KEYGEN, "-q", "-s", str(root / "ca"), "-I", "bakehouse-test", "-n", user,
                    str(root / "key.pub")], check=True)
    return root


@pytest.fixture(scope="module")
def bastion_sshd(ca: Path) -> Iterator[SshServer]:
    """A second sshd: trusts the CA, logs forwarded connections (DEBUG), listens on ::1 too."""
    with openssh_server(extra_config=[f"TrustedUserCAKeys {ca / 'ca.pub'}", "LogLevel DEBUG1",
                                      "ListenAddress 127.0.0.1", "ListenAddress ::1"]) as server:
        yield server


@pytest.fixture(scope="module")
def narrow_sshd() -> Iterator[SshServer]:
    """An sshd that offers one cipher and one key exchange."""
    with openssh_server(extra_config=["Ciphers aes128-ctr", "KexAlgorithms curve25519-sha256@libssh.org"]) as server:
        yield server


@pytest.fixture
def agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bakehouse_sshd: SshServer) -> Iterator[Path]:
    """A real ssh-agent on a socket of this test, holding the loopback sshd's client key."""
    with ssh_agent(tmp_path / "agent.sock", bakehouse_sshd.client_key) as sock:
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        yield sock


def _forwards_in_log(server: SshServer) -> list[str]:
    text = (server.workdir / "sshd.log").read_text(errors="replace")
    return [line for line in text.splitlines() if "server_request_direct_tcpip" in line]


# -- algorithms -----------------------------------------------------------------


def test_ssh_ciphers_are_offered_in_order(bakehouse_sshd: SshServer) -> None:
    comm = connect_ssh(_config(bakehouse_sshd, ssh_ciphers=["aes256-ctr", "aes128-ctr"]), "127.0.0.1", Context())
    try:
        transport = comm._transport()
        assert (transport.local_cipher, transport.remote_cipher) == ("aes256-ctr", "aes256-ctr")
    finally:
        comm.close()


def test_a_cipher_the_server_refuses_is_a_clear_error(narrow_sshd: SshServer) -> None:
    started = time.monotonic()
    with pytest.raises(SSHError, match=r"no algorithm in common.*cipher.*ssh_ciphers offers aes256-ctr"):
        connect_ssh(_config(narrow_sshd, ssh_ciphers=["aes256-ctr"]), "127.0.0.1", Context())
    assert time.monotonic() - started < 10  # no retry can help: not retried
    comm = connect_ssh(_config(narrow_sshd, ssh_ciphers=["aes128-ctr"]), "127.0.0.1", Context())
    comm.close()


def test_key_exchange_algorithms_reach_the_handshake(narrow_sshd: SshServer) -> None:
    with pytest.raises(SSHError, match=r"no algorithm in common.*ssh_key_exchange_algorithms offers ecdh-sha2-nistp256"):
        connect_ssh(_config(narrow_sshd, ssh_key_exchange_algorithms=["ecdh-sha2-nistp256"]), "127.0.0.1", Context())
    comm = connect_ssh(_config(narrow_sshd, ssh_key_exchange_algorithms=["curve25519-sha256@libssh.org"]),
                       "127.0.0.1", Context())
    try:
        assert _run(comm, "echo kex-ok") == (0, b"kex-ok\n")
    finally:
        comm.close()


def test_unknown_algorithms_and_bad_tunnels_are_config_errors() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(SSHConfig, {"ssh_ciphers": ["rot13"], "ssh_local_tunnels": ["8080:localhost"],
                                 "ssh_bastion_host": "127.0.0.1", "ssh_bastion_interactive": True,
                                 "communicator": "winrm"})
    messages = {problem.path: problem.message for problem in info.value.problems}
    assert "none of rot13 is available" in messages[("ssh_ciphers",)]
    assert "[bind_address:]port:host:hostport" in messages[("ssh_local_tunnels",)]
    assert "plugins run without" in messages[("ssh_bastion_interactive",)]
    assert "no WinRM communicator" in messages[("communicator",)]
    with pytest.raises(ConfigError, match=r"bastion \(ssh_bastion_host\) needs ssh_bastion_password"):
        parse_config(SSHConfig, {"ssh_bastion_host": "127.0.0.1"})


# -- certificates and the agent ---------------------------------------------------


def test_certificate_file_authenticates_a_key_the_server_does_not_list(bastion_sshd: SshServer, ca: Path) -> None:
    without = _config(bastion_sshd, ssh_private_key_file=str(ca / "key"))
    with pytest.raises(SSHError, match="failed 2 times"):
        connect_ssh(without, "127.0.0.1", Context())
    with_cert = _config(bastion_sshd, ssh_private_key_file=str(ca / "key"),
                        ssh_certificate_file=str(ca / "key-cert.pub"))
    comm = connect_ssh(with_cert, "127.0.0.1", Context())
    try:
        status, out = _run(comm, "echo by-certificate")  # (this sshd also logs debug lines to the session)
        assert status == 0 and b"by-certificate\n" in out
    finally:
        comm.close()


def test_agent_auth_uses_the_keys_of_a_running_agent(bakehouse_sshd: SshServer, agent: Path) -> None:
    config = _config(bakehouse_sshd, ssh_private_key_file=None, ssh_agent_auth=True)
    comm = connect_ssh(config, "127.0.0.1", Context())
    try:
        assert _run(comm, "echo by-agent") == (0, b"by-agent\n")
    finally:
        comm.close()


def test_the_agent_is_forwarded_unless_disabled(bakehouse_sshd: SshServer, agent: Path) -> None:
    listed = subprocess.run(["ssh-add", "-l"], capture_output=True, text=True, check=True).stdout.strip()
    comm = connect_ssh(_config(bakehouse_sshd), "127.0.0.1", Context())
    try:
        status, out = _run(comm, "ssh-add -l")
        assert (status, out.decode().strip()) == (0, listed)
    finally:
        comm.close()
    assert not [t for t in threading.enumerate() if "AgentRemoteProxy" in type(t).__name__]
    comm = connect_ssh(_config(bakehouse_sshd, ssh_disable_agent_forwarding=True), "127.0.0.1", Context())
    try:
        status, out = _run(comm, "echo sock=${SSH_AUTH_SOCK:-none}; ssh-add -l")
        assert status == 2 and out.startswith(b"sock=none\n"), out
    finally:
        comm.close()


def test_agent_auth_without_an_agent_says_so(bakehouse_sshd: SshServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    with pytest.raises(SSHError, match="SSH_AUTH_SOCK is not set"):
        connect_ssh(_config(bakehouse_sshd, ssh_agent_auth=True), "127.0.0.1", Context())


def test_an_ipv6_address_is_reached_as_given(bastion_sshd: SshServer) -> None:
    """What ssh_interface = "ipv6" hands over: a bare IPv6 address (here the loopback one)."""
    comm = connect_ssh(_config(bastion_sshd), "::1", Context())
    out = bytearray()  # stdout only: this sshd's debug lines come on stderr
    try:
        status = comm.execute('echo "$SSH_CONNECTION"', on_stdout=out.extend, on_stderr=lambda _: None, ctx=Context())
    finally:
        comm.close()
    client, _, server, _ = out.decode().split()
    assert (status, client, server) == (0, "::1", "::1")


# -- bastion and proxy ------------------------------------------------------------


def test_bastion_hop_goes_through_the_second_sshd(bakehouse_sshd: SshServer, bastion_sshd: SshServer) -> None:
    before = len(_forwards_in_log(bastion_sshd))
    config = _config(bakehouse_sshd, ssh_bastion_host="127.0.0.1", ssh_bastion_port=bastion_sshd.port,
                     ssh_bastion_username=bastion_sshd.user,
                     ssh_bastion_private_key_file=str(bastion_sshd.client_key))
    comm = connect_ssh(config, "127.0.0.1", Context())
    try:
        assert _run(comm, "echo via-bastion") == (0, b"via-bastion\n")
    finally:
        comm.close()
    forwards = _forwards_in_log(bastion_sshd)[before:]
    assert any(f"target 127.0.0.1 port {bakehouse_sshd.port}" in line for line in forwards), forwards


def test_bastion_with_certificate_and_with_agent(bakehouse_sshd: SshServer, bastion_sshd: SshServer,
                                                 ca: Path, agent: Path) -> None:
    common = dict(ssh_bastion_host="127.0.0.1", ssh_bastion_port=bastion_sshd.port,
                  ssh_bastion_username=bastion_sshd.user)
    by_cert = _config(bakehouse_sshd, ssh_bastion_private_key_file=str(ca / "key"),
                      ssh_bastion_certificate_file=str(ca / "key-cert.pub"), **common)
    # the agent holds the target's key, which the bastion does not list: only the
    # target's own key file is used for the target, so the bastion must be the one using it
    for config in (by_cert, _config(bakehouse_sshd, ssh_bastion_agent_auth=True, **common)):
        before = len(_forwards_in_log(bastion_sshd))
        if config.ssh_bastion_agent_auth:
            (bastion_sshd.workdir / "authorized_keys").write_text(bakehouse_sshd.client_public_key + "\n")
        try:
            comm = connect_ssh(config, "127.0.0.1", Context())
        finally:
            (bastion_sshd.workdir / "authorized_keys").write_text(bastion_sshd.client_public_key + "\n")
        try:
            assert _run(comm, "echo hop")[1] == b"hop\n"
        finally:
            comm.close()
        assert len(_forwards_in_log(bastion_sshd)) > before


def test_bastion_password_is_offered_to_the_bastion(bakehouse_sshd: SshServer, bastion_sshd: SshServer) -> None:
    # the loopback sshds take keys only: the refusal names the bastion and the method
    config = _config(bakehouse_sshd, ssh_bastion_host="127.0.0.1", ssh_bastion_port=bastion_sshd.port,
                     ssh_bastion_username="nobody", ssh_bastion_password="secret")
    with pytest.raises(SSHError, match=rf"bastion 127\.0\.0\.1:{bastion_sshd.port} as 'nobody' failed 2 times"):
        connect_ssh(config, "127.0.0.1", Context())


@pytest.fixture
def socks_proxy(bakehouse_sshd: SshServer) -> Iterator[int]:
    """OpenSSH's own SOCKS5 server (``ssh -D``) on a loopback port."""
    port = free_port()
    process = subprocess.Popen(
        ["ssh", "-N", "-D", f"127.0.0.1:{port}", "-p", str(bakehouse_sshd.port), "-i", str(bakehouse_sshd.client_key),
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
         "-o", "LogLevel=ERROR", f"{bakehouse_sshd.user}@127.0.0.1"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("ssh -D did not start") from None
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(10)


def test_proxy_connects_through_socks5(bakehouse_sshd: SshServer, socks_proxy: int) -> None:
    # "localhost" is resolved by the proxy, not here
    config = _config(bakehouse_sshd, ssh_proxy_host="127.0.0.1", ssh_proxy_port=socks_proxy)
    comm = connect_ssh(config, "localhost", Context())
    try:
        assert _run(comm, "echo via-socks") == (0, b"via-socks\n")
    finally:
        comm.close()
    refused = _config(bakehouse_sshd, ssh_proxy_host="127.0.0.1", ssh_proxy_port=socks_proxy,
                      ssh_port=free_port(), ssh_timeout="2s")
    with pytest.raises(SSHError, match=rf"SOCKS proxy 127\.0\.0\.1:{socks_proxy} could not reach"):
        connect_ssh(refused, "127.0.0.1", Context())


# -- timeouts ---------------------------------------------------------------------


def test_read_write_timeout_ends_a_silent_connection(bakehouse_sshd: SshServer) -> None:
    silent = _config(bakehouse_sshd, ssh_keep_alive_interval="0s", ssh_read_write_timeout="1500ms")
    comm = connect_ssh(silent, "127.0.0.1", Context())
    try:
        started = time.monotonic()
        with pytest.raises(SSHError, match=r"sent nothing for 1\.5s \(ssh_read_write_timeout\)"):
            _run(comm, "sleep 6; echo late")
        assert time.monotonic() - started < 5
    finally:
        comm.close()
    # keep-alive replies count as data: a quiet command outlives the timeout
    alive = _config(bakehouse_sshd, ssh_keep_alive_interval="1s", ssh_read_write_timeout="2500ms")
    comm = connect_ssh(alive, "127.0.0.1", Context())
    try:
        assert _run(comm, "sleep 4; echo kept") == (0, b"kept\n")
    finally:
        comm.close()


# -- scp --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def no_sftp_sshd() -> Iterator[SshServer]:
    """An sshd without the sftp subsystem: only scp can move files."""
    with openssh_server(extra_config=["Subsystem sftp /nonexistent/sftp-server-disabled"]) as server:
        yield server


def test_scp_moves_files_and_directories_where_sftp_cannot(no_sftp_sshd: SshServer, tmp_path: Path) -> None:
    sftp = connect_ssh(_config(no_sftp_sshd, ssh_file_transfer_method="sftp"), "127.0.0.1", Context())
    try:
        with pytest.raises(SSHError, match="scp"):
            sftp.upload(str(tmp_path / "x"), io.BytesIO(b"x"))
    finally:
        sftp.close()
    # without the option, as Packer (whose default is scp), a machine without SFTP still gets the file
    default = connect_ssh(_config(no_sftp_sshd), "127.0.0.1", Context())
    try:
        default.upload(str(tmp_path / "by-default"), io.BytesIO(b"d"), FileInfo(size=1))
        assert (tmp_path / "by-default").read_bytes() == b"d"
        assert default.file_transfer == "scp"
    finally:
        default.close()
    comm = connect_ssh(_config(no_sftp_sshd, ssh_file_transfer_method="scp"), "127.0.0.1", Context())
    try:
        payload = os.urandom(300_000)
        remote = tmp_path / "remote"
        remote.mkdir()
        comm.upload(str(remote / "blob"), io.BytesIO(payload), FileInfo(size=None, mode=0o750))
        assert (remote / "blob").read_bytes() == payload
        assert (remote / "blob").stat().st_mode & 0o777 == 0o750
        back = io.BytesIO()
        comm.download(str(remote / "blob"), back)
        assert back.getvalue() == payload

        src = tmp_path / "src"
        (src / "sub").mkdir(parents=True)
        (src / "a.txt").write_text("a")
        (src / "skip.log").write_text("log")
        (src / "sub" / "b.sh").write_text("#!/bin/sh\n")
        (src / "sub" / "b.sh").chmod(0o755)
        comm.upload_dir(str(remote / "tree"), str(src), exclude=["*.log"])
        assert sorted(str(p.relative_to(remote / "tree")) for p in (remote / "tree").rglob("*")) == [
            "src", "src/a.txt", "src/sub", "src/sub/b.sh"]
        comm.upload_dir(str(remote / "flat"), str(src) + "/")
        assert (remote / "flat" / "sub" / "b.sh").stat().st_mode & 0o777 == 0o755
        fetched = tmp_path / "fetched"
        comm.download_dir(str(remote / "flat") + "/", str(fetched), exclude=["a.txt"])
        assert sorted(str(p.relative_to(fetched)) for p in fetched.rglob("*")) == [
            "skip.log", "sub", "sub/b.sh"]
        comm.download_dir(str(remote / "flat"), str(tmp_path / "whole"))
        assert (tmp_path / "whole" / "flat" / "a.txt").read_text() == "a"
        with pytest.raises(SSHError, match=r"No such file or directory"):
            comm.upload(str(tmp_path / "missing" / "x"), io.BytesIO(b"x"), FileInfo(size=1))
    finally:
        comm.close()


# -- tunnels ----------------------------------------------------------------------


@pytest.fixture
def echo_server() -> Iterator[int]:
    """A TCP server on loopback that answers every line with ``echo:<line>``."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                data = conn.recv(1024)
                conn.sendall(b"echo:" + data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(5)
    listener.close()


def _tunnel_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "bakehouse-ssh-tunnel"]


def test_local_tunnel_forwards_real_bytes(bakehouse_sshd: SshServer, echo_server: int) -> None:
    local_port = free_port()
    comm = connect_ssh(_config(bakehouse_sshd, ssh_local_tunnels=[f"{local_port}:127.0.0.1:{echo_server}"]),
                       "127.0.0.1", Context())
    try:
        with socket.create_connection(("127.0.0.1", local_port), timeout=10) as conn:
            conn.sendall(b"through-local\n")
            assert conn.recv(1024) == b"echo:through-local\n"
    finally:
        comm.close()
    assert not _tunnel_threads()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", local_port), timeout=2).close()


def test_remote_tunnel_forwards_real_bytes(bakehouse_sshd: SshServer, echo_server: int) -> None:
    remote_port = free_port()
    comm = connect_ssh(_config(bakehouse_sshd, ssh_remote_tunnels=[f"127.0.0.1:{remote_port}:127.0.0.1:{echo_server}"]),
                       "127.0.0.1", Context())
    try:
        # the machine (this host, through sshd) connects to its own listening port
        script = (f"import socket; s = socket.create_connection(('127.0.0.1', {remote_port})); "
                  "s.sendall(b'through-remote\\n'); print(s.recv(1024).decode(), end='')")
        status, out = _run(comm, f"python3 -c \"{script}\"")
        assert (status, out) == (0, b"echo:through-remote\n")
    finally:
        comm.close()
    assert not _tunnel_threads()


# -- clear authorized keys ---------------------------------------------------------


def test_clear_authorized_keys_removes_only_the_temporary_key(tmp_path: Path) -> None:
    temp_key = _keygen(tmp_path / "temp")
    temp_public = (tmp_path / "temp.pub").read_text().strip()
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    # the session's HOME is a directory of this test, never the real user's
    with openssh_server(extra_config=[f"SetEnv HOME={home}"]) as server:
        (server.workdir / "authorized_keys").write_text(f"{server.client_public_key}\n{temp_public}\n")
        (home / ".ssh" / "authorized_keys").write_text(f"{server.client_public_key}\n{temp_public}\n")
        comm = connect_ssh(_config(server, ssh_private_key_file=str(temp_key)), "127.0.0.1", Context())
        try:
            assert _run(comm, "echo $HOME") == (0, f"{home}\n".encode())
            clear_authorized_keys(comm, temp_public, Context())
        finally:
            comm.close()
    assert (home / ".ssh" / "authorized_keys").read_text() == server.client_public_key + "\n"
    assert not (home / ".ssh" / "authorized_keys.bak").exists()


def test_no_agent_or_sshd_left_behind() -> None:
    """The fixtures above stop what they start (checked by pid, not by name)."""
    for line in subprocess.run(["ps", "-eo", "pid,ppid,args"], capture_output=True, text=True).stdout.splitlines():
        fields = line.split(None, 2)
        if len(fields) == 3 and fields[1] == str(os.getpid()) and ("ssh-agent" in fields[2] or "ssh -N" in fields[2]):
            os.kill(int(fields[0]), signal.SIGTERM)
            pytest.fail(f"left running: {line}")
