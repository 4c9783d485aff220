"""RPC sessions over real pipes: calls both ways, handles, contexts, streams, errors.

Two :class:`Session` objects talk over two ``os.pipe()`` pairs, exactly as the
core and a plugin process do (the process part is covered in tests/e2e).
"""

from __future__ import annotations

import io
import os
import threading
import time
import tracemalloc
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

import pytest
from bakehouse.rpc.errors import ConnectionLost, RemoteError
from bakehouse.rpc.interfaces import RemoteArtifact, RemoteBuilder, RemoteCommunicator, RemoteUi
from bakehouse.rpc.session import ROOT_HANDLE, Session
from bakehouse.rpc.streams import WINDOW
from bakehouse.rpc.transport import PipeTransport
from bakehouse.sdk import (
    Artifact,
    Builder,
    BuildInfo,
    Cancelled,
    Communicator,
    ConfigError,
    ConfigProblem,
    Context,
    FileInfo,
    Hook,
    PrepareResult,
    SimpleArtifact,
    Ui,
)

pytestmark = pytest.mark.timeout(60)

DEFAULT_FILE_INFO = FileInfo()


class RecordingUi(Ui):
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.threads: set[str] = set()

    def say(self, message: str) -> None:
        self.threads.add(threading.current_thread().name)
        self.lines.append("say:" + message)

    def message(self, message: str) -> None:
        self.lines.append("message:" + message)

    def error(self, message: str) -> None:
        self.lines.append("error:" + message)


class CountingCommunicator(Communicator):
    """Counts uploaded bytes without keeping them; serves generated downloads."""

    def __init__(self, ui: Ui | None = None) -> None:
        self.uploaded = 0
        self.ui = ui
        self.info: FileInfo | None = None

    def execute(self, command: str, *, on_stdout: Any, on_stderr: Any, ctx: Context,
                stdin: BinaryIO | None = None) -> int:
        if self.ui is not None:
            self.ui.say(f"executing {command}")  # a callback while two calls are open
        if command == "wait":
            ctx.wait()
            ctx.check()
        data = stdin.read() if stdin is not None else b""
        for index in range(3):
            on_stdout(f"out {index}\n".encode())
        on_stderr(b"err\n")
        on_stdout(data)
        return 7

    def upload(self, dst: str, src: BinaryIO, info: FileInfo = DEFAULT_FILE_INFO) -> None:
        self.info = info
        while chunk := src.read(1 << 20):
            self.uploaded += len(chunk)

    def download(self, src: str, dst: BinaryIO) -> None:
        size = int(src)
        block = b"d" * 65536
        while size > 0:
            dst.write(block[:size])
            size -= len(block)

    def upload_dir(self, dst: str, src: str, exclude: Sequence[str] = ()) -> None:
        raise NotImplementedError

    def download_dir(self, src: str, dst: str, exclude: Sequence[str] = ()) -> None:
        raise NotImplementedError


class ChainBuilder(Builder):
    """Plugin side: calls the core's hook with its own communicator."""

    def run(self, ui: Ui, hook: Hook, ctx: Context) -> Artifact | None:
        ui.say("builder running")
        hook.run("packer_provision", ui, CountingCommunicator(ui), {"ID": "x1"}, ctx)
        return SimpleArtifact("test.builder", "image-1", "an image", ["/tmp/a"],
                              {"generated_data": {"ID": "x1"}})


class CoreHook(Hook):
    """Core side: uses the builder's communicator (a proxy) like a provisioner would."""

    def __init__(self) -> None:
        self.output: list[bytes] = []
        self.status: int | None = None

    def run(self, name: str, ui: Ui, communicator: Communicator | None, data: dict[str, Any],
            ctx: Context) -> None:
        assert communicator is not None
        ui.say(f"hook {name} with {data['ID']}")
        self.status = communicator.execute(
            "true", on_stdout=self.output.append, on_stderr=self.output.append, ctx=ctx,
            stdin=io.BytesIO(b"stdin-bytes"),
        )


