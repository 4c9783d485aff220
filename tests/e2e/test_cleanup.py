"""`bakehouse cleanup`: leftovers of runs that died are removed by their plugin.

The main test kills a real build (core, plugins, the command they run) with
SIGKILL while it provisions, so nothing gets to clean up, then runs the real
`bakehouse cleanup`, which asks the localdir plugin to remove the temporary
directory its journal lists.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

from tests.fixtures.processes import kill_9_at_once
from tests.support import bakehouse_exe


def show(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit={result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def all_pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def parent_of(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def descendants(root: int) -> set[int]:
    found = {root}
    changed = True
    while changed:
        changed = False
        for pid in all_pids():
            if pid not in found and parent_of(pid) in found:
                found.add(pid)
                changed = True
    return found


def with_run_id(run_id: str) -> set[int]:
    needle = f"BAKEHOUSE_RUN_ID={run_id}".encode()
    found = set()
    for pid in all_pids():
        try:
            if needle in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                found.add(pid)
        except OSError:
            continue
    return found


def write_entry(home: Path, run_id: str, *, plugin: str, kind: str, resource_id: str,
                core_pid: int | None) -> Path:
    directory = home / "journal" / run_id
    directory.mkdir(parents=True)
    if core_pid is not None:
        (directory / "run.json").write_text(json.dumps({
            "run_id": run_id, "pid": core_pid,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()), "argv": []}))
    entry_id = uuid.uuid4().hex
    (directory / f"{entry_id}.json").write_text(json.dumps({
        "plugin": plugin, "kind": kind, "resource_id": resource_id, "details": {},
        "entry_id": entry_id, "run_id": run_id}))
    return directory


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_cleanup_removes_temp_dir_of_a_build_killed_mid_provision(bakehouse, localdir_plugin: Path,
                                                                   bakehouse_home: Path, tmp_path: Path) -> None:
    (tmp_path / "t.pkr.hcl").write_text("""
