"""The SSH communicator against a real OpenSSH server on loopback."""

from __future__ import annotations

import hashlib
import io
import os
import threading
import time
from pathlib import Path

import paramiko
import pytest
from bakehouse.sdk import Cancelled, ConfigError, Context, FileInfo, parse_config
from bakehouse.sdk.ssh import SSHCommunicator, SSHConfig, SSHError, connect_ssh, load_private_key
from bakehouse.testing.servers import SshServer, free_port, sshd_accepts_moto_keys

pytestmark = [pytest.mark.ssh]


def _config(server: SshServer, **extra: object) -> SSHConfig:
    raw = {
        "ssh_username": server.user,
        "ssh_port": server.port,
        "ssh_private_key_file": str(server.client_key),
        "ssh_timeout": "20s",
    }
    raw.update(extra)
    return parse_config(SSHConfig, raw)


@pytest.fixture
def comm(bakehouse_sshd: SshServer):
    communicator = connect_ssh(_config(bakehouse_sshd), bakehouse_sshd.host, Context())
    yield communicator
    communicator.close()


def _run(comm: SSHCommunicator, command: str, stdin: bytes | None = None) -> tuple[int, bytes, bytes]:
    out, err = bytearray(), bytearray()
    status = comm.execute(
        command,
        on_stdout=out.extend,
        on_stderr=err.extend,
        ctx=Context(),
        stdin=io.BytesIO(stdin) if stdin is not None else None,
    )
    return status, bytes(out), bytes(err)


def test_execute_streams_stdout_stderr_and_exit_status(comm: SSHCommunicator) -> None:
    status, out, err = _run(comm, "echo out; echo err >&2; exit 3")
    assert (status, out, err) == (3, b"out\n", b"err\n")


def test_execute_feeds_stdin(comm: SSHCommunicator) -> None:
    status, out, _ = _run(comm, "tr a-z A-Z", stdin=b"hello\n" * 10000)
    assert status == 0
    assert out == b"HELLO\n" * 10000


def test_output_sent_after_the_exit_status_is_kept(comm: SSHCommunicator) -> None:
    """The shell exits first; its background child writes afterwards, so the
    server sends the exit status before that output."""
    status, out, _ = _run(comm, "(sleep 0.3; echo late) & echo early")
    assert (status, out) == (0, b"early\nlate\n")


def test_a_background_process_holding_stdout_does_not_hold_the_command(comm: SSHCommunicator) -> None:
    started = time.monotonic()
    status, out, _ = _run(comm, "sleep 30 & echo done")
    assert (status, out) == (0, b"done\n")
    assert time.monotonic() - started < 15


def test_execute_delivers_output_as_it_arrives(comm: SSHCommunicator) -> None:
    arrivals: list[float] = []
    comm.execute(
        "echo first; sleep 1.5; echo second",
        on_stdout=lambda chunk: arrivals.append(time.monotonic()),
        on_stderr=lambda chunk: None,
        ctx=Context(),
    )
    assert len(arrivals) >= 2
    assert arrivals[-1] - arrivals[0] > 1.0


