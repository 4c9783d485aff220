"""Helpers tests import by name (``from tests.support import require``).

They live here rather than in ``conftest.py`` because several directories have
a ``conftest.py`` of their own, and ``from tests.support import ...`` would get
whichever one pytest imported last.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(condition: bool, what: str) -> None:
    """Fail in CI, skip elsewhere, when a real dependency is missing."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{what} is required in CI but is not available", pytrace=False)
    pytest.skip(f"{what} is not available")


def bakehouse_exe() -> str:
    """The installed ``bakehouse`` executable (the venv's, next to this Python)."""
    exe = Path(sys.executable).parent / "bakehouse"
    if exe.exists():
        return str(exe)
    found = shutil.which("bakehouse")
    if not found:
        pytest.fail("the bakehouse executable is not installed (run scripts/setup)")
    return found


def python_without_plugins(directory: Path) -> str:
    """A venv interpreter that imports the installed packages but whose
    ``bin/`` holds no plugin executable: discovery finds built-ins only, as on
    a machine where only the core distribution is installed."""
    import site
    import venv

    venv.EnvBuilder(with_pip=False).create(directory)
    python = directory / "bin" / "python"
    site_packages = next((directory / "lib").glob("python3*/site-packages"))
    ours = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (site_packages / "_bakehouse_installed.pth").write_text(
        "".join(f"import site; site.addsitedir({p!r})\n" for p in ours)
    )
    return str(python)
