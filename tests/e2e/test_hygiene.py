"""Process hygiene: whatever happens to a run, nothing it started stays alive.

Every process of a run carries ``BAKEHOUSE_RUN_ID`` in its environment (the
core sets it before plugins start; their children inherit it), so the test
gives each run its own id and looks for it in ``/proc/*/environ`` afterwards.
The builder runs in the ``bakehouse-plugin-localdir`` test plugin process and
``shell-local`` in the shell plugin's, so each run has at least two plugin
processes and a shell grandchild.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from tests.fixtures.processes import pid_alive, run_processes, wait_until_gone
from tests.support import bakehouse_exe

TEMPLATE = """
source "localdir" "work" {}

build {
  sources = ["source.localdir.work"]

  provisioner "shell-local" {
    inline = [%s]
  }
}
"""


def start_build(tmp_path: Path, inline: str, run_id: str,
                tmpdir: Path | None = None) -> subprocess.Popen[str]:
    (tmp_path / "t.pkr.hcl").write_text(textwrap.dedent(TEMPLATE % inline), encoding="utf-8")
    env = dict(os.environ, BAKEHOUSE_RUN_ID=run_id)
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    # A new session: the test can signal the whole group the way a terminal does on Ctrl-C.
    return subprocess.Popen(
        [bakehouse_exe(), "build", "t.pkr.hcl"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def new_run_id() -> str:
    return "hygiene-" + uuid.uuid4().hex[:12]


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def assert_nothing_left(run_id: str, bakehouse_home: Path) -> None:
    leftovers = wait_until_gone(run_processes(run_id), timeout=5)
    assert leftovers == [], [cmdline(pid) for pid in leftovers]
    journal = bakehouse_home / "journal" / run_id
    assert not journal.exists() or not [p for p in journal.iterdir() if p.name != "run.json"]


def test_no_process_left_after_a_successful_build(tmp_path, localdir_plugin, bakehouse_home):
    run_id = new_run_id()
    proc = start_build(tmp_path, '"echo ok > done.txt"', run_id)
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, out + err
    assert (tmp_path / "done.txt").read_text() == "ok\n"
    assert_nothing_left(run_id, bakehouse_home)
    assert not (bakehouse_home / "journal" / run_id).exists()


def test_no_process_left_after_a_failed_build(tmp_path, localdir_plugin, bakehouse_home):
    run_id = new_run_id()
    proc = start_build(tmp_path, '"exit 7"', run_id)
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 1, out + err
    assert "errored after" in out
    assert "Removed temporary directory" in out
    assert_nothing_left(run_id, bakehouse_home)


def test_no_process_left_after_sigint_mid_build(tmp_path, localdir_plugin, bakehouse_home):
    run_id = new_run_id()
    proc = start_build(tmp_path, '"touch started", "sleep 60"', run_id)
    try:
        wait_for(lambda: (tmp_path / "started").exists(), 120, "the provisioner to start")
        # "started" exists a moment before the shell execs the sleep.
        wait_for(lambda: any("sleep 60" in cmdline(pid) for pid in run_processes(run_id)), 10,
                 "the provisioner's sleep to run")
        started = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, out + err
    assert time.monotonic() - started < 30
    assert "Cancelling build after receiving interrupt" in out
    assert "Cleanly cancelled builds after being interrupted." in out
    assert "Removed temporary directory" in out
    assert not (tmp_path / "crash.log").exists()
    assert_nothing_left(run_id, bakehouse_home)


def test_no_process_left_when_a_plugin_is_killed_mid_build(
    tmp_path, localdir_plugin, bakehouse_home
):
    run_id = new_run_id()
    proc = start_build(tmp_path, '"touch started", "sleep 60"', run_id)
    try:
        wait_for(lambda: (tmp_path / "started").exists(), 120, "the provisioner to start")
        shell_plugins = [p for p in run_processes(run_id) if "bakehouse-plugin-shell" in cmdline(p)]
        assert len(shell_plugins) == 1, [cmdline(p) for p in run_processes(run_id)]
        os.kill(shell_plugins[0], signal.SIGKILL)
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, out + err
    assert "bakehouse-plugin-shell" in out, out
    assert "Build 'localdir.work' errored after" in out
    assert "Removed temporary directory" in out
    assert not pid_alive(shell_plugins[0])
    assert_nothing_left(run_id, bakehouse_home)


def test_leftovers_of_a_killed_builder_plugin_are_removed_at_the_end_of_the_run(
    tmp_path, localdir_plugin, bakehouse_home
):
    """The builder plugin dies (SIGKILL) before it can remove its temporary
    directory: the core removes it at the end of the run through a fresh process
    of the same plugin, so nothing waits for `bakehouse cleanup`."""
    run_id = new_run_id()
    journal = bakehouse_home / "journal" / run_id
    proc = start_build(tmp_path, '"touch started", "sleep 60"', run_id)
    try:
        wait_for(lambda: (tmp_path / "started").exists(), 120, "the provisioner to start")
        entries = [json.loads(p.read_text()) for p in journal.glob("*.json") if p.name != "run.json"]
        tempdirs = [Path(e["resource_id"]) for e in entries if e["kind"] == "localdir-tempdir"]
        assert len(tempdirs) == 1 and tempdirs[0].is_dir(), entries
        builders = [p for p in run_processes(run_id) if "bakehouse-plugin-localdir" in cmdline(p)]
        assert len(builders) == 1, [cmdline(p) for p in run_processes(run_id)]
        os.kill(builders[0], signal.SIGKILL)
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, out + err
    assert "bakehouse-plugin-localdir" in out and "errored after" in out, out
    assert "left by plugins that died" in out, out
    assert f"removed localdir-tempdir {tempdirs[0]}" in out, out
    assert not tempdirs[0].exists()
    assert_nothing_left(run_id, bakehouse_home)
    assert not journal.exists()


def test_on_error_abort_keeps_temporary_resources_until_cleanup(
    tmp_path, localdir_plugin, bakehouse_home
):
    """-on-error=abort reaches the builder: its temporary directory stays (journalled),
    no process stays, and `bakehouse cleanup` removes what the journal lists."""
    import re

    run_id = new_run_id()
    (tmp_path / "t.pkr.hcl").write_text(textwrap.dedent(TEMPLATE % '"exit 9"'), encoding="utf-8")
    proc = subprocess.run(
        [bakehouse_exe(), "build", "-on-error=abort", "t.pkr.hcl"],
        cwd=tmp_path,
        env=dict(os.environ, BAKEHOUSE_RUN_ID=run_id),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    created = re.search(r"Created temporary directory (\S+)", proc.stdout)
    assert created, proc.stdout
    kept = Path(created.group(1))
    try:
        assert kept.is_dir()
        assert "Removed temporary directory" not in proc.stdout
        assert "aborted: skipping cleanup" in proc.stdout
        leftovers = wait_until_gone(run_processes(run_id), timeout=5)
        assert leftovers == [], [cmdline(pid) for pid in leftovers]
        journal = bakehouse_home / "journal" / run_id
        assert [p.name for p in journal.iterdir() if p.name != "run.json"], (
            "the resource is journalled"
        )
        cleanup = subprocess.run(
            [bakehouse_exe(), "cleanup", run_id],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr
        assert not kept.exists()
    finally:
        import shutil

        shutil.rmtree(kept, ignore_errors=True)


def worker_of(supervisor: int) -> int:
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def test_sigkill_of_the_supervisor_stops_the_build_and_cleanup_removes_its_temp_dir(
    tmp_path, localdir_plugin, bakehouse_home, bakehouse
):
    """kill -9 of the `bakehouse` pid: the worker must not carry on unsupervised.
    It is cancelled (its provisioner never reaches the next step), its plugins
    stop and clean up, and `bakehouse cleanup` removes the supervisor's
    `bakehouse-run-*` directory that SIGKILL left behind."""
    run_id = new_run_id()
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    proc = start_build(tmp_path, '"touch started", "sleep 4", "touch too-late"', run_id, tmpdir)
    try:
        wait_for(lambda: (tmp_path / "started").exists(), 120, "the provisioner to start")
        worker = worker_of(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        wait_for(lambda: not pid_alive(worker), 30, "the orphaned worker to stop")
    finally:
        if proc.poll() is None:
            proc.kill()
    assert_nothing_left(run_id, bakehouse_home)
    time.sleep(4.5)  # past the moment the provisioner would have gone on
    assert not (tmp_path / "too-late").exists(), "the build went on after its supervisor died"
    # The worker removes the dead supervisor's directory on its way out; a
    # SIGKILL of both would leave it to `bakehouse cleanup`.
    assert [p.name for p in tmpdir.iterdir() if p.name.startswith("bakehouse-run-")] == []


def test_cleanup_removes_the_temp_dir_of_a_supervisor_killed_with_its_worker(
    tmp_path, localdir_plugin, bakehouse_home, bakehouse
):
    run_id = new_run_id()
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    proc = start_build(tmp_path, '"touch started", "sleep 60"', run_id, tmpdir)
    try:
        wait_for(lambda: (tmp_path / "started").exists(), 120, "the provisioner to start")
        os.killpg(proc.pid, signal.SIGKILL)  # everything at once: nobody can clean up
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    wait_until_gone(run_processes(run_id), timeout=10)
    (left,) = [p for p in tmpdir.iterdir() if p.name.startswith("bakehouse-run-")]
    # A directory of a live supervisor, one that only looks like ours, a link
    # to a dead supervisor's directory and one without our prefix stay, even
    # when a (hand-written) journal of a dead run names them.
    foreign = tmpdir / "bakehouse-run-notours"
    foreign.mkdir()
    (foreign / "supervisor").write_text(f"{os.getpid()} {time.time():.3f}\n")
    lookalike = tmpdir / "bakehouse-run-nomarker"
    lookalike.mkdir()
    victim = tmp_path / "precious"
    victim.mkdir()
    (victim / "supervisor").write_text("999999999 1.000\n")
    link = tmpdir / "bakehouse-run-link"
    link.symlink_to(victim)
    for number, path in enumerate((foreign, lookalike, victim, link)):
        forged = bakehouse_home / "journal" / f"forged-{number}"
        forged.mkdir(parents=True)
        (forged / "run.json").write_text(json.dumps(
            {"run_id": forged.name, "pid": 999999999, "started": "2026-01-01T00:00:00+00:00",
             "argv": [], "supervisor_dir": str(path)}))
    # The run's journal names its supervisor directory: cleanup finds it
    # even with another TMPDIR.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = bakehouse("cleanup", env={"TMPDIR": str(elsewhere)}, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"removed temporary directory {left}" in result.stdout, result.stdout
    assert not left.exists()
    assert foreign.is_dir() and lookalike.is_dir() and victim.is_dir() and link.is_symlink()
    # Scanning the temporary directory itself spares them too.
    result = bakehouse("cleanup", env={"TMPDIR": str(tmpdir)}, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "removed temporary directory" not in result.stdout, result.stdout
    assert foreign.is_dir() and lookalike.is_dir() and victim.is_dir() and link.is_symlink()


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGHUP])
def test_a_worker_killed_by_a_signal_is_reported_as_a_kill_not_a_bug(
    tmp_path, localdir_plugin, bakehouse_home, signum
):
    run_id = new_run_id()
    proc = start_build(tmp_path, '"touch started", "sleep 60"', run_id)
    try:
        wait_for(lambda: (tmp_path / "started").exists(), 120, "the provisioner to start")
        os.kill(worker_of(proc.pid), signum)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1
    assert f"killed by signal {signal.Signals(signum).name}" in err, err
    assert "always a bug" not in err
    assert "bakehouse cleanup" in err
    log_path = err.split("The last log lines are in ", 1)[1].strip()
    assert Path(log_path).is_file(), err
    # Its plugins follow the worker (PDEATHSIG), and the journal lets cleanup finish.
    assert wait_until_gone(run_processes(run_id), timeout=10) == []
