"""docs/plugins.md's examples, exactly as printed there, run the way a reader
would: in an empty directory outside the repository, with no test helper.

- the plugin script on BAKEHOUSE_PLUGIN_PATH, and the template built with the
  real CLI and the Docker plugin (image given with -var, as the page says);
- the packaging snippet plus the plugin as a package, pip-installed into a
  fresh venv, whose executable describes itself;
- the page's unit test, run by pytest in that package with the fixtures of the
  pytest plugin only.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.support import REPO, python_without_plugins

DOC = REPO / "docs" / "plugins.md"
pytestmark = pytest.mark.docker


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def plugin_source() -> str:
    source = code_blocks("python")[0]
    assert source.startswith("#!/usr/bin/env python3\n")
    return source.split("\n", 1)[1]


def install_motd_script(directory: Path) -> Path:
    executable = directory / "bakehouse-plugin-motd"
    # This interpreter instead of `env python3`: it is the one with bakehouse installed.
    executable.write_text(f"#!{sys.executable}\n" + plugin_source(), encoding="utf-8")
    executable.chmod(0o755)
    return executable


def show(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit={result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "BAKEHOUSE_PLUGIN_PATH")}
    env.update(extra)
    return env


def test_documented_plugin_is_about_30_lines() -> None:
    assert len(code_blocks("python")[0].splitlines()) <= 35


def test_documented_plugin_builds_the_documented_template(bakehouse, busybox_image: str,
                                                          tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    install_motd_script(work)
    (work / "motd.pkr.hcl").write_text(code_blocks("hcl")[0], encoding="utf-8")
    env = clean_env(BAKEHOUSE_PLUGIN_PATH=str(work))

    installed = bakehouse("plugins", "installed", cwd=work, env=env)
    assert "bakehouse-plugin-motd" in installed.stdout, show(installed)

    result = bakehouse("build", "-var", f"image={busybox_image}", "motd.pkr.hcl", cwd=work, env=env)
    assert result.returncode == 0, show(result)
    assert "==> docker.box: Writing /etc/motd" in result.stdout
    with tarfile.open(work / "box.tar") as tar:
        member = tar.extractfile("etc/motd")
        assert member is not None
        motd = member.read().decode().splitlines()
    assert motd[0] == "Baked by BAKEHOUSE"
    assert re.fullmatch(r"built by box \([0-9a-f]{12,64}\)", motd[1]), motd


def test_documented_plugin_config_mistake_points_at_the_template(bakehouse, tmp_path: Path) -> None:
    install_motd_script(tmp_path)
    template = code_blocks("hcl")[0].replace('    message = "Baked by ${upper("bakehouse")}"\n', "")
    (tmp_path / "motd.pkr.hcl").write_text(template, encoding="utf-8")
    result = bakehouse("validate", "motd.pkr.hcl", env=clean_env(BAKEHOUSE_PLUGIN_PATH=str(tmp_path)))
    assert result.returncode == 1, show(result)
    assert "'message' is required" in result.stdout, show(result)
    assert "motd.pkr.hcl line" in result.stdout, show(result)
    assert "Traceback" not in result.stdout + result.stderr


def test_documented_packaging_installs_and_the_documented_unit_test_passes(tmp_path: Path) -> None:
    project = tmp_path / "bakehouse-plugin-motd"
    (project / "bakehouse_plugin_motd").mkdir(parents=True)
    [pyproject] = code_blocks("toml")
    assert pyproject.startswith("[build-system]")
    (project / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    (project / "bakehouse_plugin_motd" / "__init__.py").write_text(plugin_source(), encoding="utf-8")
    (project / "tests").mkdir()
    (project / "tests" / "test_motd.py").write_text(code_blocks("python")[1], encoding="utf-8")

    python = python_without_plugins(tmp_path / "venv")
    env = clean_env()
    installed = subprocess.run(
        [python, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "-q", str(project)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert installed.returncode == 0, show(installed)
    executable = tmp_path / "venv" / "bin" / "bakehouse-plugin-motd"
    described = subprocess.run([str(executable), "describe"], env=env, capture_output=True, text=True, timeout=60)
    assert described.returncode == 0, show(described)
    assert '"motd"' in described.stdout

    # The page's unit test, from the package directory, with only the pytest plugin's fixtures.
    tested = subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=project, env=env, capture_output=True, text=True, timeout=300,
    )
    assert tested.returncode == 0, show(tested)
    assert "1 passed" in tested.stdout