class Service:
    """The plugin-side root object used by these tests."""

    METHODS = frozenset({"echo", "builder", "fail", "sleep", "wait_ctx", "identity",
                         "communicator", "artifact"})

    def __init__(self) -> None:
        self.seen_contexts: list[Context] = []
        self.kept: dict[str, Any] = {}

    def echo(self, *args: Any, **kwargs: Any) -> Any:
        return [list(args), kwargs]

    def builder(self) -> Builder:
        return ChainBuilder()

    def communicator(self) -> Communicator:
        return CountingCommunicator()

    def artifact(self) -> Artifact:
        return SimpleArtifact("b.id", "art-9", "artifact nine", ["f1"], {"generated_data": {"k": 1}})

    def fail(self, kind: str) -> None:
        if kind == "config":
            raise ConfigError([ConfigProblem(("changes", 2), "Bad change."),
                               ConfigProblem(("image",), "Missing.")])
        if kind == "cancelled":
            raise Cancelled("stopped by test")
        raise ValueError("bad value 42")

    def sleep(self, seconds: float) -> float:
        time.sleep(seconds)
        return seconds

    def wait_ctx(self, ctx: Context, timeout: float) -> str:
        self.seen_contexts.append(ctx)
        if not ctx.wait(timeout):
            return "not cancelled"
        raise Cancelled(ctx.reason)

    def identity(self, obj: Any, again: Any) -> Any:
        self.kept["first"] = obj
        self.kept["second"] = again
        return obj


@pytest.fixture
def pair() -> Iterator[tuple[Session, Session, Service]]:
    core_to_plugin_r, core_to_plugin_w = os.pipe()
    plugin_to_core_r, plugin_to_core_w = os.pipe()
    service = Service()
    core = Session(PipeTransport(plugin_to_core_r, core_to_plugin_w), initiator=True, name="core")
    plugin = Session(PipeTransport(core_to_plugin_r, plugin_to_core_w), initiator=False,
                     name="plugin", root=service, root_methods=Service.METHODS)
    core.start()
    plugin.start()
    yield core, plugin, service
    core.close_write()
    plugin.close_write()
    assert core.wait_closed(5) and plugin.wait_closed(5)


def call(session: Session, method: str, *args: Any, **kwargs: Any) -> Any:
    return session.call(ROOT_HANDLE, method, args, kwargs)


def test_plain_values_round_trip(pair: tuple[Session, Session, Service]) -> None:
    core, _, _ = pair
    value = {"s": "é", "b": b"\x00\xff", "n": None, "i": 2**62, "f": 1.5, "l": [1, [2, {"x": True}]]}
    assert call(core, "echo", value, key=(1, 2)) == [[value], {"key": [1, 2]}]


def test_sdk_values_keep_their_types(pair: tuple[Session, Session, Service]) -> None:
    core, _, _ = pair
    build = BuildInfo(name="n", builder_type="docker", sensitive_variables=("a", "b"))
    args, _ = call(core, "echo", build, PrepareResult(["ID"], ["w"]), FileInfo(size=3, mode=0o600))
    assert args == [build, PrepareResult(["ID"], ["w"]), FileInfo(size=3, mode=0o600)]
    assert isinstance(args[0].sensitive_variables, tuple)


def test_unknown_method_is_an_error_not_a_hang(pair: tuple[Session, Session, Service]) -> None:
    core, _, _ = pair
    with pytest.raises(RemoteError, match="no remote method 'shutdown_everything'"):
        call(core, "shutdown_everything")


def test_errors_cross_as_structured_errors(pair: tuple[Session, Session, Service]) -> None:
    core, _, _ = pair
    with pytest.raises(ConfigError) as config_error:
        call(core, "fail", "config")
    assert config_error.value.problems == [ConfigProblem(("changes", 2), "Bad change."),
                                           ConfigProblem(("image",), "Missing.")]
    with pytest.raises(Cancelled, match="stopped by test"):
        call(core, "fail", "cancelled")
    with pytest.raises(RemoteError) as other:
        call(core, "fail", "value")
    assert other.value.type_name == "ValueError"
    assert str(other.value) == "bad value 42"
    assert "raise ValueError" in other.value.remote_traceback


