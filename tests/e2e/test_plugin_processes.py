"""Plugin processes for real: start, handshake, RPC chains, crashes, stop.

Every test runs real plugin executables (wrappers around the test plugins in
``tests/plugins/misbehaving``) through :class:`PluginManager`; nothing of the
RPC or plugin layer is replaced. Which processes ran is read from ``/proc``
(the ``BAKEHOUSE_RUN_ID`` marker) and from the wrappers' spawn log.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from bakehouse.plugin.errors import PluginError
from bakehouse.plugin.manager import PluginManager
from bakehouse.plugin.process import PluginProcess
from bakehouse.rpc.errors import RemoteError
from bakehouse.sdk import (
    Builder,
    BuildInfo,
    Cancelled,
    Communicator,
    ConfigError,
    Context,
    Hook,
    JournalEntry,
    Provisioner,
    Ui,
)

from tests.fixtures.processes import (
    PluginDir,
    descendants,
    pid_alive,
    run_processes,
    wait_until_gone,
)

pytestmark = pytest.mark.timeout(120)

#: Handshake timeout for the misbehaving plugins (short, it is what they test).
HANDSHAKE_TIMEOUT = 3.0
#: For the well-behaved ones: generous, a loaded CI machine starts Python slowly.
PATIENT_TIMEOUT = 60.0


class RecordingUi(Ui):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def say(self, message: str) -> None:
        self.lines.append("say:" + message)

    def message(self, message: str) -> None:
        self.lines.append("message:" + message)

    def error(self, message: str) -> None:
        self.lines.append("error:" + message)


class ProvisionHook(Hook):
    """Runs provisioners from the manager in the builder's hook, as the orchestrator does."""

    def __init__(self, manager: PluginManager, build_key: str,
                 provisioners: list[tuple[str, dict[str, Any]]]) -> None:
        self.manager = manager
        self.build_key = build_key
        self.provisioners = provisioners
        self.errors: list[BaseException] = []

    def run(self, name: str, ui: Ui, communicator: Communicator | None, data: dict[str, Any],
            ctx: Context) -> None:
        for type_name, config in self.provisioners:
            provisioner = self.manager.create("provisioner", type_name, self.build_key)
            assert isinstance(provisioner, Provisioner)
            provisioner.prepare(config, BuildInfo(name="t", builder_type="testkit"))
            try:
                provisioner.provision(ui, communicator, data, ctx)
            except BaseException as exc:
                self.errors.append(exc)
                raise


