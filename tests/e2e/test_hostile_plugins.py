"""Plugins that complete the handshake and then misbehave, through the real CLI.

The plugins are ``tests/plugins/misbehaving/hostile.py``: one answers with a
frame of 400 nested msgpack extension types (it used to overflow the core's
reader thread: SIGSEGV), one never answers at all (the core used to be deaf
to Ctrl-C and SIGTERM while it waited for ``create``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.fixtures.processes import PluginDir, run_processes, wait_until_gone
from tests.support import bakehouse_exe

pytestmark = pytest.mark.timeout(120)


def template(tmp_path: Path, builder: str) -> Path:
    path = tmp_path / "t.pkr.hcl"
    path.write_text(f'source "{builder}" "x" {{}}\nbuild {{ sources = ["source.{builder}.x"] }}\n')
    return path


def test_deeply_nested_frame_is_refused_naming_the_plugin(
    bakehouse, plugin_dir: PluginDir, run_id: str, tmp_path: Path
) -> None:
    plugin_dir.add("bakehouse-plugin-nestbomb")
    template(tmp_path, "nestbomb")
    result = bakehouse("build", "t.pkr.hcl", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "bakehouse-plugin-nestbomb" in output
    assert "nested deeper than 32 levels" in output
    assert "crash" not in output.lower() and not (tmp_path / "crash.log").exists()
    assert wait_until_gone(run_processes(run_id), timeout=5) == []


@pytest.mark.parametrize(("signum", "word"), [(signal.SIGINT, "interrupt"),
                                              (signal.SIGTERM, "terminated")])
def test_signal_while_a_plugin_never_answers_create_stops_it(
    plugin_dir: PluginDir, run_id: str, tmp_path: Path, signum: int, word: str
) -> None:
    plugin_dir.add("bakehouse-plugin-mute")
    template(tmp_path, "mute")
    proc = subprocess.Popen([bakehouse_exe(), "build", "t.pkr.hcl"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not [n for n, cmd, _ in plugin_dir.spawns() if cmd == "serve"]:
            assert time.monotonic() < deadline, "the plugin never started"
            time.sleep(0.05)
        time.sleep(1.0)  # the core now waits for an answer to `create`
        started = time.monotonic()
        if signum == signal.SIGINT:
            os.killpg(proc.pid, signum)  # Ctrl-C reaches the whole foreground group
        else:
            os.kill(proc.pid, signum)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert time.monotonic() - started < 10
    assert proc.returncode == 1, out + err
    assert f"Cancelling build after receiving {word}" in out + err
    assert "bakehouse-plugin-mute" in out + err and "has not answered create" in out + err
    assert wait_until_gone(run_processes(run_id), timeout=5) == []


def test_a_plugin_printing_200_mb_without_newline_keeps_the_core_small(
    plugin_dir: PluginDir, run_id: str, tmp_path: Path
) -> None:
    """Plugin output is read line by line into the log; an endless line is cut
    at 64 KiB instead of being buffered whole (it once drove the core to 3.5 GB)."""
    import json
    import sys

    plugin_dir.add("bakehouse-plugin-chatty")
    template(tmp_path, "chatty")
    log_path = tmp_path / "debug.log"
    # A fresh parent, so that RUSAGE_CHILDREN's peak is this run's largest process.
    probe = (
        "import json, resource, subprocess, sys\n"
        "r = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "print(json.dumps({'rc': r.returncode, 'out': r.stdout + r.stderr,\n"
        "                  'peak_kib': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, bakehouse_exe(), "build", "t.pkr.hcl"], cwd=tmp_path,
        env=dict(os.environ, BAKEHOUSE_LOG_PATH=str(log_path)),
        capture_output=True, text=True, timeout=110)
    report = json.loads(result.stdout)
    assert report["rc"] == 1, report["out"]
    assert "bakehouse-plugin-chatty" in report["out"]
    assert report["peak_kib"] < 150 * 1024, f"peak RSS {report['peak_kib']} KiB"
    text = log_path.read_text(errors="replace")
    assert "[... line cut at 64 KiB]" in text
    assert "chatter done" in text  # reading went on after the cut
    assert log_path.stat().st_size < 2 * 1024 * 1024
    assert wait_until_gone(run_processes(run_id), timeout=5) == []


@pytest.mark.parametrize("second", [signal.SIGINT, signal.SIGTERM])
def test_second_signal_stops_a_provisioner_that_ignores_cancel_and_names_it(
    plugin_dir: PluginDir, run_id: str, tmp_path: Path, second: int
) -> None:
    """The first Ctrl-C cancels; the plugin never answers. The second signal
    (Ctrl-C or SIGTERM) stops the plugins at once and names the one that hung."""
    plugin_dir.add("bakehouse-plugin-testkit", "bakehouse-plugin-deaf")
    workdir = tmp_path / "work"
    workdir.mkdir()
    (tmp_path / "t.pkr.hcl").write_text(
        f'source "testkit" "x" {{\n  workdir = "{workdir}"\n}}\n'
        'build {\n  sources = ["source.testkit.x"]\n  provisioner "deaf" {}\n}\n')
    proc = subprocess.Popen([bakehouse_exe(), "build", "t.pkr.hcl"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "deaf provisioner started" in line:
                break
        assert any("deaf provisioner started" in line for line in lines), "".join(lines)
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(1.5)
        assert proc.poll() is None, "the first Ctrl-C waits for the cancelled build"
        started = time.monotonic()
        if second == signal.SIGINT:
            os.killpg(proc.pid, second)
        else:
            os.kill(proc.pid, second)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    output = "".join(lines) + out
    assert time.monotonic() - started < 10
    assert proc.returncode == 1, output
    assert "Second interrupt received" in output, output
    assert "bakehouse-plugin-deaf" in output and "has not answered provision" in output, output
    assert "Traceback" not in output
    assert wait_until_gone(run_processes(run_id), timeout=10) == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_a_data_source_never_answers(
    plugin_dir: PluginDir, run_id: str, tmp_path: Path, signum: int
) -> None:
    """Data sources run while the template loads, on the main thread: the wait
    for a plugin that never answers is interrupted by the first Ctrl-C (to the
    group) or SIGTERM (to bakehouse)."""
    plugin_dir.add("bakehouse-plugin-muteds")
    (tmp_path / "t.pkr.hcl").write_text(
        'data "mute" "x" {}\nsource "null" "n" { communicator = "none" }\n'
        'build { sources = ["source.null.n"] }\n')
    proc = subprocess.Popen([bakehouse_exe(), "build", "t.pkr.hcl"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while "bakehouse-plugin-muteds" not in plugin_dir.served():
            assert time.monotonic() < deadline, "the plugin never started"
            time.sleep(0.05)
        time.sleep(1.0)  # the core now waits for the data source's answer
        started = time.monotonic()
        if signum == signal.SIGINT:
            os.killpg(proc.pid, signum)
        else:
            os.kill(proc.pid, signum)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert time.monotonic() - started < 10
    assert proc.returncode != 0, out + err
    assert "Traceback" not in out + err
    assert "crash" not in (out + err).lower()
    assert "bakehouse-plugin-muteds" in out + err and "has not answered create" in out + err, out + err
    assert wait_until_gone(run_processes(run_id), timeout=5) == []