def test_nested_bidirectional_callbacks(pair: tuple[Session, Session, Service]) -> None:
    """core -> Builder.run (plugin) -> Hook.run (core) -> Communicator.execute
    (plugin) -> Ui.say (core): four calls open at once, alternating sides."""
    core, _, _ = pair
    builder = call(core, "builder")
    assert isinstance(builder, RemoteBuilder) and isinstance(builder, Builder)
    ui, hook = RecordingUi(), CoreHook()
    artifact = builder.run(ui, hook, Context())
    assert ui.lines == ["say:builder running", "say:hook packer_provision with x1",
                        "say:executing true"]
    assert hook.status == 7
    assert b"".join(hook.output) == b"out 0\nout 1\nout 2\nerr\nstdin-bytes" or \
        sorted(hook.output) == sorted([b"out 0\n", b"out 1\n", b"out 2\n", b"err\n", b"stdin-bytes"])
    assert isinstance(artifact, RemoteArtifact)
    assert (artifact.builder_id, artifact.id, artifact.files, artifact.string()) == \
        ("test.builder", "image-1", ["/tmp/a"], "an image")
    assert artifact.state("generated_data") == {"ID": "x1"}


def test_output_callbacks_keep_order_per_stream(pair: tuple[Session, Session, Service]) -> None:
    core, _, _ = pair
    communicator = call(core, "communicator")
    stdout: list[bytes] = []
    stderr: list[bytes] = []
    status = communicator.execute("x", on_stdout=stdout.append, on_stderr=stderr.append, ctx=Context())
    assert status == 7
    assert stdout == [b"out 0\n", b"out 1\n", b"out 2\n"]
    assert stderr == [b"err\n"]


