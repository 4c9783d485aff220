"""Each package builds a wheel and an sdist on its own, and twine accepts them."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = {
    "core": ("bakehouse", "bakehouse"),
    "plugin-shell": ("bakehouse_plugin_shell", "bakehouse-plugin-shell"),
    "plugin-docker": ("bakehouse_plugin_docker", "bakehouse-plugin-docker"),
    "plugin-aws": ("bakehouse_plugin_aws", "bakehouse-plugin-aws"),
}


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_package_builds_wheel_and_sdist_that_twine_accepts(package: str, tmp_path: Path) -> None:
    module, script = PACKAGES[package]
    out = tmp_path / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out),
         str(REPO / "packages" / package)],
        capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    wheels = list(out.glob("*.whl"))
    sdists = list(out.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, list(out.iterdir())

    with zipfile.ZipFile(wheels[0]) as wheel:
        names = wheel.namelist()
        assert any(n.startswith(f"{module}/") for n in names), names[:20]
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        assert script in wheel.read(entry_points).decode()

    checked = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, wheels + sdists)],
        capture_output=True, text=True, timeout=120,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
