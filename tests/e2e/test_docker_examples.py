"""The Docker examples build as their READMEs say: examples/docker-base makes
the base image from busybox (file builder, shell-local, artifice,
docker-import), examples/docker-hello builds the main example on top of it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import docker
import pytest

from tests.fixtures.docker import leftover_temp_dirs, show
from tests.fixtures.processes import run_processes
from tests.support import REPO

pytestmark = pytest.mark.docker


def test_docker_base_then_docker_hello_examples_build_and_run(
    bakehouse, tmp_path: Path, docker_client: docker.DockerClient, docker_resources,
    run_id: str, docker_tmpdir: Path,
) -> None:
    from tests.fixtures.docker import BUSYBOX
    from tests.support import require

    require(bool(BUSYBOX), "Debian's busybox-static")
    # Build copies, so the examples' build/ directories stay out of the source tree.
    for name in ("docker-base", "docker-hello"):
        shutil.copytree(REPO / "examples" / name, tmp_path / name, ignore=shutil.ignore_patterns("build"))
    env = {"BAKEHOUSE_RUN_ID": run_id, "TMPDIR": str(docker_tmpdir)}
    base = f"{docker_resources.name('base')}:test"
    hello = docker_resources.name("hello")
    docker_resources.image(base)
    docker_resources.image(f"{hello}:test")

    result = bakehouse("build", "-var", f"repository={base.split(':')[0]}", "-var", "tag=test",
                       "-var", f"busybox={BUSYBOX}", "docker-base", env=env)
    assert result.returncode == 0, show(result)
    assert f"Imported Docker image: {base}" in result.stdout
    image = docker_client.images.get(base)
    assert image.attrs["Config"]["Cmd"] == ["/bin/sh"]
    assert docker_client.containers.run(base, ["sh", "-c", "id -un; ls /tmp -d"], remove=True) == b"root\n/tmp\n"

    result = bakehouse("build", "-var", f"base_image={base}", "-var", f"repository={hello}", "-var", "tag=test",
                       "docker-hello", env={**env, "BAKEHOUSE_RUN_ID": run_id + "-hello"})
    assert result.returncode == 0, show(result)
    ids = re.findall(r"Imported Docker image: (sha256:[0-9a-f]{64})", result.stdout)
    assert ids, show(result)
    docker_resources.image(ids[0])
    output = docker_client.containers.run(f"{hello}:test", remove=True).decode()
    assert output.startswith("Hello from a Bakehouse-built image (user app, in /srv/www)\n"), output
    assert f"Baked by Bakehouse in container {docker_client.images.get(ids[0]).attrs['Container']}" in output
    page = docker_client.containers.run(f"{hello}:test", ["cat /srv/www/index.html"], remove=True)
    assert b"<h1>Baked by Bakehouse</h1>" in page
    for run in (run_id, run_id + "-hello"):
        assert docker_resources.build_containers(run) == []
        assert run_processes(run) == []
    assert leftover_temp_dirs(docker_tmpdir) == []