def test_concurrent_calls_run_in_parallel(pair: tuple[Session, Session, Service]) -> None:
    core, _, _ = pair
    results: list[float] = []
    started = time.monotonic()
    threads = [threading.Thread(target=lambda: results.append(call(core, "sleep", 0.5)))
               for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [0.5] * 10
    assert time.monotonic() - started < 2.5  # serial would take 5 s


def test_cancel_reaches_the_remote_context(pair: tuple[Session, Session, Service]) -> None:
    core, _, service = pair
    ctx = Context()
    threading.Timer(0.3, ctx.cancel, args=("user pressed Ctrl-C",)).start()
    started = time.monotonic()
    with pytest.raises(Cancelled, match="user pressed Ctrl-C"):
        call(core, "wait_ctx", ctx, 30)
    assert time.monotonic() - started < 5
    assert service.seen_contexts[0].cancelled


def test_already_cancelled_context_arrives_cancelled(pair: tuple[Session, Session, Service]) -> None:
    core, _, _ = pair
    ctx = Context()
    ctx.cancel("early")
    with pytest.raises(Cancelled, match="early"):
        call(core, "wait_ctx", ctx, 30)


def test_uncancelled_context_stays_uncancelled(pair: tuple[Session, Session, Service]) -> None:
    core, _, _ = pair
    assert call(core, "wait_ctx", Context(), 0.2) == "not cancelled"


def test_cancel_propagates_through_a_relay(pair: tuple[Session, Session, Service]) -> None:
    """A core context handed to the plugin, handed back to the core inside a
    nested call, and from there to the plugin's communicator: one cancel
    reaches the innermost call."""
    core, _, _ = pair
    builder = call(core, "builder")

    class WaitingHook(Hook):
        def run(self, name: str, ui: Ui, communicator: Communicator | None,
                data: dict[str, Any], ctx: Context) -> None:
            assert communicator is not None
            communicator.execute("wait", on_stdout=lambda b: None, on_stderr=lambda b: None, ctx=ctx)

    ctx = Context()
    threading.Timer(0.3, ctx.cancel, args=("stop now",)).start()
    with pytest.raises(Cancelled):
        builder.run(RecordingUi(), WaitingHook(), ctx)


def test_handles_keep_identity(pair: tuple[Session, Session, Service]) -> None:
    core, _, service = pair
    ui = RecordingUi()
    returned = call(core, "identity", ui, ui)
    # The plugin saw one proxy for one object, and our own object came back.
    assert service.kept["first"] is service.kept["second"]
    assert isinstance(service.kept["first"], RemoteUi)
    assert returned is ui


def test_artifact_snapshot_survives_the_peer(pair: tuple[Session, Session, Service]) -> None:
    core, plugin, _ = pair
    artifact = call(core, "artifact")
    plugin.close_write()
    assert core.wait_closed(5)
    assert (artifact.builder_id, artifact.id, artifact.string(), artifact.files) == \
        ("b.id", "art-9", "artifact nine", ["f1"])
    assert artifact.state("generated_data") == {"k": 1}
    with pytest.raises(ConnectionLost):
        artifact.destroy()


class ZeroSource(io.RawIOBase):
    """A readable of ``size`` zero bytes that never holds them all."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = min(len(buffer), self.left)
        buffer[:size] = bytes(size)
        self.left -= size
        return size


class CountingSink(io.RawIOBase):
    def __init__(self) -> None:
        self.count = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.count += len(data)
        return len(data)


def test_200mb_upload_streams_with_bounded_memory(pair: tuple[Session, Session, Service]) -> None:
    core, _, _ = pair
    communicator = call(core, "communicator")
    assert isinstance(communicator, RemoteCommunicator)
    size = 200 * 1024 * 1024
    tracemalloc.start()
    try:
        communicator.upload("/big", ZeroSource(size), FileInfo(size=size))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Both sides live in this process: everything buffered on either side
    # shows up here. A window of 1 MiB per stream keeps it at a few MiB.
    assert peak < 16 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"


def test_200mb_download_streams_with_bounded_memory(pair: tuple[Session, Session, Service]) -> None:
    core, _, _ = pair
    communicator = call(core, "communicator")
    size = 200 * 1024 * 1024
    sink = CountingSink()
    tracemalloc.start()
    try:
        communicator.download(str(size), sink)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sink.count == size  # all of it written before download() returned
    assert peak < 16 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"


def test_stream_is_flow_controlled(pair: tuple[Session, Session, Service]) -> None:
    """A receiver that stops reading stops the sender after one window."""
    core, _, service = pair
    source = ZeroSource(50 * 1024 * 1024)

    class SlowReadingCommunicator(CountingCommunicator):
        sent_while_paused = -1

        def upload(self, dst: str, src: BinaryIO, info: FileInfo = DEFAULT_FILE_INFO) -> None:
            src.read(1)  # grants the first window
            time.sleep(0.5)  # meanwhile the sender may fill that window only
            self.sent_while_paused = 50 * 1024 * 1024 - source.left

    slow = SlowReadingCommunicator()
    # The core serves the communicator; the plugin side uploads into it.
    call(core, "identity", slow, slow)
    plugin_side_proxy = service.kept["first"]
    assert isinstance(plugin_side_proxy, RemoteCommunicator)
    plugin_side_proxy.upload("/slow", source, FileInfo())
    assert 0 < slow.sent_while_paused <= WINDOW + 256 * 1024


def test_an_uploads_contents_cross_before_the_receiver_reads(pair: tuple[Session, Session, Service]) -> None:
    """upload reads its source whole: its first window follows the call unasked,
    so the bytes travel while the receiver gets ready (no more than that window)."""
    core, _, service = pair
    size = 5 * 1024 * 1024
    source = ZeroSource(size)

    class LateReadingCommunicator(CountingCommunicator):
        sent_before_reading = -1

        def upload(self, dst: str, src: BinaryIO, info: FileInfo = DEFAULT_FILE_INFO) -> None:
            deadline = time.monotonic() + 5
            while source.left == size and time.monotonic() < deadline:
                time.sleep(0.01)
            self.sent_before_reading = size - source.left
            super().upload(dst, src, info)

    late = LateReadingCommunicator()
    call(core, "identity", late, late)
    service.kept["first"].upload("/late", source, FileInfo(size=size))
    assert 0 < late.sent_before_reading <= WINDOW
    assert late.uploaded == size


def test_other_sources_wait_for_the_first_read(pair: tuple[Session, Session, Service]) -> None:
    """A command's stdin is read only once the command runs: nothing moves before."""
    core, _, service = pair
    command_input = ZeroSource(1024)

    class LateStdinCommunicator(CountingCommunicator):
        sent_before_reading = -1

        def execute(self, command: str, *, on_stdout: Any, on_stderr: Any, ctx: Context,
                    stdin: BinaryIO | None = None) -> int:
            time.sleep(0.3)
            self.sent_before_reading = 1024 - command_input.left
            return super().execute(command, on_stdout=on_stdout, on_stderr=on_stderr, ctx=ctx, stdin=stdin)

    late = LateStdinCommunicator()
    call(core, "identity", late, late)
    output: list[bytes] = []
    status = service.kept["first"].execute("cat", on_stdout=output.append, on_stderr=output.append,
                                           ctx=Context(), stdin=command_input)
    assert late.sent_before_reading == 0
    assert status == 7 and bytes(1024) in b"".join(output)


def test_streams_are_only_valid_during_the_call(pair: tuple[Session, Session, Service]) -> None:
    core, _, service = pair
    kept: list[Any] = []

    class KeepingCommunicator(CountingCommunicator):
        def upload(self, dst: str, src: BinaryIO, info: FileInfo = DEFAULT_FILE_INFO) -> None:
            kept.append(src)

        def execute(self, command: str, *, on_stdout: Any, on_stderr: Any, ctx: Context,
                    stdin: BinaryIO | None = None) -> int:
            kept.append(on_stdout)
            return 0

    keeping = KeepingCommunicator()
    call(core, "identity", keeping, keeping)
    proxy = service.kept["first"]
    proxy.upload("/x", ZeroSource(10 * 1024 * 1024))
    proxy.execute("x", on_stdout=lambda b: None, on_stderr=lambda b: None, ctx=Context())
    with pytest.raises(ValueError, match="after the call"):
        kept[0].read(10)
    with pytest.raises(ValueError, match="after the call"):
        kept[1](b"late output")


def test_peer_eof_fails_pending_calls_and_cancels_contexts(pair: tuple[Session, Session, Service]) -> None:
    core, plugin, service = pair
    errors: list[BaseException] = []

    def waiter() -> None:
        try:
            call(core, "wait_ctx", Context(), 30)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=waiter)
    thread.start()
    deadline = time.monotonic() + 5
    while not service.seen_contexts and time.monotonic() < deadline:
        time.sleep(0.01)
    # The core goes away: the plugin sees EOF and cancels what is in flight.
    core.close_write()
    assert plugin.wait_closed(5)
    assert service.seen_contexts[0].wait(5)
    plugin.close_write()
    thread.join(5)
    # Either the plugin's Cancelled reply made it out before it closed, or the
    # call fails as connection lost; never a hang.
    assert errors and isinstance(errors[0], (Cancelled, ConnectionLost))
    with pytest.raises(ConnectionLost):
        call(core, "echo")


