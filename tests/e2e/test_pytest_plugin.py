"""The pytest plugin shipped with bakehouse (pytest11 entry point), used the
way a plugin author or template author would: a test file in a directory
outside the repository, run by pytest with none of the repository's fixtures."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.support import IN_CI

USER_TESTS = '''
import io

from bakehouse.sdk import BuildInfo, Context
from bakehouse.testing import FakeCommunicator, FakeUi
from bakehouse_plugin_shell.shell import ShellProvisioner

NULL = """
source "null" "n" {
  communicator = "none"
}
build {
  name    = "demo"
  sources = ["source.null.n"]
}
"""

DOCKER = """
variable "image" { type = string }
source "docker" "d" {
  image  = var.image
  pull   = false
  commit = true
}
build {
  sources = ["source.docker.d"]
  provisioner "shell" {
    inline = ["echo baked > /baked"]
  }
}
"""


def test_unit_with_fakes(bakehouse_fake_ui: FakeUi, bakehouse_fake_communicator: FakeCommunicator) -> None:
    machine = bakehouse_fake_communicator
    machine.results["cat /etc/os-release"] = (0, b"ID=fake\\n", b"")
    prov = ShellProvisioner()
    prov.prepare({"inline": ["cat /etc/os-release"], "remote_path": "/tmp/s.sh"},
                 BuildInfo(name="b", builder_type="null"))
    prov.provision(bakehouse_fake_ui, machine, {}, Context())
    assert machine.files["/tmp/s.sh"].decode().strip().endswith("cat /etc/os-release")
    assert machine.modes["/tmp/s.sh"] == 0o755
    assert any(c.endswith("/tmp/s.sh") for c in machine.commands)
    buffer = io.BytesIO()
    machine.download("/tmp/s.sh", buffer)
    assert buffer.getvalue() == machine.files["/tmp/s.sh"]


def test_null_build(bakehouse_build) -> None:
    result = bakehouse_build(NULL)
    assert result.returncode == 0, result.output + result.stderr
    [artifact] = result.artifacts_of("demo.null.n")
    assert artifact.builder_id == "fnoeding.null"
    assert "Build 'demo.null.n' finished" in result.output


def test_docker_build(bakehouse_build, bakehouse_base_image: str, bakehouse_docker) -> None:
    result = bakehouse_build(DOCKER, vars={"image": bakehouse_base_image})
    assert result.returncode == 0, result.output + result.stderr
    [artifact] = result.artifacts
    assert artifact.builder_id == "packer.post-processor.docker-import"  # Packer's id for a commit
    try:
        out = bakehouse_docker.containers.run(artifact.id, ["/baked"], entrypoint=["cat"], remove=True)
        assert out == b"baked\\n"
    finally:
        bakehouse_docker.images.remove(artifact.id, force=True)
'''


def test_fixtures_work_in_a_project_outside_the_repo(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_user.py").write_text(textwrap.dedent(USER_TESTS))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", str(project)],
        cwd=project, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # without a Docker engine the docker test skips (fails in CI, like ours)
    assert ("3 passed" in result.stdout) or (not IN_CI and "2 passed, 1 skipped" in result.stdout), result.stdout
    assert "tests/fixtures" not in result.stdout
