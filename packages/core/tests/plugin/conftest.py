"""Plugin-layer tests: start each test with the installed plugins already
described (each describe is a Python start-up), so only the executables a
test creates are described by the test itself."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _seed_describe_cache(bakehouse_home: Path, bakehouse_describe_cache: Path) -> None:
    if bakehouse_describe_cache.exists():
        shutil.copy(bakehouse_describe_cache, bakehouse_home / "describe-cache.json")