def test_garbage_on_the_pipe_closes_the_session() -> None:
    read_fd, write_fd = os.pipe()
    other_r, other_w = os.pipe()
    session = Session(PipeTransport(read_fd, other_w), initiator=True, name="victim")
    session.start()
    os.write(write_fd, b"\x00\x00\x00\x05hello")
    assert session.wait_closed(5)
    with pytest.raises(ConnectionLost, match="protocol error"):
        session.call(ROOT_HANDLE, "anything", (), {})
    os.close(write_fd)
    os.close(other_r)


def test_many_streams_and_calls_at_once(pair: tuple[Session, Session, Service]) -> None:
    """Uploads, downloads, command output and plain calls interleaved on one pipe."""
    core, _, _ = pair
    communicator = call(core, "communicator")
    failures: list[BaseException] = []

    def upload() -> None:
        communicator.upload("/u", ZeroSource(8 * 1024 * 1024))

    def download() -> None:
        sink = CountingSink()
        communicator.download(str(5 * 1024 * 1024 + 123), sink)
        assert sink.count == 5 * 1024 * 1024 + 123

    def execute() -> None:
        out: list[bytes] = []
        assert communicator.execute("x", on_stdout=out.append, on_stderr=out.append,
                                    ctx=Context(), stdin=io.BytesIO(b"in")) == 7
        assert b"".join(sorted(out)) == b"".join(sorted([b"out 0\n", b"out 1\n", b"out 2\n", b"err\n", b"in"]))

    def echo() -> None:
        assert call(core, "echo", b"x" * 1000) == [[b"x" * 1000], {}]

    def guarded(function: Any) -> None:
        try:
            for _ in range(3):
                function()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=guarded, args=(f,)) for f in (upload, download, execute, echo) * 3]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
