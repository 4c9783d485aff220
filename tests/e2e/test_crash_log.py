"""The supervisor writes crash.log when the worker crashes.

``BAKEHOUSE_TEST_CRASH`` is a test-only hook of ``bakehouse.cli.main``: ``1``
raises an uncaught exception in the worker, ``signal`` kills it with SIGSEGV.
"""

from __future__ import annotations


def test_crash_log_has_traceback_version_and_redacted_argv(bakehouse, tmp_path):
    (tmp_path / "t.pkr.hcl").write_text(
        'source "null" "x" {}\nbuild { sources = ["source.null.x"] }\n'
    )
    result = bakehouse(
        "build",
        "-var",
        "password=hunter2",
        "--var=token=abc123",
        "t.pkr.hcl",
        cwd=tmp_path,
        env={"BAKEHOUSE_TEST_CRASH": "1"},
    )
    assert result.returncode == 1
    crash_log = tmp_path / "crash.log"
    assert crash_log.exists()
    assert str(crash_log) in result.stderr
    assert "BAKEHOUSE CRASH" in result.stderr
    text = crash_log.read_text()
    assert "Traceback (most recent call last)" in text
    assert "RuntimeError: crash requested by BAKEHOUSE_TEST_CRASH" in text
    from bakehouse import __version__

    assert f"version: {__version__}" in text
    assert "password=<redacted>" in text and "token=<redacted>" in text
    assert "hunter2" not in text and "abc123" not in text
    assert "log lines:" in text and "Bakehouse 0" in text  # the captured log tail


def test_crash_log_when_the_worker_dies_by_a_signal(bakehouse, tmp_path):
    result = bakehouse("version", cwd=tmp_path, env={"BAKEHOUSE_TEST_CRASH": "signal"})
    assert result.returncode == 1
    text = (tmp_path / "crash.log").read_text()
    assert "killed by signal SIGSEGV" in text
    assert "argv: version" in text
    # faulthandler's dump of the worker's stack stands in for the traceback
    assert "Segmentation fault" in text and "in dispatch" in text


def test_no_crash_log_for_user_mistakes(bakehouse, tmp_path):
    (tmp_path / "bad.pkr.hcl").write_text("source {\n")
    result = bakehouse("build", "bad.pkr.hcl", cwd=tmp_path)
    assert result.returncode == 1
    assert not (tmp_path / "crash.log").exists()
    assert "Traceback" not in result.stdout + result.stderr
