"""Helpers tests import by name (``from tests.support import require``).

They live here rather than in ``conftest.py`` because several directories have
a ``conftest.py`` of their own, and ``from tests.support import ...`` would get
whichever one pytest imported last.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bakehouse.testing import IN_CI, bakehouse_executable, require  # noqa: F401  (re-exported)

REPO = Path(__file__).resolve().parent.parent


def bakehouse_exe() -> str:
    """The installed ``bakehouse`` executable (the venv's, next to this Python)."""
    try:
        return bakehouse_executable()
    except FileNotFoundError:
        pytest.fail("the bakehouse executable is not installed (run scripts/setup)")


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
