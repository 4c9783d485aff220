"""Docker builds end to end: the real `bakehouse build` CLI, the real
bakehouse-plugin-docker and bakehouse-plugin-shell processes over pipe RPC,
a real Docker engine, and an image you can run afterwards."""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

import docker
import pytest

from tests.fixtures.docker import (
    engine_events,
    leftover_temp_dirs,
    show,
    wait_for_nothing_left,
    write_template,
)
from tests.fixtures.processes import run_processes

pytestmark = pytest.mark.docker

FULL_TEMPLATE = r'''
variable "image" {
  type = string
}
variable "repository" {
  type = string
}

source "docker" "app" {
  image   = var.image
  pull    = false
  commit  = true
  author  = "Bakehouse e2e <e2e@example.invalid>"
  message = "built by the e2e suite"
  changes = [
    "ENTRYPOINT [\"/bin/sh\", \"-c\"]",
    "CMD [\"cat /opt/app/motd\"]",
    "ENV APP_ENV=production",
    "EXPOSE 8080",
    "LABEL org.example.app=hello",
    "ONBUILD RUN echo onbuild",
    "USER builder",
    "VOLUME [\"/var/lib/app\"]",
    "WORKDIR /opt/app",
  ]
}

build {
  sources = ["source.docker.app"]

  provisioner "shell" {
    inline = ["mkdir -p /opt/app", "echo \"built in ${build.ID}\" > /opt/app/built-in"]
  }
  provisioner "shell" {
    script           = "setup.sh"
    environment_vars = ["GREETING=hello"]
  }
  provisioner "file" {
    source      = "motd"
    destination = "/opt/app/motd"
  }
  provisioner "file" {
    source      = "site/"
    destination = "/srv/www"
  }
  post-processor "docker-tag" {
    repository = var.repository
    tags       = ["1.0"]
  }
}
'''



def test_build_docker_image_with_shell_and_file_provisioners_and_changes(
    bakehouse, tmp_path: Path, docker_client: docker.DockerClient, busybox_image: str,
    docker_resources, run_id: str, cli_env: dict[str, str], docker_tmpdir: Path,
) -> None:
    (tmp_path / "setup.sh").write_text('#!/bin/sh\nset -e\necho "$GREETING from a script" > /opt/app/greeting\n')
    (tmp_path / "motd").write_text("Welcome to the baked image\n")
    (tmp_path / "site" / "css").mkdir(parents=True)
    (tmp_path / "site" / "index.html").write_text("<h1>hello</h1>\n")
    (tmp_path / "site" / "css" / "main.css").write_text("h1 {}\n")
    repository = docker_resources.name("app")
    docker_resources.image(f"{repository}:1.0")
    write_template(tmp_path, FULL_TEMPLATE)

    result = bakehouse("build", "-var", f"image={busybox_image}", "-var", f"repository={repository}",
                       "t.pkr.hcl", env=cli_env)
    assert result.returncode == 0, show(result)
    image_ids = re.findall(r"Imported Docker image: (sha256:[0-9a-f]{64})", result.stdout)
    assert len(image_ids) == 1, show(result)
    docker_resources.image(image_ids[0])
    assert f"Imported Docker image: {repository}:1.0" in result.stdout
    assert "Provisioning with shell script" in result.stdout

    image = docker_client.images.get(f"{repository}:1.0")
    assert image.id == image_ids[0]
    config = image.attrs["Config"]
    assert config["Entrypoint"] == ["/bin/sh", "-c"]
    assert config["Cmd"] == ["cat /opt/app/motd"]
    assert "APP_ENV=production" in config["Env"]
    assert set(config["ExposedPorts"]) == {"8080/tcp"}
    assert config["Labels"]["org.example.app"] == "hello"
    assert config["OnBuild"] == ["RUN echo onbuild"]
    assert config["User"] == "builder"
    assert set(config["Volumes"]) == {"/var/lib/app"}
    assert config["WorkingDir"] == "/opt/app"
    assert image.attrs["Author"] == "Bakehouse e2e <e2e@example.invalid>"
    assert image.attrs["Comment"] == "built by the e2e suite"

    # Run the result: the default command, then a look at every provisioned file.
    assert docker_client.containers.run(image.id, remove=True) == b"Welcome to the baked image\n"
    listing = docker_client.containers.run(
        image.id, ["id -un; pwd; cat built-in greeting /srv/www/index.html /srv/www/css/main.css"], remove=True
    ).decode().splitlines()
    assert listing == [
        "builder", "/opt/app", f"built in {image.attrs['Container']}", "hello from a script",
        "<h1>hello</h1>", "h1 {}",
    ]
    wait_for_nothing_left(docker_resources, run_id, docker_tmpdir)


