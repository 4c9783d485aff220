"""RPC and plugin process benchmarks.

Measures, with real plugin processes:

* plugin start-to-handshake latency (``bakehouse-plugin-shell``, the real plugin);
* RPC round-trip latency of a no-op call (median, p95);
* stream throughput core -> plugin (a 200 MB upload into a plugin's communicator)
  and plugin -> core -> plugin (a provisioner uploading through the core relay);
* peak RSS (VmHWM) of the core and of each plugin during those streams.

Usage: ``.venv/bin/python bench/bench_rpc.py [--write]``; ``--write`` replaces
the "RPC" section of bench/RESULTS.md with the figures.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bakehouse.plugin.manager import PluginManager  # noqa: E402
from bakehouse.plugin.process import PluginProcess  # noqa: E402
from bakehouse.sdk import BuildInfo, Communicator, Context, FileInfo, Hook, NullUi, Ui  # noqa: E402

from tests.fixtures.processes import peak_rss_kib, write_plugin_wrapper  # noqa: E402

STREAM_BYTES = 200 * 1024 * 1024


class ZeroReader:
    """A readable of ``size`` zero bytes that never holds more than one chunk."""

    def __init__(self, size: int) -> None:
        self.left = size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return bytes(n)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def bench_handshake(shell_plugin: str, runs: int) -> list[float]:
    timings = []
    for _ in range(runs):
        process = PluginProcess(shell_plugin, build_key="bench", run_id="bench")
        started = time.perf_counter()
        process.start(timeout=60)
        timings.append((time.perf_counter() - started) * 1000)
        process.stop()
    return timings


def bench_round_trip(shell_plugin: str, calls: int) -> list[float]:
    process = PluginProcess(shell_plugin, build_key="bench", run_id="bench")
    process.start(timeout=60)
    try:
        for _ in range(200):  # warm up
            process.call_service("ping")
        timings = []
        for _ in range(calls):
            started = time.perf_counter()
            process.call_service("ping")
            timings.append((time.perf_counter() - started) * 1e6)
        return timings
    finally:
        process.stop()


class UploadHook(Hook):
    """Uploads from the core into the builder's communicator (core -> plugin)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.plugin_peak_kib = 0

    def run(self, name: str, ui: Ui, communicator: Communicator | None, data: dict[str, Any],
            ctx: Context) -> None:
        assert communicator is not None
        started = time.perf_counter()
        communicator.upload("/big.bin", ZeroReader(STREAM_BYTES), FileInfo(size=STREAM_BYTES))  # type: ignore[arg-type]
        self.seconds = time.perf_counter() - started


class RelayHook(Hook):
    """A provisioner plugin uploads through the core into the builder plugin."""

    def __init__(self, manager: PluginManager, source: Path) -> None:
        self.manager = manager
        self.source = source
        self.seconds = 0.0

    def run(self, name: str, ui: Ui, communicator: Communicator | None, data: dict[str, Any],
            ctx: Context) -> None:
        provisioner = self.manager.create("provisioner", "testkit-upload", "relay")
        provisioner.prepare({"source": str(self.source), "destination": "/relay.bin"},
                            BuildInfo(name="bench", builder_type="testkit"))
        started = time.perf_counter()
        provisioner.provision(ui, communicator, data, ctx)
        self.seconds = time.perf_counter() - started


