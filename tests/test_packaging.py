"""Each package builds a wheel and an sdist on its own, and twine accepts them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
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
        if package == "core":  # data the parser reads at run time
            assert "bakehouse/hcl/_lalr_tables.json" in names
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        assert script in wheel.read(entry_points).decode()
        licenses = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
        assert licenses, "the wheel carries no LICENSE"
        assert wheel.read(licenses[0]) == (REPO / "LICENSE").read_bytes()
        metadata = wheel.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: MPL-2.0" in metadata
    # The project has no public repository or documentation site yet: no URL
    # at all rather than an invented one.
    assert not re.findall(r"^(Project-URL|Home-page|Download-URL): .*$", metadata, re.M)

    with tarfile.open(sdists[0]) as sdist:
        members = sdist.getnames()
    assert any(m.endswith("/LICENSE") and m.count("/") == 1 for m in members), members[:20]

    checked = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, wheels + sdists)],
        capture_output=True, text=True, timeout=120,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_readme_links_work_on_pypi(package: str) -> None:
    """PyPI shows the README alone: a relative link there leads nowhere."""
    text = (REPO / "packages" / package / "README.md").read_text()
    targets = re.findall(r"\]\(([^)]+)\)", text)
    relative = [t for t in targets if not re.match(r"https?://|mailto:|#", t)]
    assert relative == [], relative


def test_every_package_carries_the_workspace_license() -> None:
    license_text = (REPO / "LICENSE").read_text()
    assert "Mozilla Public License Version 2.0" in license_text
    for package in PACKAGES:
        assert (REPO / "packages" / package / "LICENSE").read_text() == license_text, package


def test_package_tests_do_not_import_the_workspace_tests() -> None:
    importing = sorted(
        path.relative_to(REPO).as_posix()
        for package in PACKAGES
        for path in (REPO / "packages" / package / "tests").rglob("*.py")
        if re.search(r"^\s*(from|import) tests[.\s]", path.read_text(encoding="utf-8"), re.M)
    )
    assert importing == []


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_package_tests_run_from_the_sdist_alone(package: str, tmp_path: Path) -> None:
    """Unpacked outside the workspace, a package's sdist carries tests whose
    every fixture resolves (bakehouse's pytest plugin provides the shared ones):
    ``pytest --setup-plan`` fails on an unknown fixture or a failed import."""
    built = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--sdist", "--outdir", str(tmp_path / "dist"),
         str(REPO / "packages" / package)],
        capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    [sdist] = (tmp_path / "dist").glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path / "src", filter="data")
    [unpacked] = (tmp_path / "src").iterdir()
    assert (unpacked / "tests").is_dir()
    planned = subprocess.run(
        [sys.executable, "-m", "pytest", "--setup-plan", "-q", "-p", "no:cacheprovider",
         "-W", "error::pytest.PytestUnknownMarkWarning", "tests"],
        cwd=unpacked, capture_output=True, text=True, timeout=300,
        env={**os.environ, "CI": ""},  # plan only: nothing runs, nothing is required
    )
    assert planned.returncode == 0, planned.stdout[-3000:] + planned.stderr[-2000:]
    assert "SETUP" in planned.stdout or "no tests ran" in planned.stdout, planned.stdout[-500:]
    assert "error" not in planned.stdout.strip().rsplit("\n", 1)[-1].lower(), planned.stdout[-3000:]
    if package == "plugin-shell":  # small and in-process: run them, not only plan them (~10 s)
        ran = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
                             cwd=unpacked, capture_output=True, text=True, timeout=300)
        assert ran.returncode == 0 and " passed" in ran.stdout, ran.stdout[-3000:] + ran.stderr[-2000:]
