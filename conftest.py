"""Fixtures shared by every test directory.

Real dependencies (Docker engine, sshd, moto) are requested through
:func:`require`: outside CI a missing one skips the test, in CI
(``CI=true``) it fails it, so a green CI run always exercised them.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

pytest_plugins = [
    "tests.fixtures.processes",
    "tests.fixtures.docker",
    "tests.fixtures.aws",
]

from tests.support import IN_CI, REPO, bakehouse_exe, require  # noqa: F401  (re-exported)


@pytest.fixture(autouse=True)
def bakehouse_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own BAKEHOUSE_HOME (journal, describe cache)."""
    home = tmp_path_factory.mktemp("bakehouse-home")
    monkeypatch.setenv("BAKEHOUSE_HOME", str(home))
    return home


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
