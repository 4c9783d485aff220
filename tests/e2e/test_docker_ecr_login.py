"""``ecr_login`` end to end: the token comes from moto's ECR over HTTP, and it is
what the registry accepts.

The registry is a real one on loopback (Debian's ``docker-registry``) whose only
login is the user name and password moto's ``GetAuthorizationToken`` hands out
for the account (``AWS`` / ``<account>-auth-token``): a pull or push succeeds
only if the plugin fetched the token from ECR and sent it. ``login_server``
names the ECR registry (account and region come from it), as in Packer.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from bakehouse.testing.servers import RegistryCredentials, docker_registry_with_login

from tests.fixtures.docker import show, wait_for_nothing_left, write_template

pytestmark = pytest.mark.docker

ACCOUNT = "123456789012"
ECR_SERVER = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"


@pytest.fixture(scope="module")
def ecr_token_registry(docker_client, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryCredentials]:  # type: ignore[no-untyped-def]
    """A registry that accepts the login moto's ECR issues for ACCOUNT."""
    import os

    from tests.support import require

    require(os.access("/usr/bin/docker-registry", os.X_OK), "docker-registry (Debian package docker-registry)")
    with docker_registry_with_login(tmp_path_factory.mktemp("ecr-registry"), "AWS", f"{ACCOUNT}-auth-token") as reg:
        yield reg


def _manifest_exists(registry: RegistryCredentials, repository: str, tag: str) -> bool:
    request = urllib.request.Request(
        f"http://{registry.address}/v2/{repository}/manifests/{tag}",
        method="HEAD",
        headers={
            "Authorization": "Basic " + base64.b64encode(f"{registry.username}:{registry.password}".encode()).decode(),
            "Accept": "application/vnd.docker.distribution.manifest.v2+json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status == 200
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return False
        raise


TEMPLATE = '''
source "docker" "ecr" {
  image        = "@IMAGE@"
  commit       = true
  ecr_login    = @ECR_LOGIN@
  login_server = "@SERVER@"
}
build {
  sources = ["source.docker.ecr"]
  provisioner "shell" {
    inline = ["echo pulled-with-the-ecr-token > /from-ecr", "echo source=${build.SourceImageDigest}"]
  }
  post-processors {
    post-processor "docker-tag" {
      repository = "@PUSHED@"
      tags       = ["@TAG@"]
    }
    post-processor "docker-push" {
      ecr_login    = true
      login_server = "@SERVER@"
      platform     = "@PLATFORM@"
    }
  }
}
'''


def test_ecr_login_pulls_and_pushes_with_the_token_from_ecr(
    bakehouse, tmp_path: Path, aws_env, ecr_token_registry: RegistryCredentials,  # type: ignore[no-untyped-def]
    docker_client: docker.DockerClient, busybox_image: str, docker_resources, run_id: str,
    cli_env: dict[str, str], docker_tmpdir: Path,
) -> None:
    registry = ecr_token_registry
    tag = uuid.uuid4().hex[:8]
    base = f"{registry.address}/bakehouse/ecr-base"
    pushed = f"{registry.address}/bakehouse/ecr-pushed"
    # The base image is in the registry only (its local tag is dropped).
    docker_client.images.get(busybox_image).tag(base, tag)
    auth = {"username": registry.username, "password": registry.password}
    for line in docker_client.api.push(base, tag=tag, auth_config=auth, stream=True, decode=True):
        assert "error" not in line, line
    docker_client.images.remove(f"{base}:{tag}")
    docker_resources.image(f"{base}:{tag}")
    docker_resources.image(f"{pushed}:{tag}")
    machine = docker_client.info()["Architecture"]
    platform = "linux/" + {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)

    values = dict(image=f"{base}:{tag}", server=ECR_SERVER, pushed=pushed, tag=tag, platform=platform)
    # Without the token the registry refuses the pull: the login is what makes it work.
    write_template(tmp_path, TEMPLATE, ecr_login="false", **values)
    result = bakehouse("build", "t.pkr.hcl", env=cli_env, timeout=600)
    assert result.returncode == 1, show(result)
    assert f"Error pulling Docker image {base}:{tag}" in result.stdout, show(result)
    wait_for_nothing_left(docker_resources, run_id, docker_tmpdir)

    write_template(tmp_path, TEMPLATE, ecr_login="true", **values)
    result = bakehouse("build", "t.pkr.hcl", env=cli_env, timeout=600)
    committed = re.search(r"Image ID: (sha256:[0-9a-f]+)", result.stdout)
    if committed:
        docker_resources.image(committed.group(1))
    assert result.returncode == 0, show(result)
    assert result.stdout.count("Fetching ECR credentials...") == 2, show(result)
    assert f"Using the ECR token for {ECR_SERVER} (user AWS)" in result.stdout
    assert f"Platform: {platform}" in result.stdout
    assert re.search(rf"source={re.escape(base)}@sha256:[0-9a-f]{{64}}\b", result.stdout), show(result)
    assert registry.password not in result.stdout + result.stderr  # never printed
    assert _manifest_exists(registry, "bakehouse/ecr-pushed", tag)
    out = docker_client.containers.run(f"{pushed}:{tag}", ["-c", "cat /from-ecr"], remove=True)
    assert out == b"pulled-with-the-ecr-token\n"
    # The credentials were sent, never stored where the docker CLI keeps logins.
    docker_config = Path.home() / ".docker" / "config.json"
    if docker_config.exists():
        assert registry.address not in json.loads(docker_config.read_text()).get("auths", {})
    wait_for_nothing_left(docker_resources, run_id, docker_tmpdir)


def test_ecr_login_without_aws_credentials_names_the_registry(
    bakehouse, tmp_path: Path, aws_env, monkeypatch: pytest.MonkeyPatch, cli_env: dict[str, str],  # type: ignore[no-untyped-def]
    docker_resources, run_id: str, docker_tmpdir: Path,
) -> None:
    write_template(tmp_path, '''
source "docker" "ecr" {
  image        = "x"
  discard      = true
  ecr_login    = true
  login_server = "@SERVER@"
  aws_profile  = "no-such-profile"
}
build { sources = ["source.docker.ecr"] }
''', server=ECR_SERVER)
    result = bakehouse("build", "t.pkr.hcl", env=cli_env, timeout=300)
    assert result.returncode == 1, show(result)
    assert (f"Error fetching ECR credentials for ECR registry {ACCOUNT} in us-east-1: "
            "The config profile (no-such-profile) could not be found") in result.stdout, show(result)
    assert "Traceback" not in result.stdout + result.stderr
    wait_for_nothing_left(docker_resources, run_id, docker_tmpdir)