def bench_streams(work: Path) -> dict[str, Any]:
    plugins = work / "plugins"
    plugins.mkdir()
    write_plugin_wrapper(plugins, "bakehouse-plugin-testkit")
    write_plugin_wrapper(plugins, "bakehouse-plugin-testprov")
    os.environ["BAKEHOUSE_PLUGIN_PATH"] = str(plugins)
    os.environ["BAKEHOUSE_PLUGIN_TIMEOUT"] = "60"
    results: dict[str, Any] = {}
    core_before = peak_rss_kib()
    manager = PluginManager(run_id="bench-" + uuid.uuid4().hex[:8])
    try:
        info = BuildInfo(name="bench", builder_type="testkit")
        builder = manager.create("builder", "testkit", "direct")
        builder.prepare({"workdir": str(work / "direct")}, info)
        hook = UploadHook()
        builder.run(NullUi(), hook, Context())
        (builder_process,) = manager.processes("direct")
        results["direct_mb_s"] = STREAM_BYTES / 2**20 / hook.seconds
        results["direct_plugin_peak_mib"] = peak_rss_kib(builder_process.pid) / 1024
        manager.release("direct")
        (work / "direct" / "big.bin").unlink()

        source = work / "source.bin"
        with open(source, "wb") as fh:
            block = os.urandom(1024 * 1024)
            for _ in range(STREAM_BYTES // len(block)):
                fh.write(block)
        builder = manager.create("builder", "testkit", "relay")
        builder.prepare({"workdir": str(work / "relay")}, info)
        relay = RelayHook(manager, source)
        builder.run(NullUi(), relay, Context())
        results["relay_mb_s"] = STREAM_BYTES / 2**20 / relay.seconds
        for process in manager.processes("relay"):
            results[f"relay_{process.name}_peak_mib"] = peak_rss_kib(process.pid) / 1024
    finally:
        manager.shutdown()
    results["core_peak_before_mib"] = core_before / 1024
    results["core_peak_mib"] = peak_rss_kib() / 1024
    return results


def bench_stream_cpu() -> float:
    """CPU seconds (both ends, one process, real pipes) to stream 200 MB: a
    figure that, unlike wall-clock throughput, does not depend on machine load."""
    from bakehouse.rpc.session import ROOT_HANDLE, Session
    from bakehouse.rpc.transport import PipeTransport

    class Service:
        def communicator(self) -> Communicator:
            from tests.plugins.misbehaving.testkit import DirCommunicator

            class Discard(DirCommunicator):
                def upload(self, dst: str, src: Any, info: FileInfo = FileInfo()) -> None:  # noqa: B008
                    while src.read(256 * 1024):
                        pass

            return Discard(tempfile.mkdtemp(prefix="bench-rpc-cpu-"))

    a_read, a_write = os.pipe()
    b_read, b_write = os.pipe()
    core = Session(PipeTransport(b_read, a_write), initiator=True, name="core")
    plugin = Session(PipeTransport(a_read, b_write), initiator=False, name="plugin",
                     root=Service(), root_methods=frozenset({"communicator"}))
    core.start()
    plugin.start()
    communicator = core.call(ROOT_HANDLE, "communicator", (), {})
    started = time.process_time()
    communicator.upload("/x", ZeroReader(STREAM_BYTES))  # type: ignore[arg-type]
    cpu = time.process_time() - started
    core.close_write()
    plugin.close_write()
    return cpu


def render(handshake: list[float], round_trip: list[float], streams: dict[str, Any],
           stream_cpu: float) -> str:
    lines = [
        "## RPC",
        "",
        "Command: `.venv/bin/python bench/bench_rpc.py --write` "
        f"(Python {platform.python_version()}, {os.cpu_count()} cores / 24 GiB; 1-minute load "
        f"average {os.getloadavg()[0]:.1f} when measured, the machine being shared with other "
        "jobs, so latencies are upper bounds).",
        "",
        "| measure | value |",
        "|---|---|",
        f"| plugin start-to-handshake, `bakehouse-plugin-shell` (median of {len(handshake)}) "
        f"| {statistics.median(handshake):.0f} ms (min {min(handshake):.0f}, max {max(handshake):.0f}) |",
        f"| RPC round trip, no-op call (median / p95 of {len(round_trip)}) "
        f"| {statistics.median(round_trip):.0f} µs / {percentile(round_trip, 0.95):.0f} µs |",
        f"| stream CPU cost, both ends in one process over real pipes, 200 MB "
        f"| {stream_cpu:.2f} CPU s ({STREAM_BYTES / 2**20 / stream_cpu:.0f} MB per CPU second) |",
        f"| stream core -> plugin, 200 MB upload | {streams['direct_mb_s']:.0f} MB/s |",
        f"| stream plugin -> core -> plugin (provisioner upload relayed to the builder), 200 MB "
        f"| {streams['relay_mb_s']:.0f} MB/s |",
        f"| peak RSS of the core (bench process) before / after both streams "
        f"| {streams['core_peak_before_mib']:.0f} MiB / {streams['core_peak_mib']:.0f} MiB |",
        f"| peak RSS of the builder plugin during the direct 200 MB upload "
        f"| {streams['direct_plugin_peak_mib']:.0f} MiB |",
    ]
    for key, value in sorted(streams.items()):
        if key.startswith("relay_") and key.endswith("_peak_mib"):
            name = key[len("relay_"):-len("_peak_mib")]
            lines.append(f"| peak RSS of `{name}` during the relayed 200 MB upload | {value:.0f} MiB |")
    lines += [
        "",
        "Flow control: 1 MiB credit window per stream, 256 KiB frames, so memory does not "
        "grow with the transfer size. Wall-clock rows depend on the machine's load (on this "
        "shared machine stream throughput ranged from 45 to 340 MB/s between runs at load "
        "averages 8 to 14); the CPU-cost row does not.",
        "",
    ]
    return "\n".join(lines)


def write_section(section: str) -> None:
    results = REPO / "bench" / "RESULTS.md"
    text = results.read_text() if results.exists() else "# Benchmark results\n\n"
    start = text.find("\n## RPC\n")
    if start != -1:
        end = text.find("\n## ", start + 1)
        text = text[:start + 1] + section + (text[end + 1:] if end != -1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    results.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    parser.add_argument("--handshakes", type=int, default=7)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-rpc-") as tmp:
        work = Path(tmp)
        os.environ["BAKEHOUSE_HOME"] = str(work / "home")
        shell_plugin = str(Path(sys.executable).parent / "bakehouse-plugin-shell")
        handshake = bench_handshake(shell_plugin, args.handshakes)
        round_trip = bench_round_trip(shell_plugin, args.calls)
        streams = bench_streams(work)
        stream_cpu = bench_stream_cpu()
    section = render(handshake, round_trip, streams, stream_cpu)
    print(section)
    if args.write:
        write_section(section)


if __name__ == "__main__":
    main()
