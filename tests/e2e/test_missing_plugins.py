"""A template naming a component nobody provides gets told what to do:
the distribution to install for an official type, "did you mean" for a typo."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support import python_without_plugins

TEMPLATE = """
source "null" "n" {
  communicator = "none"
}
build {
  sources = ["source.null.n"]
  provisioner "%s" {
    inline = ["true"]
  }
}
"""


def test_a_typo_is_an_unknown_type_with_a_suggestion(bakehouse, tmp_path: Path) -> None:
    (tmp_path / "t.pkr.hcl").write_text(TEMPLATE % "shel")
    result = bakehouse("build", "t.pkr.hcl")
    assert result.returncode == 1
    assert "Unknown provisioner type 'shel'" in result.stderr + result.stdout
    assert "Did you mean 'shell'?" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_a_builder_typo_is_an_unknown_builder_type_not_a_failed_start(bakehouse, tmp_path: Path) -> None:
    (tmp_path / "t.pkr.hcl").write_text(TEMPLATE.replace('"null"', '"dokcer"').replace(".null.", ".dokcer.") % "shell")
    result = bakehouse("build", "t.pkr.hcl")
    assert result.returncode == 1
    assert "Error: Unknown builder type 'dokcer' in build 'dokcer.n'" in result.stdout, result.stdout
    assert "unknown builder type 'dokcer'. Did you mean 'docker'?" in result.stdout
    assert "t.pkr.hcl line 2" in result.stdout
    assert "Failed to start" not in result.stdout and "Traceback" not in result.stderr


def _build_without_plugins(python: str, directory: Path) -> subprocess.CompletedProcess[str]:
    """``bakehouse build t.pkr.hcl`` with ``python``, no plugin path set."""
    env = dict(os.environ, BAKEHOUSE_PLUGIN_PATH="", PACKER_PLUGIN_PATH="")
    return subprocess.run(
        [python, "-m", "bakehouse.cli.main", "build", "t.pkr.hcl"],
        cwd=directory, env=env, capture_output=True, text=True, timeout=120,
    )


def test_an_official_type_that_is_not_installed_names_its_distribution(tmp_path: Path) -> None:
    python = python_without_plugins(tmp_path / "venv")
    (tmp_path / "t.pkr.hcl").write_text(TEMPLATE % "shell")
    result = _build_without_plugins(python, tmp_path)
    out = result.stderr + result.stdout
    assert result.returncode == 1, out
    assert "Missing plugin for provisioner \"shell\"" in out
    assert '"pip install bakehouse-plugin-shell"' in out
    assert "bakehouse init" in out
    assert "t.pkr.hcl line 7" in out
    assert "Traceback" not in result.stderr


def test_a_plugin_whose_describe_fails_is_named_not_dropped_silently(bakehouse, tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    broken = plugins / "bakehouse-plugin-broken"
    broken.write_text("#!/bin/sh\necho 'cannot import motd' >&2\nexit 3\n")
    broken.chmod(0o755)
    env = {"BAKEHOUSE_PLUGIN_PATH": str(plugins)}

    listed = bakehouse("plugins", "installed", env=env)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert f"Warning: plugin {broken}: describe failed (exit status 3): cannot import motd" in listed.stdout

    (tmp_path / "t.pkr.hcl").write_text(TEMPLATE % "motd")
    built = bakehouse("build", "t.pkr.hcl", env=env)
    assert built.returncode == 1
    assert "unknown provisioner type 'motd'" in built.stdout
    assert f"Plugins that could not be used: plugin {broken}: describe failed" in built.stdout


def test_aws_secretsmanager_without_the_aws_plugin_says_what_to_install(tmp_path: Path) -> None:
    """The function reads secrets through the aws plugin's data source: the core has no boto3."""
    python = python_without_plugins(tmp_path / "venv")
    (tmp_path / "t.pkr.hcl").write_text(
        'locals {\n  password = aws_secretsmanager("app/db", "password")\n}\n' + TEMPLATE % "shell-local")
    result = _build_without_plugins(python, tmp_path)
    out = result.stderr + result.stdout
    assert result.returncode == 1, out
    assert "t.pkr.hcl line 2" in out
    assert "aws_secretsmanager('app/db') reads the secret through the amazon-secretsmanager data source" in out
    assert '"pip install bakehouse-plugin-aws"' in out
    assert "Traceback" not in result.stderr
