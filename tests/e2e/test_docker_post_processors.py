"""Docker post-processor chains end to end: docker-tag, docker-save,
docker-import and docker-push (to a real local registry, then pulled back by a
second build with pull = true)."""

from __future__ import annotations

import json
import re
import tarfile
import urllib.request
import uuid
from pathlib import Path

import docker
import pytest

from tests.fixtures.docker import leftover_temp_dirs, show, write_template
from tests.fixtures.processes import run_processes

pytestmark = pytest.mark.docker



def built_image_ids(output: str) -> list[str]:
    return re.findall(r"Imported Docker image: (sha256:[0-9a-f]{64})", output)


def test_docker_tag_then_docker_save_chain(
    bakehouse, tmp_path: Path, docker_client: docker.DockerClient, busybox_image: str, docker_resources,
    run_id: str, cli_env: dict[str, str], docker_tmpdir: Path,
) -> None:
    repository = docker_resources.name("saved")
    for tag in ("1.0", "stable"):
        docker_resources.image(f"{repository}:{tag}")
    write_template(tmp_path, '''
source "docker" "app" {
  image  = "@IMAGE@"
  pull   = false
  commit = true
}
build {
  sources = ["source.docker.app"]
  provisioner "shell" {
    inline = ["echo saved > /marker"]
  }
  post-processors {
    post-processor "docker-tag" {
      repository          = "@REPOSITORY@"
      tags                = ["1.0", "stable"]
      keep_input_artifact = false
    }
    post-processor "docker-save" {
      path = "out/image.tar"
    }
  }
}
''', image=busybox_image, repository=repository)
    result = bakehouse("build", "t.pkr.hcl", env=cli_env)
    assert result.returncode == 0, show(result)
    ids = built_image_ids(result.stdout)
    assert ids, show(result)
    docker_resources.image(ids[0])
    # docker-tag forces keeping its input: the committed image survives keep_input_artifact = false.
    assert docker_client.images.get(ids[0]).id == ids[0]
    assert f"Imported Docker image: {repository}:stable" in result.stdout
    assert docker_client.images.get(f"{repository}:1.0").id == ids[0]
    with tarfile.open(tmp_path / "out" / "image.tar") as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest[0]["RepoTags"] == [f"{repository}:stable"]
    # The saved archive loads back and holds the provisioned file.
    docker_client.images.remove(f"{repository}:stable")
    with open(tmp_path / "out" / "image.tar", "rb") as archive:
        loaded = docker_client.images.load(archive.read())
    assert loaded[0].id == ids[0]
    out = docker_client.containers.run(loaded[0].id, ["-c", "cat /marker"], entrypoint="/bin/sh", remove=True)
    assert out == b"saved\n"
    assert docker_resources.build_containers(run_id) == []
    assert leftover_temp_dirs(docker_tmpdir) == []
    assert run_processes(run_id) == []


@pytest.mark.parametrize("keep", [False, True])
def test_export_then_docker_import_with_changes(
    keep: bool, bakehouse, tmp_path: Path, docker_client: docker.DockerClient, busybox_image: str,
    docker_resources, run_id: str, cli_env: dict[str, str],
) -> None:
    repository = docker_resources.name("imported")
    docker_resources.image(f"{repository}:v2")
    write_template(tmp_path, '''
source "docker" "exported" {
  image       = "@IMAGE@"
  pull        = false
  export_path = "rootfs.tar"
}
build {
  sources = ["source.docker.exported"]
  provisioner "shell" {
    inline = ["echo imported-with-changes > /hello"]
  }
  post-processor "docker-import" {
    repository          = "@REPOSITORY@"
    tag                 = "v2"
    changes             = ["CMD [\\"/bin/cat\\", \\"/hello\\"]", "ENV IMPORTED=yes", "WORKDIR /tmp"]
    keep_input_artifact = @KEEP@
  }
}
''', image=busybox_image, repository=repository, keep=str(keep).lower())
    result = bakehouse("build", "t.pkr.hcl", env=cli_env)
    assert result.returncode == 0, show(result)
    assert f"Imported Docker image: {repository}:v2" in result.stdout
    image = docker_client.images.get(f"{repository}:v2")
    assert image.attrs["Config"]["Cmd"] == ["/bin/cat", "/hello"]
    assert "IMPORTED=yes" in image.attrs["Config"]["Env"]
    assert image.attrs["Config"]["WorkingDir"] == "/tmp"
    assert docker_client.containers.run(image.id, remove=True) == b"imported-with-changes\n"
    # docker-import does not keep its input unless asked: the export tar goes.
    assert (tmp_path / "rootfs.tar").exists() is keep
    assert (f"Exported Docker file: {tmp_path / 'rootfs.tar'}" in result.stdout) is keep


def test_docker_push_to_a_local_registry_then_pull_it_in_a_second_build(
    bakehouse, tmp_path: Path, docker_client: docker.DockerClient, busybox_image: str, docker_resources,
    local_registry: str, run_id: str, cli_env: dict[str, str], docker_tmpdir: Path,
) -> None:
    name = f"bakehouse-e2e/pushed-{uuid.uuid4().hex[:8]}"
    remote = f"{local_registry}/{name}"
    docker_resources.image(f"{remote}:1")
    write_template(tmp_path, '''
source "docker" "base" {
  image  = "@IMAGE@"
  pull   = false
  commit = true
}
build {
  sources = ["source.docker.base"]
  provisioner "shell" {
    inline = ["echo from-the-registry > /layer-one"]
  }
  post-processors {
    post-processor "docker-tag" {
      repository = "@REMOTE@"
      tags       = ["1"]
    }
    post-processor "docker-push" {}
  }
}
''', image=busybox_image, remote=remote, name="push.pkr.hcl")
    pushed = bakehouse("build", "push.pkr.hcl", env=cli_env)
    assert pushed.returncode == 0, show(pushed)
    docker_resources.image(built_image_ids(pushed.stdout)[0])
    assert f"Pushing: {remote}:1" in pushed.stdout
    with urllib.request.urlopen(f"http://{local_registry}/v2/{name}/tags/list", timeout=10) as response:
        assert json.load(response)["tags"] == ["1"]

    # Forget it locally, so the second build can only get it from the registry.
    docker_client.images.remove(f"{remote}:1")
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(built_image_ids(pushed.stdout)[0])

    repository = docker_resources.name("second")
    docker_resources.image(f"{repository}:latest")
    write_template(tmp_path, '''
source "docker" "child" {
  image  = "@REMOTE@:1"
  pull   = true
  commit = true
}
build {
  sources = ["source.docker.child"]
  provisioner "shell" {
    inline = ["cat /layer-one > /layer-two"]
  }
  post-processor "docker-tag" {
    repository = "@REPOSITORY@"
  }
}
''', remote=remote, repository=repository, name="pull.pkr.hcl")
    second = bakehouse("build", "pull.pkr.hcl", env={**cli_env, "BAKEHOUSE_RUN_ID": run_id + "-2"})
    assert second.returncode == 0, show(second)
    assert f"Pulling Docker image: {remote}:1" in second.stdout
    docker_resources.image(built_image_ids(second.stdout)[0])
    out = docker_client.containers.run(f"{repository}:latest", ["-c", "cat /layer-two"], entrypoint="/bin/sh", remove=True)
    assert out == b"from-the-registry\n"
    assert docker_resources.build_containers(run_id) == [] and docker_resources.build_containers(run_id + "-2") == []
    assert leftover_temp_dirs(docker_tmpdir) == []
