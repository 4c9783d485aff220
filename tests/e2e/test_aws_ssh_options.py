"""amazon-ebs with Packer's SSH communicator options on the local EC2: the
instance (a container with sshd on its own 127.0.0.N) is reached through a
bastion (a second sshd on loopback, whose debug log shows the hop), files go
by scp, a cipher list is offered, and ssh_clear_authorized_keys takes the
temporary key out of the AMI. ssh_interface = "ipv6" on an instance with
no IPv6 address is a clear error."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from bakehouse.testing.servers import SshServer, openssh_server
from bakehouse_plugin_aws.localec2 import DEBIAN_USER, LocalEC2

from tests.e2e.test_aws_build import hcl, images_named, instance_states, shell, template

pytestmark = [pytest.mark.moto, pytest.mark.ssh, pytest.mark.slow]


@pytest.fixture(scope="module")
def bastion() -> Iterator[SshServer]:
    with openssh_server(extra_config=["LogLevel DEBUG1"]) as server:
        yield server


def test_bastion_scp_ciphers_and_clear_authorized_keys_on_amazon_ebs(
    local_ec2_env: LocalEC2, bakehouse, tmp_path: Path, bastion: SshServer
) -> None:
    ec2 = local_ec2_env.client()
    ami_name = f"sshopts-{uuid.uuid4().hex[:8]}"
    (tmp_path / "payload.txt").write_text("sent by scp\n")
    file_provisioner = ('provisioner "file" {\n    source = "payload.txt"\n'
                        '    destination = "/tmp/payload.txt"\n  }')
    (tmp_path / "t.pkr.hcl").write_text(template(
        source=f"source_ami = {hcl(local_ec2_env.base_ami())}",
        options={
            "ami_name": ami_name,
            "ssh_bastion_host": "127.0.0.1",
            "ssh_bastion_port": bastion.port,
            "ssh_bastion_username": bastion.user,
            "ssh_bastion_private_key_file": str(bastion.client_key),
            "ssh_file_transfer_method": "scp",
            "ssh_ciphers": ["aes192-ctr"],
            "ssh_clear_authorized_keys": True,
        },
        provisioner=file_provisioner + "\n  " + shell(
            "cat /tmp/payload.txt",
            "echo keys-before=$(grep -c . ~/.ssh/authorized_keys)",
        ),
    ))
    result = bakehouse("build", "t.pkr.hcl", cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "sent by scp" in result.stdout
    assert "keys-before=1" in result.stdout
    assert "Trying to remove ephemeral keys from authorized_keys files" in result.stdout
    assert f"through bastion 127.0.0.1:{bastion.port}" in result.stdout

    [address] = re.findall(r"Using SSH communicator to connect: (\S+)", result.stdout)
    assert address.startswith("127.0.0.") and address != "127.0.0.1"  # the instance's own address
    log = (bastion.workdir / "sshd.log").read_text(errors="replace")
    assert f"target {address} port 22" in log, log[-3000:]

    # the AMI's image: the temporary key's line is gone from the user's authorized_keys
    [image] = images_named(ec2, ami_name)
    docker_image = local_ec2_env.instances.image_for(image["ImageId"])
    keys = local_ec2_env.instances.docker.containers.run(
        docker_image, ["sh", "-c", f"cat ~{DEBIAN_USER}/.ssh/authorized_keys; echo end"],
        entrypoint=[], remove=True)
    assert keys.decode().strip() == "end"
    assert instance_states(ec2) == ["terminated"]


def test_ssh_interface_ipv6_without_an_ipv6_address_is_a_clear_error(
    local_ec2_env: LocalEC2, bakehouse, tmp_path: Path
) -> None:
    ec2 = local_ec2_env.client()
    (tmp_path / "t.pkr.hcl").write_text(template(
        source=f"source_ami = {hcl(local_ec2_env.base_ami())}",
        options={"ami_name": f"v6-{uuid.uuid4().hex[:8]}", "ssh_interface": "ipv6"},
    ))
    result = bakehouse("build", "t.pkr.hcl", cwd=tmp_path)
    assert result.returncode != 0
    [instance] = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    assert f"instance {instance['InstanceId']} has no address for ssh_interface 'ipv6'" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert instance_states(ec2) == ["terminated"]