source "localdir" "box" {}
build {
  sources = ["source.localdir.box"]
  provisioner "shell" {
    inline        = ["echo machine ready"]
    remote_folder = "."
  }
  provisioner "shell-local" {
    inline = ["touch ${build.Path}/provisioning-started", "sleep 120"]
  }
}
""")
    build = subprocess.Popen([bakehouse_exe(), "build", "t.pkr.hcl"], cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)
    victims: set[int] = set()
    try:
        deadline = time.monotonic() + 90
        leftover: Path | None = None
        while time.monotonic() < deadline:
            assert build.poll() is None, build.stdout.read() if build.stdout else ""
            entries = [json.loads(p.read_text()) for p in (bakehouse_home / "journal").glob("*/*.json")
                       if p.name != "run.json"]
            machines = [e for e in entries if e["kind"] == "localdir-tempdir"]
            if machines and Path(machines[0]["resource_id"], "provisioning-started").exists():
                leftover, run_id = Path(machines[0]["resource_id"]), machines[0]["run_id"]
                # shell-local's temporary script, journalled too.
                [script] = [Path(e["resource_id"]) for e in entries if e["kind"] == "shell-temp-script"]
                break
            time.sleep(0.1)
        assert leftover is not None, "the build never reached its provisioner"
        # Freeze everything first so that no process sees another die and cleans up.
        victims = descendants(build.pid) | with_run_id(run_id)
        # supervisor, worker, two plugins, the provisioner's shell and sleep, the watchdog
        assert len(victims) >= 6, victims
        kill_9_at_once(victims)
        build.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(alive(pid) for pid in victims):
            time.sleep(0.05)
        assert not [pid for pid in victims if alive(pid)]
    finally:
        if build.poll() is None:
            os.killpg(build.pid, signal.SIGKILL)
            build.wait()
        for pid in victims:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)

    assert leftover.is_dir(), "SIGKILL left no chance to clean: the directory must still be there"
    assert script.is_file()

    listed = bakehouse("cleanup", "-dry-run")
    assert listed.returncode == 0, show(listed)
    assert f"would remove localdir-tempdir {leftover} (bakehouse-plugin-localdir)" in listed.stdout, show(listed)
    assert leftover.is_dir()

    result = bakehouse("cleanup")
    assert result.returncode == 0, show(result)
    assert f"removed localdir-tempdir {leftover}" in result.stdout, show(result)
    assert f"removed shell-temp-script {script} (bakehouse-plugin-shell)" in result.stdout, show(result)
    assert not leftover.exists()
    assert not script.exists()
    assert not (bakehouse_home / "journal" / run_id).exists(), "the journal of the cleaned run is dropped"

    again = bakehouse("cleanup")
    assert again.returncode == 0 and "Nothing to clean up." in again.stdout, show(again)


def test_cleanup_leaves_runs_whose_core_is_alive(bakehouse, bakehouse_home: Path, tmp_path: Path) -> None:
    target = tmp_path / "bakehouse-localdir-inuse"
    target.mkdir()
    journal = write_entry(bakehouse_home, "live-run", plugin="bakehouse-plugin-localdir",
                          kind="localdir-tempdir", resource_id=str(target), core_pid=os.getpid())
    result = bakehouse("cleanup")
    assert result.returncode == 0, show(result)
    assert f"Run live-run: skipped, its core (pid {os.getpid()}) is still running." in result.stdout, show(result)
    assert target.is_dir() and len(list(journal.iterdir())) == 2


def test_cleanup_without_run_marker_waits_for_the_grace_period(bakehouse, localdir_plugin: Path,
                                                               bakehouse_home: Path) -> None:
    target = Path(os.environ.get("TMPDIR", "/tmp")) / f"bakehouse-localdir-{uuid.uuid4().hex[:8]}"
    target.mkdir()
    try:
        write_entry(bakehouse_home, "norun-1", plugin="bakehouse-plugin-localdir",
                    kind="localdir-tempdir", resource_id=str(target), core_pid=None)
        result = bakehouse("cleanup")
        assert result.returncode == 0 and "skipped, no run.json" in result.stdout, show(result)
        assert target.is_dir()
        result = bakehouse("cleanup", "-grace=0s")
        assert result.returncode == 0, show(result)
        assert f"removed localdir-tempdir {target}" in result.stdout
        assert not target.exists()
    finally:
        if target.exists():
            target.rmdir()


def test_cleanup_failure_names_the_resource_and_exits_1(bakehouse, localdir_plugin: Path,
                                                        bakehouse_home: Path, tmp_path: Path) -> None:
    journal = write_entry(bakehouse_home, "dead-run", plugin="bakehouse-plugin-missing",
                          kind="widget", resource_id="widget-1234", core_pid=dead_pid())
    # The localdir cleaner refuses what is not one of its directories: an error from the plugin itself.
    write_entry(bakehouse_home, "dead-run-2", plugin="bakehouse-plugin-localdir",
                kind="localdir-tempdir", resource_id=str(tmp_path), core_pid=dead_pid())
    result = bakehouse("cleanup")
    assert result.returncode == 1, show(result)
    assert "failed to remove widget widget-1234 (bakehouse-plugin-missing)" in result.stdout, show(result)
    assert f"failed to remove localdir-tempdir {tmp_path}" in result.stdout, show(result)
    assert "refusing to remove" in result.stdout, show(result)
    assert "Traceback" not in result.stdout + result.stderr
    assert tmp_path.is_dir()
    assert len(list(journal.glob("*.json"))) == 2, "a failed entry stays in the journal for next time"
    machine = bakehouse("cleanup", "-machine-readable", "dead-run")
    assert machine.returncode == 1, show(machine)
    assert ",cleanup-failed,dead-run,widget,widget-1234,plugin bakehouse-plugin-missing" in machine.stdout, show(machine)


def test_cleanup_waits_for_plugins_still_cleaning_up_and_filters_runs(bakehouse, bakehouse_home: Path,
                                                                      tmp_path: Path) -> None:
    target = tmp_path / "bakehouse-localdir-busy"
    target.mkdir()
    write_entry(bakehouse_home, "busy-run", plugin="bakehouse-plugin-localdir",
                kind="localdir-tempdir", resource_id=str(target), core_pid=dead_pid())
    # Stands for a plugin of that run still running its cleanups after the core died.
    straggler = subprocess.Popen(["sleep", "60"], env=dict(os.environ, BAKEHOUSE_RUN_ID="busy-run"))
    try:
        result = bakehouse("cleanup", "busy-run")
        assert result.returncode == 0, show(result)
        assert (f"Run busy-run: skipped, processes of the run are still cleaning up (pids {straggler.pid})"
                in result.stdout), show(result)
        assert target.is_dir()
    finally:
        straggler.kill()
        straggler.wait()
    unknown = bakehouse("cleanup", "no-such-run")
    assert unknown.returncode == 1, show(unknown)
    assert "No journal for run no-such-run" in unknown.stdout, show(unknown)


def test_cleanup_run_with_the_dead_runs_id_in_its_environment_still_cleans(
        bakehouse, localdir_plugin: Path, bakehouse_home: Path, tmp_path: Path) -> None:
    """A cleanup started from a shell (or hook) that still carries the dead run's
    BAKEHOUSE_RUN_ID must not mistake itself for a live process of that run."""
    target = tmp_path / "bakehouse-localdir-inherited"
    target.mkdir()
    write_entry(bakehouse_home, "inherited-run", plugin="bakehouse-plugin-localdir",
                kind="localdir-tempdir", resource_id=str(target), core_pid=dead_pid())
    result = bakehouse("cleanup", "inherited-run", env={"BAKEHOUSE_RUN_ID": "inherited-run"})
    assert result.returncode == 0, show(result)
    assert "still cleaning up" not in result.stdout, show(result)
    assert not target.exists(), show(result)
