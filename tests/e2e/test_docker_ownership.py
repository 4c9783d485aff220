"""End to end: a docker build cleans up only what it created. Real CLI,
real plugin, real engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.docker import show, wait_for_nothing_left, write_template

pytestmark = [pytest.mark.docker]


def test_a_run_command_name_taken_by_another_container_leaves_that_container_alone(
    bakehouse, tmp_path: Path, busybox_image: str, docker_resources, run_id: str,
    cli_env: dict[str, str], docker_tmpdir: Path, docker_client,
) -> None:
    """``--name`` in run_command names a container that exists: the create
    fails with a conflict, and the cleanup must not remove the other container
    (it used to, by the name it had journalled before creating)."""
    name = docker_resources.name("theirs")
    theirs = docker_resources.container(docker_client.api.create_container(
        busybox_image, command=["sleep", "600"], name=name)["Id"])
    write_template(tmp_path, f'''
source "docker" "named" {{
  image       = "@IMAGE@"
  pull        = false
  discard     = true
  run_command = ["-d", "-i", "-t", "--name", "{name}", "--entrypoint=/bin/sh", "--", "{{{{.Image}}}}"]
}}
build {{
  sources = ["source.docker.named"]
}}
''', image=busybox_image)
    result = bakehouse("build", "t.pkr.hcl", env=cli_env)
    output = result.stdout + result.stderr
    assert result.returncode == 1, show(result)
    assert "Conflict" in output or "already in use" in output, show(result)
    assert "Traceback" not in output
    assert docker_client.api.inspect_container(theirs)["Id"] == theirs  # still there
    wait_for_nothing_left(docker_resources, run_id, docker_tmpdir, timeout=10)
