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
def _own_bakehouse_home(bakehouse_home: Path) -> Path:
    """Each test gets its own BAKEHOUSE_HOME (journal, describe cache)."""
    return bakehouse_home


@pytest.fixture
def bakehouse(bakehouse_cli):  # type: ignore[no-untyped-def]
    """Run the real ``bakehouse`` CLI: ``bakehouse("build", "t.pkr.hcl", cwd=..., env=...)``."""
    return bakehouse_cli
