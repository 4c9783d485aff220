"""Fixtures for end-to-end tests that need a machine to provision.

``localdir_plugin`` installs the test plugin ``bakehouse-plugin-localdir``
(``tests/plugins/localdir``, builder ``localdir``) into a directory on
``BAKEHOUSE_PLUGIN_PATH`` for the duration of a test.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

LOCALDIR_SOURCE = Path(__file__).resolve().parents[1] / "plugins" / "localdir" / "localdir_plugin.py"


@pytest.fixture(scope="session")
def localdir_plugin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the ``bakehouse-plugin-localdir`` executable.

    The executable is a launcher with this interpreter in its shebang, so the
    plugin runs with the same ``bakehouse`` package as the tests.
    """
    directory = tmp_path_factory.mktemp("localdir-plugin")
    launcher = directory / "bakehouse-plugin-localdir"
    launcher.write_text(
        f"#!{sys.executable}\n"
        "import runpy\n"
        f"runpy.run_path({str(LOCALDIR_SOURCE)!r}, run_name='__main__')\n",
        encoding="utf-8",
    )
    launcher.chmod(0o755)
    return directory


@pytest.fixture
def localdir_plugin(localdir_plugin_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put ``bakehouse-plugin-localdir`` on ``BAKEHOUSE_PLUGIN_PATH``; return its path."""
    existing = os.environ.get("BAKEHOUSE_PLUGIN_PATH", "")
    monkeypatch.setenv(
        "BAKEHOUSE_PLUGIN_PATH", os.pathsep.join(p for p in (str(localdir_plugin_dir), existing) if p)
    )
    return localdir_plugin_dir / "bakehouse-plugin-localdir"