def test_build_docker_export_path_writes_a_tar_of_the_provisioned_filesystem(
    bakehouse, tmp_path: Path, busybox_image: str, docker_resources, run_id: str,
    cli_env: dict[str, str], docker_tmpdir: Path, docker_client: docker.DockerClient,
) -> None:
    write_template(tmp_path, '''
source "docker" "export" {
  image       = "@IMAGE@"
  pull        = false
  export_path = "out/rootfs.tar"
}
build {
  sources = ["source.docker.export"]
  provisioner "shell" {
    inline = ["mkdir -p /etc/app && echo exported > /etc/app/marker"]
  }
}
''', image=busybox_image)
    with engine_events(docker_client, {"type": "container", "label": f"io.bakehouse.run-id={run_id}"}) as events:
        result = bakehouse("build", "t.pkr.hcl", env=cli_env)
    assert result.returncode == 0, show(result)
    tarball = tmp_path / "out" / "rootfs.tar"
    assert f"Exported Docker file: {tarball}" in result.stdout
    with tarfile.open(tarball) as tar:
        marker = tar.extractfile("etc/app/marker")
        assert marker is not None and marker.read() == b"exported\n"
        assert "bin/busybox" in tar.getnames()
        # The script was removed by the exec that ran it; its marker is not output.
        assert [name for name in tar.getnames() if name.startswith("tmp/")] == [], tar.getnames()
    assert "bakehouse-removed" not in result.stdout + result.stderr
    # One exec ran the script and removed it (Packer's separate `rm -f` is not a second one).
    container = re.search(r"Container ID: ([0-9a-f]{64})", result.stdout)
    assert container, show(result)
    execs = [event for event in events
             if event.get("Actor", {}).get("ID") == container.group(1) and str(event.get("status", "")).startswith("exec_create")]
    assert len(execs) == 1, execs
    wait_for_nothing_left(docker_resources, run_id, docker_tmpdir)


def test_build_docker_discard_leaves_no_image(
    bakehouse, tmp_path: Path, docker_client: docker.DockerClient, busybox_image: str,
    docker_resources, run_id: str, cli_env: dict[str, str], docker_tmpdir: Path,
) -> None:
    write_template(tmp_path, '''
source "docker" "scratch" {
  image   = "@IMAGE@"
  pull    = false
  discard = true
}
build {
  sources = ["source.docker.scratch"]
  provisioner "shell" {
    inline = ["echo container=${build.ID}"]
  }
}
''', image=busybox_image)
    images_before = {image.id for image in docker_client.images.list(all=True)}
    result = bakehouse("build", "t.pkr.hcl", env=cli_env)
    assert result.returncode == 0, show(result)
    container_id = re.search(r"container=([0-9a-f]{64})", result.stdout)
    assert container_id is not None, show(result)
    assert "Imported Docker image" not in result.stdout
    made_from_it = [
        image.id for image in docker_client.images.list(all=True)
        if image.id not in images_before and image.attrs.get("Container") == container_id.group(1)
    ]
    assert made_from_it == []
    wait_for_nothing_left(docker_resources, run_id, docker_tmpdir)


def test_build_docker_unknown_option_is_reported_at_its_line(
    bakehouse, tmp_path: Path, busybox_image: str, docker_resources, run_id: str, cli_env: dict[str, str],
) -> None:
    write_template(tmp_path, '''
source "docker" "typo" {
  image  = "@IMAGE@"
  pull   = false
  commit = true
  chnages = ["ENV A=1"]
}
build {
  sources = ["source.docker.typo"]
}
''', image=busybox_image)
    result = bakehouse("build", "t.pkr.hcl", env=cli_env)
    assert result.returncode == 1, show(result)
    output = result.stdout + result.stderr
    assert re.search(r"t\.pkr\.hcl(:| line )6\b", output), show(result)
    assert "chnages" in output
    assert "Traceback" not in output
    assert docker_resources.build_containers(run_id) == []


