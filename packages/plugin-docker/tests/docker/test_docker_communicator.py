"""The docker communicator against a real container: exec streams, exit codes,
stdin, cancellation inside the container, tar-stream uploads and downloads."""

from __future__ import annotations

import hashlib
import io
import os
import threading
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from bakehouse.sdk import Cancelled, Context, FileInfo
from bakehouse_plugin_docker.communicator import DockerCommunicator
from bakehouse_plugin_docker.engine import DockerEngineError
from dockerplugin_support import run_shell

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def container(bakehouse_docker: docker.DockerClient, bakehouse_base_image: str) -> Iterator[str]:
    running = bakehouse_docker.containers.run(
        bakehouse_base_image, ["-c", "sleep 100000"], entrypoint="/bin/sh", detach=True,
        labels={"io.bakehouse.test": "communicator-" + uuid.uuid4().hex[:8]},
    )
    yield running.id
    running.remove(force=True)


@pytest.fixture
def comm(bakehouse_docker: docker.DockerClient, container: str, tmp_path: Path) -> DockerCommunicator:
    return DockerCommunicator(bakehouse_docker, container, spool_dir=str(tmp_path))


class PatternStream(io.RawIOBase):
    """``size`` bytes of a repeating pattern, produced on demand (never held whole)."""

    def __init__(self, size: int) -> None:
        self.remaining = size
        self.block = (b"bakehouse-" * 6554)[:65536]
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = self.remaining if size is None or size < 0 else min(size, self.remaining)
        out = (self.block * (size // len(self.block) + 1))[:size]
        self.remaining -= len(out)
        self.digest.update(out)
        return out


def test_exit_status_and_separate_streams(comm: DockerCommunicator) -> None:
    assert run_shell(comm, "echo out; echo err >&2; exit 3", Context()) == (3, "out\n", "err\n")
    assert run_shell(comm, "true", Context()) == (0, "", "")


def test_output_arrives_while_the_command_runs(comm: DockerCommunicator) -> None:
    stamps: list[float] = []
    begin = time.monotonic()
    comm.execute(
        "echo one; sleep 1; echo two", on_stdout=lambda _: stamps.append(time.monotonic() - begin),
        on_stderr=lambda _: None, ctx=Context(),
    )
    assert len(stamps) == 2 and stamps[0] < 0.9 <= stamps[1]


def test_stdin_is_fed_to_the_command(comm: DockerCommunicator) -> None:
    out: list[bytes] = []
    status = comm.execute("tr a-z A-Z", on_stdout=out.append, on_stderr=lambda _: None,
                          ctx=Context(), stdin=io.BytesIO(b"shout\n"))
    assert status == 0 and b"".join(out) == b"SHOUT\n"


def test_exec_user_runs_commands_as_that_user(bakehouse_docker: docker.DockerClient, container: str) -> None:
    comm = DockerCommunicator(bakehouse_docker, container, exec_user="builder")
    assert run_shell(comm, "id -u", Context())[1] == "1000\n"


def test_cancel_kills_the_command_inside_the_container(comm: DockerCommunicator) -> None:
    ctx = Context()
    marker = uuid.uuid4().hex[:8]
    threading.Timer(1.0, ctx.cancel).start()
    begin = time.monotonic()
    with pytest.raises(Cancelled):
        comm.execute(f"sleep 300 # {marker}", on_stdout=lambda _: None, on_stderr=lambda _: None, ctx=ctx)
    assert time.monotonic() - begin < 10
    # The sleep is gone from the container (Packer would leave it running).
    deadline = time.monotonic() + 5
    while True:
        processes = run_shell(comm, "ps -o pid,args", Context())[1]
        if "sleep 300" not in processes or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert "sleep 300" not in processes


def test_a_fast_commands_output_is_kept_over_a_tcp_engine(
    container: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over TCP the engine's first output frames often share a packet with the
    response headers; reading the bare socket lost them (about 1 exec in 10)."""
    from bakehouse.testing.servers import docker_engine_relay
    from bakehouse_plugin_docker import engine

    with docker_engine_relay() as relay:
        monkeypatch.setenv("DOCKER_HOST", relay.docker_host)
        remote = engine.connect()
        try:
            comm = DockerCommunicator(remote, container)
            outputs = []
            for n in range(60):
                out = bytearray()
                status = comm.execute(f"echo {n}", on_stdout=out.extend, on_stderr=out.extend, ctx=Context())
                outputs.append((status, bytes(out)))
        finally:
            remote.close()
    assert outputs == [(0, f"{n}\n".encode()) for n in range(60)]


def test_host_kill_backstop_only_signals_pids_of_a_local_engine(
    bakehouse_docker: docker.DockerClient, container: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exec's Pid is a pid on the engine's machine: over DOCKER_HOST=tcp://...
    it may name any process here, so the backstop kill must not send it."""
    from bakehouse.testing.servers import docker_engine_relay
    from bakehouse_plugin_docker import engine

    def sleeping_exec(client: docker.DockerClient) -> str:
        exec_id: str = client.api.exec_create(container, ["sleep", "300"])["Id"]
        client.api.exec_start(exec_id, detach=True)
        deadline = time.monotonic() + 10
        while not client.api.exec_inspect(exec_id).get("Pid"):
            assert time.monotonic() < deadline, "the exec never started"
            time.sleep(0.05)
        return exec_id

    def running(client: docker.DockerClient, exec_id: str) -> bool:
        for _ in range(40):
            if not client.api.exec_inspect(exec_id)["Running"]:
                return False
            time.sleep(0.05)
        return True

    with docker_engine_relay() as relay:
        monkeypatch.setenv("DOCKER_HOST", relay.docker_host)
        remote = engine.connect()
        try:
            exec_id = sleeping_exec(remote)
            DockerCommunicator(remote, container)._kill_from_host(exec_id)
            assert running(remote, exec_id), "a remote engine's pid was signalled on this machine"
        finally:
            remote.close()
    # The same exec through the local socket: the backstop does kill it.
    DockerCommunicator(bakehouse_docker, container)._kill_from_host(exec_id)
    assert not running(bakehouse_docker, exec_id)


def test_upload_streams_a_large_file_without_holding_it(comm: DockerCommunicator) -> None:
    size = 96 * 1024 * 1024
    source = PatternStream(size)
    tracemalloc.start()
    try:
        comm.upload("/tmp/big/blob.bin", source, FileInfo(size=size, mode=0o600))  # type: ignore[arg-type]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024, f"peak Python allocations {peak} bytes for a {size}-byte upload"
    out = run_shell(comm, "sha256sum /tmp/big/blob.bin; stat -c '%s %a' /tmp/big/blob.bin", Context())[1].split()
    assert out[0] == source.digest.hexdigest()
    assert out[2:] == [str(size), "600"]


def test_upload_of_unknown_size_is_spooled_to_disk(comm: DockerCommunicator, tmp_path: Path) -> None:
    comm.upload("/tmp/nosize.txt", io.BytesIO(b"no size given\n"), FileInfo(size=None))
    assert run_shell(comm, "cat /tmp/nosize.txt", Context())[1] == "no size given\n"
    assert list(tmp_path.iterdir()) == []  # the spool file is gone


def test_short_source_fails_the_upload(comm: DockerCommunicator) -> None:
    with pytest.raises(ValueError, match="the upload of /tmp/short.txt ended after 3 of 10 bytes"):
        comm.upload("/tmp/short.txt", io.BytesIO(b"abc"), FileInfo(size=10))
    assert run_shell(comm, "test -e /tmp/short.txt", Context())[0] != 0


def test_upload_never_replaces_an_existing_directory(comm: DockerCommunicator) -> None:
    with pytest.raises(DockerEngineError, match="Error uploading /tmp"):
        comm.upload("/tmp", io.BytesIO(b"x"), FileInfo(size=1))
    assert run_shell(comm, "test -d /tmp && stat -c %a /tmp", Context())[1] == "1777\n"


def test_upload_dir_follows_rsync_trailing_slash_rules_and_excludes(comm: DockerCommunicator, tmp_path: Path) -> None:
    tree = tmp_path / "payload"
    (tree / "nested" / "deeper").mkdir(parents=True)
    (tree / "a.txt").write_text("a\n")
    (tree / "skip.log").write_text("no\n")
    (tree / "nested" / "deeper" / "b.txt").write_text("b\n")
    os.symlink("a.txt", tree / "link")
    target = "/tmp/up-" + uuid.uuid4().hex[:6]
    comm.upload_dir(target + "/contents", str(tree) + "/", exclude=["*.log"])
    comm.upload_dir(target + "/itself", str(tree))
    listing = run_shell(comm, f"cd {target} && find . | sort && readlink contents/link", Context())[1].split()
    assert "./contents/a.txt" in listing and "./contents/nested/deeper/b.txt" in listing
    assert "./contents/skip.log" not in listing
    assert "./itself/payload/a.txt" in listing and "./itself/payload/skip.log" in listing
    assert listing[-1] == "a.txt"


def test_download_file_follows_links_and_refuses_directories(comm: DockerCommunicator) -> None:
    run_shell(comm, "mkdir -p /tmp/dl && printf 'content' > /tmp/dl/f && ln -sf /tmp/dl/f /tmp/dl/l", Context())
    out = io.BytesIO()
    comm.download("/tmp/dl/f", out)
    assert out.getvalue() == b"content"
    out = io.BytesIO()
    comm.download("/tmp/dl/l", out)
    assert out.getvalue() == b"content"
    with pytest.raises(IsADirectoryError):
        comm.download("/tmp/dl", io.BytesIO())
    with pytest.raises(FileNotFoundError):
        comm.download("/tmp/dl/missing", io.BytesIO())


def test_download_dir_streams_the_tree(comm: DockerCommunicator, tmp_path: Path) -> None:
    run_shell(comm, "mkdir -p /tmp/tree/x && echo 1 > /tmp/tree/one && echo 2 > /tmp/tree/x/two && echo 3 > /tmp/tree/x/three.log && ln -sf /bin/busybox /tmp/tree/x/abs", Context())
    comm.download_dir("/tmp/tree/", str(tmp_path / "contents"), exclude=["*.log"])
    comm.download_dir("/tmp/tree", str(tmp_path / "itself"))
    assert (tmp_path / "contents" / "one").read_text() == "1\n"
    assert (tmp_path / "contents" / "x" / "two").read_text() == "2\n"
    assert not (tmp_path / "contents" / "x" / "three.log").exists()
    assert os.readlink(tmp_path / "contents" / "x" / "abs") == "/bin/busybox"
    assert (tmp_path / "itself" / "tree" / "x" / "three.log").read_text() == "3\n"


def test_fix_upload_owner_gives_files_to_the_exec_user(bakehouse_docker: docker.DockerClient, container: str, tmp_path: Path) -> None:
    owned = DockerCommunicator(bakehouse_docker, container, exec_user="builder")
    owned.upload("/tmp/owned.txt", io.BytesIO(b"x"), FileInfo(size=1))
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_text("y")
    owned.upload_dir("/tmp/owned-dir", str(tmp_path / "d"))
    as_root = DockerCommunicator(bakehouse_docker, container, exec_user="builder", fix_upload_owner=False)
    as_root.upload("/tmp/root.txt", io.BytesIO(b"x"), FileInfo(size=1))
    numeric = DockerCommunicator(bakehouse_docker, container, exec_user="4242:4343")
    numeric.upload("/tmp/numeric.txt", io.BytesIO(b"x"), FileInfo(size=1))
    out = run_shell(owned, "stat -c '%u:%g' /tmp/owned.txt /tmp/owned-dir/d /tmp/owned-dir/d/f /tmp/root.txt /tmp/numeric.txt", Context())[1]
    assert out.split() == ["1000:1000", "1000:1000", "1000:1000", "0:0", "4242:4343"]
    unknown = DockerCommunicator(bakehouse_docker, container, exec_user="nosuchuser")
    with pytest.raises(DockerEngineError, match="nosuchuser"):
        unknown.upload("/tmp/x", io.BytesIO(b"x"), FileInfo(size=1))
