"""docs/plugins.md's worked example, exactly as printed there: the plugin code and
the template are extracted from the page, installed, and built with the real CLI."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def install_motd_plugin(directory: Path) -> Path:
    source = code_blocks("python")[0]
    assert source.startswith("#!/usr/bin/env python3\n")
    executable = directory / "bakehouse-plugin-motd"
    # This interpreter instead of `env python3`: it is the one with bakehouse installed.
    executable.write_text(f"#!{sys.executable}\n" + source.split("\n", 1)[1], encoding="utf-8")
    executable.chmod(0o755)
    return executable


def show(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit={result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


def test_documented_plugin_is_about_30_lines() -> None:
    assert len(code_blocks("python")[0].splitlines()) <= 35


def test_documented_plugin_builds_the_documented_template(bakehouse, localdir_plugin: Path,
                                                          tmp_path: Path, monkeypatch) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    install_motd_plugin(plugins)
    monkeypatch.setenv("BAKEHOUSE_PLUGIN_PATH", f"{plugins}:{localdir_plugin.parent}")
    (tmp_path / "motd.pkr.hcl").write_text(code_blocks("hcl")[0], encoding="utf-8")

    installed = bakehouse("plugins", "installed")
    assert "bakehouse-plugin-motd" in installed.stdout, show(installed)

    result = bakehouse("build", "motd.pkr.hcl")
    assert result.returncode == 0, show(result)
    assert "==> localdir.box: Writing motd.txt" in result.stdout
    motd = (tmp_path / "result" / "motd.txt").read_text().splitlines()
    assert motd[0] == "Baked by BAKEHOUSE"
    assert re.fullmatch(r"built by box \(bakehouse-localdir-\w+\)", motd[1]), motd


def test_documented_plugin_config_mistake_points_at_the_template(bakehouse, localdir_plugin: Path,
                                                                 tmp_path: Path, monkeypatch) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    install_motd_plugin(plugins)
    monkeypatch.setenv("BAKEHOUSE_PLUGIN_PATH", f"{plugins}:{localdir_plugin.parent}")
    template = code_blocks("hcl")[0].replace('    message = "Baked by ${upper("bakehouse")}"\n', "")
    (tmp_path / "motd.pkr.hcl").write_text(template, encoding="utf-8")
    result = bakehouse("build", "motd.pkr.hcl")
    assert result.returncode == 1, show(result)
    assert "'message' is required" in result.stdout, show(result)
    assert "motd.pkr.hcl line" in result.stdout, show(result)
    assert "Traceback" not in result.stdout + result.stderr
