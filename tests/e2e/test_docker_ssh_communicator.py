"""``communicator = "ssh"``: provisioners reach a container that runs sshd over SSH.

The container is the local EC2's Debian image (it has OpenSSH) started with a
``run_command`` that installs the test's public key and runs ``sshd``; the
builder connects to its address on the docker bridge with the SDK's SSH
communicator, as Packer's docker builder does.
"""

from __future__ import annotations

from pathlib import Path

import docker
import docker.errors
import pytest

from tests.fixtures.docker import show, wait_for_nothing_left, write_template
from tests.support import require

pytestmark = pytest.mark.docker

SSHD_IMAGE = "bakehouse-local-ec2/debian:bookworm"

TEMPLATE = r'''
source "docker" "sshd" {
  image                = "@IMAGE@"
  pull                 = false
  discard              = true
  communicator         = "ssh"
  ssh_username         = "root"
  ssh_private_key_file = "id_ed25519"
  ssh_timeout          = "2m"
  run_command = ["-d", "--entrypoint=/bin/sh", "--", "{{.Image}}", "-c",
                 "mkdir -p /run/sshd /root/.ssh && echo '${file("id_ed25519.pub")}' > /root/.ssh/authorized_keys && ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key && exec /usr/sbin/sshd -D -e"]
}

build {
  sources = ["source.docker.sshd"]
  provisioner "file" {
    source      = "payload.txt"
    destination = "/opt/payload.txt"
  }
  provisioner "shell" {
    inline = [
      "echo conn=${build.ConnType} user=${build.User} port=${build.Port} host=${build.Host}",
      "echo via=$SSH_CONNECTION",
      "tr a-z A-Z < /opt/payload.txt > /opt/upper.txt",
    ]
  }
  provisioner "file" {
    direction   = "download"
    source      = "/opt/upper.txt"
    destination = "upper.txt"
  }
}
'''


def _write_key_pair(directory: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = directory / "id_ed25519"
    private.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()))
    private.chmod(0o600)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    (directory / "id_ed25519.pub").write_bytes(public + b" bakehouse-test\n")


def test_provisioners_reach_a_container_running_sshd_over_ssh(
    bakehouse, tmp_path: Path, docker_client: docker.DockerClient, docker_resources,  # type: ignore[no-untyped-def]
    run_id: str, cli_env: dict[str, str], docker_tmpdir: Path,
) -> None:
    try:
        docker_client.images.get(SSHD_IMAGE)
        present = True
    except docker.errors.ImageNotFound:
        present = False
    require(present, f"the image {SSHD_IMAGE} (built by scripts/setup)")
    _write_key_pair(tmp_path)
    (tmp_path / "payload.txt").write_text("sent over sftp\n")
    write_template(tmp_path, TEMPLATE, image=SSHD_IMAGE)

    result = bakehouse("build", "t.pkr.hcl", env=cli_env, timeout=600)
    assert result.returncode == 0, show(result)
    output = result.stdout
    line = next((ln for ln in output.splitlines() if "conn=" in ln), "")
    assert "conn=ssh user=root port=22 host=" in line, show(result)
    host = line.rsplit("host=", 1)[1].strip()
    assert host and not host.startswith("127."), line  # the container's own address
    assert f"Using SSH communicator to connect: {host}" in output
    # SSH_CONNECTION exists in SSH sessions only: "client port server port"
    via = next((ln for ln in output.splitlines() if "via=" in ln), "")
    assert via.rstrip().endswith(f" {host} 22"), show(result)
    assert (tmp_path / "upper.txt").read_text() == "SENT OVER SFTP\n"
    wait_for_nothing_left(docker_resources, run_id, docker_tmpdir)


def test_ssh_communicator_without_credentials_is_refused_at_its_line(
    bakehouse, tmp_path: Path, cli_env: dict[str, str],  # type: ignore[no-untyped-def]
) -> None:
    write_template(tmp_path, '''
source "docker" "sshd" {
  image        = "x"
  discard      = true
  communicator = "ssh"
}
build { sources = ["source.docker.sshd"] }
''')
    result = bakehouse("validate", "t.pkr.hcl", env=cli_env)
    assert result.returncode == 1, show(result)
    text = result.stdout + result.stderr
    assert "communicator = \"ssh\" needs ssh_username" in text, show(result)
    assert "needs ssh_password or ssh_private_key_file" in text, show(result)