def test_cancel_stops_the_remote_command(comm: SSHCommunicator, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    ctx = Context()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            comm.execute(f"echo $$ > {pidfile}; exec sleep 300", on_stdout=lambda c: None,
                         on_stderr=lambda c: None, ctx=ctx)
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 10
    while not (pidfile.exists() and pidfile.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = int(pidfile.read_text())
    os.kill(pid, 0)  # running
    ctx.cancel("interrupted")
    worker.join(10)
    assert not worker.is_alive()
    assert errors and isinstance(errors[0], Cancelled)
    assert _gone_within(pid, 10), f"remote command {pid} still running after cancel"
    # the connection stays usable
    assert _run(comm, "echo ok")[1] == b"ok\n"


def _start_remote_sleep(comm: SSHCommunicator, tmp_path: Path, ctx: Context) -> tuple[int, threading.Thread]:
    pidfile = tmp_path / "pid"

    def run() -> None:
        try:
            comm.execute(f"echo $$ > {pidfile}; exec sleep 300", on_stdout=lambda c: None,
                         on_stderr=lambda c: None, ctx=ctx)
        except BaseException:  # noqa: BLE001 - the outcome is checked on the remote side
            pass

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 10
    while not (pidfile.exists() and pidfile.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return int(pidfile.read_text()), worker


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _gone_within(pid: int, seconds: float) -> bool:
    """The kill is sent through the connection; the remote process may take a
    moment to exit and be reaped by sshd, most of all on a loaded machine."""
    deadline = time.monotonic() + seconds
    while not _gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.parametrize("cancel_first", [True, False], ids=["cancel-then-close", "close-only"])
def test_close_stops_remote_commands_before_cutting_the_connection(
    bakehouse_sshd: SshServer, tmp_path: Path, cancel_first: bool
) -> None:
    """A builder's cleanup closes the communicator right after a cancel (or with
    a command still running): the command must not survive on the machine."""
    comm = connect_ssh(_config(bakehouse_sshd), "127.0.0.1", Context())
    ctx = Context()
    pid, worker = _start_remote_sleep(comm, tmp_path, ctx)
    assert not _gone(pid)
    if cancel_first:
        ctx.cancel("core went away")
    comm.close()
    # Without the kill the command would run its 300 s: closing the connection
    # alone does not stop a command that has no terminal.
    assert _gone_within(pid, 5), "the remote command survived close()"
    worker.join(10)
    assert not worker.is_alive()


def test_upload_and_download_a_large_file_with_mode(comm: SSHCommunicator, tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    remote = tmp_path / "remote.bin"
    comm.upload(str(remote), io.BytesIO(data), FileInfo(size=len(data), mode=0o750))
    assert remote.read_bytes() == data
    assert remote.stat().st_mode & 0o777 == 0o750
    back = io.BytesIO()
    comm.download(str(remote), back)
    assert hashlib.sha256(back.getvalue()).digest() == hashlib.sha256(data).digest()


def test_upload_to_missing_directory_names_the_path(comm: SSHCommunicator, tmp_path: Path) -> None:
    with pytest.raises(SSHError, match="nope/file"):
        comm.upload(str(tmp_path / "nope" / "file"), io.BytesIO(b"x"))


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_upload_dir_and_download_dir_follow_rsync_semantics(comm: SSHCommunicator, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub" / "deeper").mkdir(parents=True)
    (src / "a.txt").write_text("a")
    (src / "skip.log").write_text("log")
    (src / "sub" / "b.txt").write_text("b")
    (src / "sub" / "deeper" / "c.sh").write_text("#!/bin/sh\n")
    (src / "sub" / "deeper" / "c.sh").chmod(0o755)

    contents = tmp_path / "contents"
    comm.upload_dir(str(contents), str(src) + "/", exclude=["*.log"])
    assert _tree(contents) == {"a.txt": b"a", "sub/b.txt": b"b", "sub/deeper/c.sh": b"#!/bin/sh\n"}
    assert (contents / "sub" / "deeper" / "c.sh").stat().st_mode & 0o777 == 0o755

    whole = tmp_path / "whole"
    whole.mkdir()
    comm.upload_dir(str(whole), str(src))
    assert set(_tree(whole)) == {"src/a.txt", "src/skip.log", "src/sub/b.txt", "src/sub/deeper/c.sh"}

    fetched = tmp_path / "fetched"
    comm.download_dir(str(src) + "/", str(fetched), exclude=["b.txt"])
    assert _tree(fetched) == {"a.txt": b"a", "skip.log": b"log", "sub/deeper/c.sh": b"#!/bin/sh\n"}
    assert (fetched / "sub" / "deeper" / "c.sh").stat().st_mode & 0o777 == 0o755


def test_wrong_key_fails_after_the_handshake_attempts(bakehouse_sshd: SshServer, tmp_path: Path) -> None:
    stranger = paramiko.Ed25519Key.from_private_key_file  # noqa: F841 - type reference
    key_file = tmp_path / "stranger"
    os.system(f"ssh-keygen -q -t ed25519 -N '' -f {key_file}")
    config = _config(bakehouse_sshd, ssh_private_key_file=str(key_file), ssh_handshake_attempts=2)
    with pytest.raises(SSHError, match=rf"127\.0\.0\.1:{bakehouse_sshd.port}.*failed 2 times"):
        connect_ssh(config, bakehouse_sshd.host, Context())


def test_nothing_listening_times_out_naming_the_address(bakehouse_sshd: SshServer) -> None:
    port = free_port()
    config = _config(bakehouse_sshd, ssh_port=port, ssh_timeout="3s")
    started = time.monotonic()
    with pytest.raises(SSHError, match=rf"timeout waiting for SSH on 127\.0\.0\.1:{port}"):
        connect_ssh(config, "127.0.0.1", Context())
    assert time.monotonic() - started < 10


def test_cancel_while_waiting_for_ssh(bakehouse_sshd: SshServer) -> None:
    config = _config(bakehouse_sshd, ssh_port=free_port(), ssh_timeout="5m")
    ctx = Context()
    threading.Timer(0.5, ctx.cancel).start()
    with pytest.raises(Cancelled):
        connect_ssh(config, "127.0.0.1", ctx)


def test_ssh_host_overrides_the_builder_address(bakehouse_sshd: SshServer) -> None:
    comm = connect_ssh(_config(bakehouse_sshd, ssh_host="127.0.0.1"), "192.0.2.1", Context())
    try:
        assert comm.host == "127.0.0.1"
    finally:
        comm.close()


def test_temporary_key_from_moto_is_accepted(bakehouse_sshd: SshServer, bakehouse_aws_env) -> None:  # type: ignore[no-untyped-def]
    from bakehouse.testing import require

    require(sshd_accepts_moto_keys(), "root, for sshd's AuthorizedKeysCommand")
    material = bakehouse_aws_env.client().create_key_pair(KeyName="temp", KeyType="ed25519")["KeyMaterial"]
    config = parse_config(SSHConfig, {"ssh_username": bakehouse_sshd.user, "ssh_port": bakehouse_sshd.port})
    comm = connect_ssh(config, bakehouse_sshd.host, Context(), private_key_pem=material)
    try:
        assert _run(comm, "echo via-temp-key")[1] == b"via-temp-key\n"
    finally:
        comm.close()
    assert isinstance(load_private_key(material), paramiko.Ed25519Key)


def test_config_rejects_unknown_options_and_bad_durations() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(SSHConfig, {"ssh_tiemout": "5m", "pause_before_connecting": "soon"})
    paths = {problem.path: problem.message for problem in info.value.problems}
    assert ("ssh_tiemout",) in paths
    assert "Invalid duration" in paths[("pause_before_connecting",)]


def test_config_rejects_a_missing_key_file() -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        parse_config(SSHConfig, {"ssh_private_key_file": "/nonexistent/key"})


def test_pause_before_connecting_waits_first(bakehouse_sshd: SshServer) -> None:
    started = time.monotonic()
    comm = connect_ssh(_config(bakehouse_sshd, pause_before_connecting="1500ms"), bakehouse_sshd.host, Context())
    try:
        assert time.monotonic() - started >= 1.5
        assert _run(comm, "echo ok")[1] == b"ok\n"
    finally:
        comm.close()


def test_keep_alives_are_enabled_on_the_connection(bakehouse_sshd: SshServer) -> None:
    comm = connect_ssh(_config(bakehouse_sshd, ssh_keep_alive_interval="2s"), bakehouse_sshd.host, Context())
    try:
        assert comm._client is not None
        transport = comm._client.get_transport()
        assert transport is not None
        # paramiko keeps the interval on the packetizer; 0 would mean "off"
        assert transport.packetizer._Packetizer__keepalive_interval == 2  # type: ignore[attr-defined]
    finally:
        comm.close()
