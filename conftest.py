"""Fixtures shared by every test directory.

Real dependencies (Docker engine, sshd, moto) are requested through
:func:`require`: outside CI a missing one skips the test, in CI
(``CI=true``) it fails it, so a green CI run always exercised them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = [
    "tests.fixtures.processes",
    "tests.fixtures.docker",
    "tests.fixtures.aws",
]

REPO = Path(__file__).resolve().parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(condition: bool, what: str) -> None:
    """Fail in CI, skip elsewhere, when a real dependency is missing."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{what} is required in CI but is not available", pytrace=False)
    pytest.skip(f"{what} is not available")


@pytest.fixture(autouse=True)
def bakehouse_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own BAKEHOUSE_HOME (journal, describe cache)."""
    home = tmp_path_factory.mktemp("bakehouse-home")
    monkeypatch.setenv("BAKEHOUSE_HOME", str(home))
    return home


def bakehouse_exe() -> str:
    exe = Path(sys.executable).parent / "bakehouse"
    if exe.exists():
        return str(exe)
    found = shutil.which("bakehouse")
    if not found:
        pytest.fail("the bakehouse executable is not installed (run scripts/setup)")
    return found


@pytest.fixture
def bakehouse(tmp_path: Path):
    """Run the real ``bakehouse`` CLI: ``bakehouse("build", "t.pkr.hcl", cwd=..., env=...)``."""

    def run(*args: str, cwd: Path | str | None = None, env: dict[str, str] | None = None,
            timeout: float = 300, input: str | None = None) -> subprocess.CompletedProcess[str]:
        full_env = dict(os.environ)
        full_env.update(env or {})
        return subprocess.run(
            [bakehouse_exe(), *args],
            cwd=str(cwd or tmp_path),
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
        )

    return run
