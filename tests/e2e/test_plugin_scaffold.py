"""``bakehouse plugins new NAME`` writes a package that installs, passes its own
tests, and whose provisioner works in a real docker build."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import bakehouse_exe, python_without_plugins

TEMPLATE = """
source "docker" "box" {
  image   = "%s"
  pull    = false
  discard = true
}
build {
  sources = ["source.docker.box"]
  provisioner "hello-world" {
    command = "echo made by $(basename /bin/busybox)"
  }
}
"""


def run(command: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "BAKEHOUSE_PLUGIN_PATH")}
    full.update(env)
    return subprocess.run(command, cwd=cwd, env=full, capture_output=True, text=True, timeout=300)


@pytest.mark.docker
def test_new_plugin_installs_tests_green_and_builds(bakehouse, busybox_image: str, tmp_path: Path) -> None:
    created = bakehouse("plugins", "new", "hello-world", cwd=tmp_path)
    assert created.returncode == 0, created.stdout + created.stderr
    project = tmp_path / "bakehouse-plugin-hello-world"
    assert sorted(p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()) == [
        "README.md",
        "pyproject.toml",
        "src/bakehouse_plugin_hello_world/__init__.py",
        "src/bakehouse_plugin_hello_world/provisioner.py",
        "tests/test_bakehouse_plugin_hello_world.py",
    ]
    # the README is the package's PyPI page: no link to a page that may not exist
    assert "](" not in (project / "README.md").read_text()

    python = python_without_plugins(tmp_path / "venv")
    installed = run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                     "--no-index", str(project)], tmp_path)
    assert installed.returncode == 0, installed.stderr
    tested = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], project)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "3 passed" in tested.stdout

    # The new plugin sits next to the venv's python; the docker plugin comes from
    # BAKEHOUSE_PLUGIN_PATH (where the workspace installed it).
    docker_plugin = shutil.which("bakehouse-plugin-docker", path=str(Path(python).parent))
    plugin_dirs = os.path.dirname(bakehouse_exe())
    (tmp_path / "t.pkr.hcl").write_text(TEMPLATE % busybox_image)
    built = run([python, "-m", "bakehouse.cli.main", "build", "t.pkr.hcl"], tmp_path,
                BAKEHOUSE_PLUGIN_PATH=plugin_dirs, BAKEHOUSE_HOME=str(tmp_path / "home"))
    assert docker_plugin is None  # the fresh venv holds only the new plugin
    assert built.returncode == 0, built.stdout + built.stderr
    assert "Running: echo made by" in built.stdout
    assert "made by busybox" in built.stdout


def test_new_refuses_a_bad_name_and_an_existing_directory(bakehouse, tmp_path: Path) -> None:
    bad = bakehouse("plugins", "new", "Bad_Name", cwd=tmp_path)
    assert bad.returncode == 1 and "invalid plugin name 'Bad_Name'" in bad.stdout
    assert bakehouse("plugins", "new", "ok", cwd=tmp_path).returncode == 0
    again = bakehouse("plugins", "new", "ok", cwd=tmp_path)
    assert again.returncode == 1 and "already exists" in again.stdout
