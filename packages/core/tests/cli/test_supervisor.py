"""The supervisor process: SIGTERM forwarding, Ctrl-C ownership, logging to stderr/file."""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
import time

from bakehouse.testing import bakehouse_executable as bakehouse_exe

SLEEPING = textwrap.dedent(
    """
    source "null" "nap" {}
    build {
      sources = ["source.null.nap"]
      provisioner "shell-local" {
        inline = ["touch started", "sleep 60"]
      }
    }
    """
)


def test_sigterm_to_the_supervisor_cancels_the_build_cleanly(tmp_path):
    (tmp_path / "t.pkr.hcl").write_text(SLEEPING)
    proc = subprocess.Popen(
        [bakehouse_exe(), "build", "t.pkr.hcl"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "started").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (tmp_path / "started").exists(), "the build never reached its provisioner"
        started = time.monotonic()
        os.kill(proc.pid, signal.SIGTERM)  # the supervisor only, as a service manager would
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, out + err
    assert time.monotonic() - started < 10
    assert "Cancelling build after receiving terminated" in out
    assert "Cleanly cancelled builds after being interrupted." in out
    assert not (tmp_path / "crash.log").exists()


def test_bakehouse_log_to_stderr_and_log_path_to_file(bakehouse_cli, tmp_path):
    quiet = bakehouse_cli("version", cwd=tmp_path)
    assert quiet.stderr == ""
    loud = bakehouse_cli("version", cwd=tmp_path, env={"BAKEHOUSE_LOG": "1"})
    assert "[DEBUG] bakehouse: Bakehouse" in loud.stderr
    log_file = tmp_path / "run.log"
    to_file = bakehouse_cli("version", cwd=tmp_path, env={"BAKEHOUSE_LOG_PATH": str(log_file)})
    assert to_file.stderr == ""
    assert "[DEBUG] bakehouse: Bakehouse" in log_file.read_text()