def test_build_docker_packer_options_that_cannot_work_are_refused_by_name_with_the_reason(
    bakehouse, tmp_path: Path, busybox_image: str, docker_resources, run_id: str, cli_env: dict[str, str],
) -> None:
    """Packer options Bakehouse knows but cannot honour: each is an error at its
    line naming the option and why (never "unknown argument"), and nothing starts."""
    write_template(tmp_path, '''
source "docker" "packer" {
  image                    = "@IMAGE@"
  pull                     = false
  commit                   = true
  windows_container        = true
  aws_force_use_public_ecr = true
  temporary_key_pair_type  = "ed25519"
  winrm_username           = "Administrator"
}
build {
  sources = ["source.docker.packer"]
  post-processor "docker-push" {
    aws_force_use_public_ecr = true
  }
}
''', image=busybox_image)
    result = bakehouse("build", "t.pkr.hcl", env=cli_env)
    assert result.returncode == 1, show(result)
    output = result.stdout + result.stderr
    for line, option, reason in [
        (6, "windows_container", "Bakehouse builds Linux containers only"),
        (7, "aws_force_use_public_ecr", "Amazon ECR Public login is not implemented"),
        (8, "temporary_key_pair_type", "the docker builder makes and names no key pair"),
        (9, "winrm_username", "WinRM serves Windows containers"),
        (14, "aws_force_use_public_ecr", "Amazon ECR Public login is not implemented"),
    ]:
        assert re.search(rf"on t\.pkr\.hcl line {line}, column \d+:\n +{line} \| +{option} +=", output), show(result)
        assert f"{option}: Option '{option}' is not supported by Bakehouse: {reason}" in output, show(result)
    assert "not expected here" not in output and "Unsupported argument" not in output
    assert "Traceback" not in output
    assert docker_resources.build_containers(run_id) == []


def test_build_docker_invalid_change_is_reported_at_its_line(
    bakehouse, tmp_path: Path, busybox_image: str, run_id: str, cli_env: dict[str, str],
) -> None:
    write_template(tmp_path, '''
source "docker" "bad" {
  image  = "@IMAGE@"
  pull   = false
  commit = true
  changes = [
    "ENV A=1",
    "RUN echo not allowed",
  ]
}
build {
  sources = ["source.docker.bad"]
}
''', image=busybox_image)
    result = bakehouse("build", "t.pkr.hcl", env=cli_env)
    assert result.returncode == 1, show(result)
    output = result.stdout + result.stderr
    assert "RUN is not allowed in changes" in output, show(result)
    assert re.search(r"t\.pkr\.hcl(:| line )(6|8)\b", output), show(result)
    assert "Traceback" not in output


def test_build_docker_missing_local_image_with_pull_false_is_a_clear_error(
    bakehouse, tmp_path: Path, docker_resources, run_id: str, cli_env: dict[str, str], docker_tmpdir: Path,
) -> None:
    missing = docker_resources.name("missing") + ":nope"
    write_template(tmp_path, '''
source "docker" "missing" {
  image  = "@IMAGE@"
  pull   = false
  commit = true
}
build {
  sources = ["source.docker.missing"]
}
''', image=missing)
    result = bakehouse("build", "t.pkr.hcl", env=cli_env)
    assert result.returncode == 1, show(result)
    output = result.stdout + result.stderr
    assert f"Image '{missing}' is not on the local Docker engine and pull = false" in output, show(result)
    assert "Traceback" not in output
    wait_for_nothing_left(docker_resources, run_id, docker_tmpdir)


def test_build_docker_without_a_reachable_engine_says_so(
    bakehouse, tmp_path: Path, run_id: str, cli_env: dict[str, str], docker_tmpdir: Path,
) -> None:
    write_template(tmp_path, '''
source "docker" "nowhere" {
  image  = "busybox"
  pull   = false
  commit = true
}
build {
  sources = ["source.docker.nowhere"]
}
''')
    socket_path = tmp_path / "no-engine.sock"
    result = bakehouse("build", "t.pkr.hcl", env={**cli_env, "DOCKER_HOST": f"unix://{socket_path}"})
    assert result.returncode == 1, show(result)
    output = result.stdout + result.stderr
    assert f"Cannot connect to the Docker engine at unix://{socket_path}" in output, show(result)
    assert "Traceback" not in output
    assert leftover_temp_dirs(docker_tmpdir) == []
    assert run_processes(run_id) == []