@pytest.fixture
def manager(plugin_dir: PluginDir, run_id: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BAKEHOUSE_PLUGIN_TIMEOUT", str(PATIENT_TIMEOUT))
    plugin_dir.add("bakehouse-plugin-testkit", "bakehouse-plugin-testprov")
    created = PluginManager(run_id=run_id)
    yield created
    created.shutdown()
    assert wait_until_gone(run_processes(run_id), 5) == []


def test_builder_and_provisioner_plugins_talk_through_the_core(
    manager: PluginManager, plugin_dir: PluginDir, tmp_path: Path, run_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """core -> Builder.run (testkit) -> Hook.run (core) -> Provisioner.provision
    (testprov) -> Communicator.execute/upload/download (core relay) -> testkit."""
    # Session fixtures (moto, sshd, a registry) may already be our children.
    children_before = set(descendants(os.getpid()))
    workdir = tmp_path / "machine"
    local = tmp_path / "local.txt"
    local.write_bytes(b"payload\n" * 1000)
    fetched = tmp_path / "fetched.txt"
    builder = manager.create("builder", "testkit", "build-1")
    assert isinstance(builder, Builder)
    builder.prepare({"workdir": str(workdir)}, BuildInfo(name="t", builder_type="testkit"))
    hook = ProvisionHook(manager, "build-1", [
        ("testkit-exec", {"command": "echo hello; echo oops >&2; cat", "stdin": "from stdin"}),
        ("testkit-upload", {"source": str(local), "destination": "/etc/app.conf"}),
        ("testkit-download", {"source": "/etc/app.conf", "destination": str(fetched)}),
    ])
    ui = RecordingUi()

    def stray_print_logged() -> bool:
        return any(r.name == "bakehouse.plugin.bakehouse-plugin-testkit"
                   and "a stray print on stdout" in r.getMessage() for r in caplog.records)

    with caplog.at_level(logging.DEBUG, logger="bakehouse.plugin"):
        artifact = builder.run(ui, hook, Context())
        # The builder's stray print went to its logger, not into the RPC stream
        # (the output reader thread logs asynchronously: give it a moment).
        deadline = time.monotonic() + 5
        while not stray_print_logged() and time.monotonic() < deadline:
            time.sleep(0.05)
    assert stray_print_logged()
    assert hook.errors == []
    assert ui.lines[0].startswith("say:testkit builder in pid")
    assert "message:hello" in ui.lines and "error:oops" in ui.lines
    assert any(line.startswith("message:") and "from stdin" in line for line in ui.lines)
    assert "say:uploaded 8000 bytes" in ui.lines
    assert (workdir / "etc/app.conf").read_bytes() == local.read_bytes()
    assert fetched.read_bytes() == local.read_bytes()
    assert artifact is not None and artifact.id == "artifact-machine"
    assert artifact.state("generated_data") == {"ID": "testkit"}
    # One process per executable for the build, no more.
    assert sorted(plugin_dir.served()) == ["bakehouse-plugin-testkit", "bakehouse-plugin-testprov"]
    assert len(run_processes(run_id)) == 2
    assert sorted(set(descendants(os.getpid())) - children_before) == run_processes(run_id)


def test_unknown_type_is_a_lookup_error_and_starts_nothing(
    manager: PluginManager, plugin_dir: PluginDir
) -> None:
    with pytest.raises(LookupError, match="unknown builder type 'tesktit'. Did you mean 'testkit'"):
        manager.create("builder", "tesktit", "b")
    assert "testkit" in manager.known_types("builder")
    assert plugin_dir.served() == []


def test_config_errors_keep_their_paths(manager: PluginManager) -> None:
    builder = manager.create("builder", "testkit", "b")
    with pytest.raises(ConfigError) as caught:
        builder.prepare({"wokrdir": "/x"}, BuildInfo(name="t", builder_type="testkit"))
    paths = sorted(problem.path for problem in caught.value.problems)
    assert paths == [("wokrdir",), ("workdir",)]


def test_lazy_start_starts_only_the_executables_needed(
    manager: PluginManager, plugin_dir: PluginDir, run_id: str
) -> None:
    assert manager.find("provisioner", "testkit-exec") is not None
    assert manager.known_types("builder")  # discovery ran...
    assert plugin_dir.served() == []  # ...and started no plugin process
    manager.create("builder", "testkit", "build-a")
    manager.create("post-processor", "testkit-pass", "build-a")  # same executable, same build
    assert plugin_dir.served() == ["bakehouse-plugin-testkit"]
    assert len(run_processes(run_id)) == 1
    manager.create("builder", "testkit", "build-b")  # another build gets its own process
    assert plugin_dir.served() == ["bakehouse-plugin-testkit"] * 2
    build_a = [p.pid for p in manager.processes("build-a")]
    manager.release("build-a")
    assert wait_until_gone(build_a, 1) == []
    assert len(run_processes(run_id)) == 1


def test_describe_cache_avoids_processes_on_the_second_discovery(
    plugin_dir: PluginDir, run_id: str
) -> None:
    testkit, _ = plugin_dir.add("bakehouse-plugin-testkit", "bakehouse-plugin-testprov")
    first = PluginManager(run_id=run_id)
    assert "testkit" in first.known_types("builder")
    described = [name for name, command, _ in plugin_dir.spawns() if command == "describe"]
    assert sorted(described) == ["bakehouse-plugin-testkit", "bakehouse-plugin-testprov"]
    second = PluginManager(run_id=run_id)
    assert "testkit-exec" in second.known_types("provisioner")
    assert len(plugin_dir.spawns()) == 2  # nothing started the second time
    # A changed executable (new mtime) is described again, the other is not.
    os.utime(testkit, (time.time() + 10, time.time() + 10))
    PluginManager(run_id=run_id).known_types("builder")
    assert [name for name, _, _ in plugin_dir.spawns()][2:] == ["bakehouse-plugin-testkit"]


@pytest.mark.parametrize(
    ("executable", "type_name", "expected"),
    [
        ("bakehouse-plugin-garbage", "garbage", "sent garbage instead of a handshake"),
        ("bakehouse-plugin-protocol99", "future", "speaks RPC protocol 99.0"),
        ("bakehouse-plugin-silent", "silent", f"no handshake within {HANDSHAKE_TIMEOUT:g}s"),
        ("bakehouse-plugin-exits", "exits",
         "exited before the handshake (exit status 3); last stderr: fatal: cannot load my configuration"),
    ],
)
def test_misbehaving_plugin_gives_one_line_error_naming_it(
    plugin_dir: PluginDir, run_id: str, monkeypatch: pytest.MonkeyPatch,
    executable: str, type_name: str, expected: str,
) -> None:
    monkeypatch.setenv("BAKEHOUSE_PLUGIN_TIMEOUT", str(HANDSHAKE_TIMEOUT))
    (path,) = plugin_dir.add(executable)
    manager = PluginManager(run_id=run_id)
    assert manager.find("builder", type_name) is not None  # discovery is not timed
    started = time.monotonic()
    with pytest.raises(PluginError) as caught:
        manager.create("builder", type_name, "b")
    elapsed = time.monotonic() - started
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    assert expected in message
    assert elapsed < HANDSHAKE_TIMEOUT + 1.5
    (served_pid,) = [pid for name, command, pid in plugin_dir.spawns() if command == "serve"]
    assert not pid_alive(served_pid)
    assert run_processes(run_id) == []
    # The next component of that executable fails at once, without a new process.
    started = time.monotonic()
    with pytest.raises(PluginError, match="^" + re.escape(message) + "$"):
        manager.create("builder", type_name, "another-build")
    assert time.monotonic() - started < 0.5
    assert len(plugin_dir.served()) == 1
    manager.shutdown()


def test_plugin_output_goes_to_its_logger(
    plugin_dir: PluginDir, run_id: str, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("BAKEHOUSE_PLUGIN_TIMEOUT", str(HANDSHAKE_TIMEOUT))
    plugin_dir.add("bakehouse-plugin-garbage")
    manager = PluginManager(run_id=run_id)
    with caplog.at_level(logging.DEBUG, logger="bakehouse.plugin"):
        with pytest.raises(PluginError):
            manager.create("builder", "garbage", "b")
    records = [r for r in caplog.records if r.name == "bakehouse.plugin.bakehouse-plugin-garbage"]
    assert any("hello, I am chatty on stdout" in r.getMessage() for r in records)


def test_plugin_killed_mid_call_raises_plugin_error_naming_it(
    manager: PluginManager, tmp_path: Path, run_id: str
) -> None:
    marker = tmp_path / "wait.pid"
    provisioner = manager.create("provisioner", "testkit-wait", "b")
    provisioner.prepare({"marker": str(marker)}, BuildInfo(name="t", builder_type="testkit"))

    def kill_when_waiting() -> None:
        deadline = time.monotonic() + 20
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)  # let its stderr line reach us
        os.kill(int(marker.read_text()), signal.SIGKILL)

    killer = threading.Thread(target=kill_when_waiting)
    killer.start()
    with pytest.raises(PluginError) as caught:
        provisioner.provision(RecordingUi(), None, {}, Context())
    killer.join()
    pid = int(marker.read_text())
    message = str(caught.value)
    assert "\n" not in message
    assert f"plugin bakehouse-plugin-testprov (pid {pid}) exited unexpectedly (killed by SIGKILL)" in message
    assert f"last stderr: testkit-wait waiting in pid {pid}" in message
    assert not pid_alive(pid)


def test_crash_inside_nested_call_reaches_the_builder_and_the_core(
    manager: PluginManager, tmp_path: Path
) -> None:
    marker = tmp_path / "wait.pid"
    builder = manager.create("builder", "testkit", "b")
    builder.prepare({"workdir": str(tmp_path / "m")}, BuildInfo(name="t", builder_type="testkit"))
    hook = ProvisionHook(manager, "b", [("testkit-wait", {"marker": str(marker)})])

    def kill_when_waiting() -> None:
        while not marker.exists():
            time.sleep(0.02)
        os.kill(int(marker.read_text()), signal.SIGKILL)

    threading.Thread(target=kill_when_waiting, daemon=True).start()
    with pytest.raises(RemoteError) as caught:
        builder.run(RecordingUi(), hook, Context())
    assert isinstance(hook.errors[0], PluginError)
    assert caught.value.type_name == "PluginError"
    assert "bakehouse-plugin-testprov" in str(caught.value) and "killed by SIGKILL" in str(caught.value)


def test_cancel_travels_to_the_innermost_plugin_call(manager: PluginManager, tmp_path: Path) -> None:
    marker = tmp_path / "wait.pid"
    builder = manager.create("builder", "testkit", "b")
    builder.prepare({"workdir": str(tmp_path / "m")}, BuildInfo(name="t", builder_type="testkit"))
    hook = ProvisionHook(manager, "b", [("testkit-wait", {"marker": str(marker)})])
    ctx = Context()

    def cancel_when_waiting() -> None:
        while not marker.exists():
            time.sleep(0.02)
        ctx.cancel("interrupted by test")

    threading.Thread(target=cancel_when_waiting, daemon=True).start()
    with pytest.raises(Cancelled):
        builder.run(RecordingUi(), hook, ctx)
    assert Path(str(marker) + ".cancelled").read_text() == "interrupted by test"


def test_shutdown_escalates_to_sigkill_and_reaps(plugin_dir: PluginDir, run_id: str) -> None:
    (path,) = plugin_dir.add("bakehouse-plugin-stubborn")
    process = PluginProcess(str(path), build_key="b", run_id=run_id)
    process.start(timeout=PATIENT_TIMEOUT)
    pid = process.pid
    assert pid_alive(pid)
    started = time.monotonic()
    process.stop()
    elapsed = time.monotonic() - started
    assert 3.5 < elapsed < 8  # polite (2 s), SIGTERM ignored (2 s), SIGKILL
    assert process.proc is not None and process.proc.returncode == -signal.SIGKILL
    assert not Path(f"/proc/{pid}").exists()  # reaped, not a zombie
    assert run_processes(run_id) == []


def test_parallel_shutdown_of_many_processes(manager: PluginManager, run_id: str) -> None:
    for index in range(4):
        manager.create("builder", "testkit", f"build-{index}")
    pids = run_processes(run_id)
    assert len(pids) == 4
    started = time.monotonic()
    manager.shutdown()
    assert time.monotonic() - started < 3.0
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists()
    with pytest.raises(PluginError, match="shutting down"):
        manager.create("builder", "testkit", "late")


def test_plugins_ignore_sigint(manager: PluginManager) -> None:
    """The core owns Ctrl-C: a SIGINT that reaches a plugin changes nothing."""
    manager.create("builder", "testkit", "b")
    (process,) = manager.processes("b")
    os.kill(process.pid, signal.SIGINT)
    time.sleep(0.3)
    assert process.call_service("ping") == "pong"
    assert pid_alive(process.pid)


def test_sigterm_cancels_the_call_in_flight_and_runs_cleanups(
    manager: PluginManager, tmp_path: Path
) -> None:
    """What PR_SET_PDEATHSIG delivers when the core dies: the plugin cancels,
    cleans up, answers if it still can, and exits."""
    builder = manager.create("builder", "testkit", "b")
    builder.prepare({"workdir": str(tmp_path / "m"), "wait_for_cancel": True},
                    BuildInfo(name="t", builder_type="testkit"))
    (process,) = manager.processes("b")

    def terminate_when_waiting() -> None:
        deadline = time.monotonic() + 30
        while not any("builder waiting" in line for line in process.stderr_tail):
            if time.monotonic() > deadline:
                return
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGTERM)

    threading.Thread(target=terminate_when_waiting, daemon=True).start()
    with pytest.raises((Cancelled, PluginError)):
        builder.run(RecordingUi(), ProvisionHook(manager, "b", []), Context())
    assert (tmp_path / "m" / "builder-cleanup-ran").read_text() == "cancelled: terminated"
    assert process.proc is not None and process.proc.wait(5) == 0


def test_plugin_exits_when_started_after_its_core_died(plugin_dir: PluginDir) -> None:
    (path,) = plugin_dir.add("bakehouse-plugin-testkit")
    read_fd, write_fd = os.pipe()
    env = dict(os.environ, BAKEHOUSE_PLUGIN_FDS=f"{read_fd},{write_fd}",
               BAKEHOUSE_CORE_PID="999999999")
    done = subprocess.run([str(path), "serve"], env=env, pass_fds=(read_fd, write_fd),
                          capture_output=True, text=True, timeout=60)
    os.close(read_fd)
    os.close(write_fd)
    assert done.returncode == 1
    assert "bakehouse core is gone; exiting" in done.stderr


def test_stopping_a_plugin_takes_its_leftover_commands_along(
    manager: PluginManager, tmp_path: Path, run_id: str
) -> None:
    pidfile = tmp_path / "machine" / "sleep.pid"
    builder = manager.create("builder", "testkit", "b")
    builder.prepare({"workdir": str(tmp_path / "machine")}, BuildInfo(name="t", builder_type="testkit"))
    hook = ProvisionHook(manager, "b", [
        ("testkit-exec", {"command": "sleep 300 >/dev/null 2>&1 & echo $! > sleep.pid"}),
    ])
    builder.run(RecordingUi(), hook, Context())
    sleeper = int(pidfile.read_text())
    assert pid_alive(sleeper)
    manager.release("b")
    assert wait_until_gone([sleeper], 2) == []
    assert run_processes(run_id) == []


def test_stubborn_processes_are_stopped_in_parallel(plugin_dir: PluginDir, run_id: str) -> None:
    """Three plugins that ignore shutdown and SIGTERM: stopped side by side in
    about one escalation (4 s), not three (12 s)."""
    from bakehouse.plugin.manager import _stop_all

    (path,) = plugin_dir.add("bakehouse-plugin-stubborn")
    processes = [PluginProcess(str(path), build_key=f"b{i}", run_id=run_id) for i in range(3)]
    for process in processes:
        process.start(timeout=PATIENT_TIMEOUT)
    started = time.monotonic()
    _stop_all(processes)
    assert time.monotonic() - started < 8
    assert all(p.proc is not None and p.proc.returncode == -signal.SIGKILL for p in processes)
    assert run_processes(run_id) == []


def test_cleanup_entry_runs_the_plugin_cleaner(manager: PluginManager, tmp_path: Path) -> None:
    leftover = tmp_path / "leftover"
    leftover.write_text("x")
    manager.cleanup_entry(JournalEntry("bakehouse-plugin-testkit", "testkit-file", str(leftover)))
    assert not leftover.exists()
    with pytest.raises(PluginError, match="no cleaner for 'unknown-kind'"):
        manager.cleanup_entry(JournalEntry("bakehouse-plugin-testkit", "unknown-kind", "x"))


def test_plugin_refuses_to_run_outside_the_core(plugin_dir: PluginDir) -> None:
    (path,) = plugin_dir.add("bakehouse-plugin-testkit")
    done = subprocess.run([str(path), "serve"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "This is a Bakehouse plugin; bakehouse starts it for you." in done.stderr
    description = json.loads(subprocess.run([str(path), "describe"], capture_output=True,
                                            text=True, timeout=30).stdout)
    assert description == {
        "plugin": "bakehouse-plugin-testkit", "version": "0.0.1", "protocol_version": "1.0",
        "builders": ["testkit"], "provisioners": [], "post_processors": ["testkit-pass"],
        "datasources": [],
    }


DRIVER = r'''
import json, os, sys
from pathlib import Path
from bakehouse.plugin.manager import PluginManager
from bakehouse.sdk import BuildInfo, Hook, NullUi, Context
from tests.fixtures.processes import peak_rss_kib

mode, workdir = sys.argv[1], sys.argv[2]
manager = PluginManager(run_id=os.environ["BAKEHOUSE_RUN_ID"])
info = BuildInfo(name="t", builder_type="testkit")
builder = manager.create("builder", "testkit", "b1")
builder.prepare({"workdir": workdir + "/machine", "wait_for_cancel": mode == "wait"}, info)

class DriverHook(Hook):
    def run(self, name, ui, communicator, data, ctx):
        if mode == "wait":
            prov = manager.create("provisioner", "testkit-wait", "b1")
            prov.prepare({"marker": workdir + "/wait.pid"}, info)
        else:
            prov = manager.create("provisioner", "testkit-upload", "b1")
            prov.prepare({"source": workdir + "/big.bin", "destination": "/big.bin"}, info)
        prov.provision(ui, communicator, data, ctx)

builder.run(NullUi(), DriverHook(), Context())
peaks = {"core": peak_rss_kib()}
for process in manager.processes():
    peaks[process.name] = peak_rss_kib(process.pid)
print(json.dumps(peaks), flush=True)
manager.shutdown()
'''


def _driver(tmp_path: Path, mode: str) -> subprocess.Popen[str]:
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2]) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.Popen([sys.executable, str(script), mode, str(tmp_path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_core_killed_mid_call_its_plugins_exit_within_2_seconds(
    plugin_dir: PluginDir, run_id: str, tmp_path: Path
) -> None:
    plugin_dir.add("bakehouse-plugin-testkit", "bakehouse-plugin-testprov")
    driver = _driver(tmp_path, "wait")
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "wait.pid").exists() and time.monotonic() < deadline:
            assert driver.poll() is None, driver.stderr.read() if driver.stderr else ""
            time.sleep(0.05)
        plugins = [pid for pid in run_processes(run_id) if pid != driver.pid]
        assert len(plugins) == 2
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        assert wait_until_gone(plugins, 2.0) == []
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    # Both plugins saw the core go, cancelled, and ran their cleanups.
    assert (tmp_path / "machine" / "builder-cleanup-ran").exists()
    assert (tmp_path / "wait.pid.cancelled").exists()


@pytest.mark.slow
def test_200mb_upload_through_two_plugins_keeps_memory_flat(
    plugin_dir: PluginDir, run_id: str, tmp_path: Path
) -> None:
    plugin_dir.add("bakehouse-plugin-testkit", "bakehouse-plugin-testprov")
    size = 200 * 1024 * 1024
    with open(tmp_path / "big.bin", "wb") as fh:
        block = os.urandom(1024 * 1024)
        for _ in range(size // len(block)):
            fh.write(block)
    driver = _driver(tmp_path, "upload")
    out, err = driver.communicate(timeout=180)
    assert driver.returncode == 0, err
    peaks = json.loads(out.strip().splitlines()[-1])
    assert (tmp_path / "machine" / "big.bin").stat().st_size == size
    total_mib = sum(peaks.values()) / 1024
    assert total_mib < 150, peaks
    assert all(kib < 80 * 1024 for kib in peaks.values()), peaks
    assert run_processes(run_id) == []


LAZY_TEMPLATE = """
source "testkit" "a" {
  workdir = "%(root)s/machine-a"
}
source "testother" "b" {
  workdir = "%(root)s/machine-b"
}
build {
  sources = ["source.testkit.a", "source.testother.b"]
  provisioner "testkit-exec" {
    command = "echo built ${source.name} > out.txt"
  }
}
"""


def test_build_with_only_starts_only_the_plugins_that_build_needs(
    bakehouse: Any, plugin_dir: PluginDir, run_id: str, tmp_path: Path
) -> None:
    """Two builder plugins in the template, ``-only`` selects one: the other
    executable is described (once, for discovery) but never started."""
    plugin_dir.add("bakehouse-plugin-testkit", "bakehouse-plugin-testother",
                   "bakehouse-plugin-testprov")
    (tmp_path / "t.pkr.hcl").write_text(LAZY_TEMPLATE % {"root": tmp_path})
    done = bakehouse("build", "-only=testkit.a", "t.pkr.hcl", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "machine-a" / "out.txt").read_text() == "built a\n"
    assert not (tmp_path / "machine-b").exists()
    assert sorted(plugin_dir.served()) == ["bakehouse-plugin-testkit", "bakehouse-plugin-testprov"]
    served_pids = [pid for _, command, pid in plugin_dir.spawns() if command == "serve"]
    assert not any(pid_alive(pid) for pid in served_pids)
    assert run_processes(run_id) == []
    # A second run finds everything in the describe cache: only serve starts.
    before = len(plugin_dir.spawns())
    assert bakehouse("build", "-only=testother.b", "t.pkr.hcl", cwd=tmp_path).returncode == 0
    assert [command for _, command, _ in plugin_dir.spawns()[before:]] == ["serve", "serve"]
    assert sorted(name for name, _, _ in plugin_dir.spawns()[before:]) == [
        "bakehouse-plugin-testother", "bakehouse-plugin-testprov"]


# -- several builds of one run need the same plugin: one start, a fork each ------


def _parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_builds_sharing_a_plugin_start_it_once_and_get_a_process_each(
    manager: PluginManager, plugin_dir: PluginDir, tmp_path: Path, run_id: str
) -> None:
    builds = [f"build-{i}" for i in range(3)]
    manager.expect_builds({key: [("builder", "testkit")] for key in builds})
    for key in builds:
        builder = manager.create("builder", "testkit", key)
        builder.prepare({"workdir": str(tmp_path / key)}, BuildInfo(name=key, builder_type="testkit"))
    # One Python start-up of the plugin executable: its fork server ...
    assert plugin_dir.served() == ["bakehouse-plugin-testkit"]
    server = plugin_dir.spawns()[-1][2]
    # ... which forked one process per build: each in a process group of its own.
    children = {key: manager.processes(key) for key in builds}
    assert all(len(found) == 1 for found in children.values()), children
    pids = [found[0].pid for found in children.values()]
    assert len(set(pids)) == 3 and server not in pids
    assert all(_parent_of(pid) == server and os.getpgid(pid) == pid for pid in pids)
    assert sorted(run_processes(run_id)) == sorted([server, *pids])

    manager.release("build-0")  # that build's process goes, the others stay
    assert wait_until_gone([pids[0]], 5) == []
    assert pid_alive(pids[1]) and pid_alive(pids[2]) and pid_alive(server)
    manager.release("build-1")
    manager.release("build-2")  # the last build that needed it: the server goes too
    assert wait_until_gone([server, *pids], 5) == []


def test_a_forked_build_process_that_crashes_fails_only_its_build(
    manager: PluginManager, tmp_path: Path, run_id: str
) -> None:
    manager.expect_builds({key: [("provisioner", "testkit-wait")] for key in ("doomed", "fine")})
    marker = tmp_path / "wait.pid"
    doomed = manager.create("provisioner", "testkit-wait", "doomed")
    doomed.prepare({"marker": str(marker)}, BuildInfo(name="t", builder_type="testkit"))
    fine = manager.create("provisioner", "testkit-wait", "fine")

    def kill_when_waiting() -> None:
        deadline = time.monotonic() + 20
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)
        os.kill(int(marker.read_text()), signal.SIGKILL)

    killer = threading.Thread(target=kill_when_waiting)
    killer.start()
    with pytest.raises(PluginError) as caught:
        doomed.provision(RecordingUi(), None, {}, Context())
    killer.join()
    pid = int(marker.read_text())
    # The exit status comes from the fork server, which reaped it.
    assert f"plugin bakehouse-plugin-testprov (pid {pid}) exited unexpectedly (killed by SIGKILL)" in str(caught.value)
    # The other build's process (a sibling fork) is untouched and still answers.
    fine.prepare({"marker": str(tmp_path / "other.pid")}, BuildInfo(name="t", builder_type="testkit"))
    (survivor,) = manager.processes("fine")
    assert survivor.alive and survivor.pid != pid
    manager.shutdown()
    assert wait_until_gone(run_processes(run_id), 5) == []


def test_a_plugin_that_cannot_fork_gets_a_process_per_build(
    manager: PluginManager, plugin_dir: PluginDir, tmp_path: Path, run_id: str
) -> None:
    """A plugin built with an SDK that predates fork servers ignores the
    request (simulated: the wrapper drops it) and serves as a plain process:
    the core stops it and starts one process per build, as before."""
    from bakehouse.rpc.forks import FORK_SERVER_ENV

    wrapper = plugin_dir.path / "bakehouse-plugin-testkit"
    source = wrapper.read_text()
    wrapper.write_text(source.replace("import os, sys\n", f"import os, sys\nos.environ.pop({FORK_SERVER_ENV!r}, None)\n", 1))
    builds = ["old-1", "old-2"]
    manager.expect_builds({key: [("builder", "testkit")] for key in builds})
    for key in builds:
        builder = manager.create("builder", "testkit", key)
        builder.prepare({"workdir": str(tmp_path / key)}, BuildInfo(name=key, builder_type="testkit"))
    pids = [manager.processes(key)[0].pid for key in builds]
    assert all(_parent_of(pid) == os.getpid() for pid in pids)
    # The refused server and one process per build were started; the first is gone.
    assert plugin_dir.served() == ["bakehouse-plugin-testkit"] * 3
    assert sorted(run_processes(run_id)) == sorted(pids)


def test_killing_the_fork_server_stops_its_build_processes_and_leaves_nothing(
    manager: PluginManager, plugin_dir: PluginDir, tmp_path: Path, run_id: str
) -> None:
    manager.expect_builds({key: [("provisioner", "testkit-wait")] for key in ("a", "b")})
    marker = tmp_path / "wait.pid"
    waiting = manager.create("provisioner", "testkit-wait", "a")
    waiting.prepare({"marker": str(marker)}, BuildInfo(name="t", builder_type="testkit"))
    manager.create("provisioner", "testkit-wait", "b")
    server = plugin_dir.spawns()[-1][2]
    children = [p.pid for p in manager.processes()]

    def kill_server_when_waiting() -> None:
        deadline = time.monotonic() + 20
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(server, signal.SIGKILL)

    killer = threading.Thread(target=kill_server_when_waiting)
    killer.start()
    # Its children get SIGTERM (PR_SET_PDEATHSIG): they cancel what runs and exit.
    with pytest.raises((PluginError, RemoteError, Cancelled)):
        waiting.provision(RecordingUi(), None, {}, Context())
    killer.join()
    assert wait_until_gone(children, 10) == []
    manager.shutdown()
    assert wait_until_gone(run_processes(run_id), 5) == []


def _children_of(pid: int) -> set[int]:
    try:
        return {int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}
    except OSError:
        return set()


def test_builds_asking_for_their_forks_at_once_each_get_their_own_process(
    manager: PluginManager, plugin_dir: PluginDir, tmp_path: Path, run_id: str
) -> None:
    """Fork requests do not wait for each other's answer: six builds ask at
    the same time, the server answers in order, and each build gets the
    process forked for it (its own, answering, never a sibling's)."""
    builds = [f"build-{i}" for i in range(6)]
    manager.expect_builds({key: [("builder", "testkit")] for key in builds})
    start = threading.Barrier(len(builds))
    errors: list[BaseException] = []

    def create_and_prepare(key: str) -> None:
        try:
            start.wait(10)
            builder = manager.create("builder", "testkit", key)
            builder.prepare({"workdir": str(tmp_path / key)}, BuildInfo(name=key, builder_type="testkit"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=create_and_prepare, args=(key,)) for key in builds]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    server = plugin_dir.spawns()[-1][2]
    pids = [manager.processes(key)[0].pid for key in builds]
    assert len(set(pids)) == len(builds) and server not in pids
    assert _children_of(server) == set(pids)
    for key, pid in zip(builds, pids, strict=True):
        (process,) = manager.processes(key)
        assert process.hello is not None and process.hello.pid == pid  # its handshake came from its own fork
    manager.shutdown()
    assert wait_until_gone([server, *pids], 5) == []


def test_a_fork_that_comes_after_its_request_gave_up_is_killed(
    manager: PluginManager, plugin_dir: PluginDir, tmp_path: Path, run_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fork server is stopped (SIGSTOP) while a build asks for its
    process: the request fails after the timeout, and the process the server
    forks once it runs again is killed and reaped, not left behind."""
    manager.expect_builds({key: [("builder", "testkit")] for key in ("first", "late")})
    manager.create("builder", "testkit", "first")
    server = plugin_dir.spawns()[-1][2]
    (first,) = manager.processes("first")
    os.kill(server, signal.SIGSTOP)
    try:
        monkeypatch.setenv("BAKEHOUSE_PLUGIN_TIMEOUT", "0.5")
        with pytest.raises(PluginError, match="did not fork within 0.5s"):
            manager.create("builder", "testkit", "late")
    finally:
        os.kill(server, signal.SIGCONT)
    deadline = time.monotonic() + 10
    while _children_of(server) != {first.pid} and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _children_of(server) == {first.pid}
    # The core still hears of its other children's exits: the first build's process stops.
    assert first.alive
    releasing = threading.Thread(target=manager.release, args=("first",), daemon=True)
    releasing.start()
    releasing.join(10)
    assert not releasing.is_alive() and first.proc is not None and first.proc.returncode is not None
    manager.shutdown()
    assert wait_until_gone(run_processes(run_id), 5) == []
