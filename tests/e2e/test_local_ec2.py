"""End to end on the local EC2: ``amazon-ebs`` builds a real image in a real
container reached over SSH on its own loopback address, the AMI that comes out
launches and holds what the provisioners did; faults injected in front of moto
exercise the builder's retries and cleanup."""

from __future__ import annotations

import io
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from bakehouse_plugin_aws.localec2 import run_over_ssh

from tests.support import require

pytestmark = [pytest.mark.moto, pytest.mark.ssh, pytest.mark.slow]


def hcl(value: Any) -> str:
    return json.dumps(value)


def template(ami_name: str, *, provisioner: str = "", options: dict[str, Any] | None = None) -> str:
    lines = [f"{name} = {hcl(value)}" for name, value in (options or {}).items()]
    return f"""
data "amazon-ami" "debian" {{
  region      = "us-east-1"
  filters     = {{ name = "debian-12-bakehouse-local" }}
  owners      = ["self"]
  most_recent = true
}}

source "amazon-ebs" "local" {{
  region        = "us-east-1"
  instance_type = "t3.micro"
  source_ami    = data.amazon-ami.debian.id
  ami_name      = {hcl(ami_name)}
  ssh_username  = "admin"
  ssh_timeout   = "60s"
  {chr(10).join(lines)}
  aws_polling {{
    delay_seconds = 0.1
    max_attempts  = 300
  }}
}}

build {{
  sources = ["source.amazon-ebs.local"]
  {provisioner}
}}
"""


def shell(*commands: str) -> str:
    return 'provisioner "shell" {\n    inline = ' + hcl(list(commands)) + "\n  }"


def images_named(ec2: Any, name: str) -> list[dict[str, Any]]:
    return list(ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [name]}])["Images"])


def live_instances(ec2: Any) -> list[str]:
    return [i["InstanceId"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]
            if i["State"]["Name"] != "terminated"]


def assert_nothing_left(local: Any) -> None:
    ec2 = local.client()
    assert live_instances(ec2) == []
    assert local.instances.containers() == []
    assert ec2.describe_key_pairs()["KeyPairs"] == []
    assert [g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]
            if g["GroupName"].startswith("bakehouse_")] == []


def test_build_an_ami_on_the_local_ec2_then_launch_it_and_find_what_was_provisioned(
    local_ec2_env: Any, bakehouse: Any, tmp_path: Path
) -> None:
    local = local_ec2_env
    ami_name = f"baked-{uuid.uuid4().hex[:8]}"
    (tmp_path / "t.pkr.hcl").write_text(template(
        ami_name,
        options={"user_data": "#!/bin/sh\necho first-boot > /var/tmp/user-data-ran\n"},
        provisioner=shell(
            "test \"$(cat /var/tmp/user-data-ran)\" = first-boot",  # user data ran before SSH
            "echo \"provisioned on $(hostname) as $(whoami)\" | sudo tee /etc/bakehouse-baked",
            "sudo useradd --create-home baker",
        ),
    ))
    result = bakehouse("build", "t.pkr.hcl", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    ec2 = local.client()
    [image] = images_named(ec2, ami_name)
    assert f"us-east-1: {image['ImageId']}" in result.stdout
    assert_nothing_left(local)  # the build instance's container went with it
    assert not Path("/etc/bakehouse-baked").exists()  # provisioned the instance, not this machine

    key = ec2.create_key_pair(KeyName="check")
    launched = ec2.run_instances(ImageId=image["ImageId"], MinCount=1, MaxCount=1, KeyName="check")
    [instance] = launched["Instances"]
    address = instance["PublicIpAddress"]
    assert address.startswith("127.0.0.") and address != "127.0.0.1"
    assert instance["PrivateIpAddress"] == address
    [described] = [i for r in ec2.describe_instances(InstanceIds=[instance["InstanceId"]])["Reservations"]
                   for i in r["Instances"]]
    assert described["PublicIpAddress"] == address
    status, output = run_over_ssh(address, "admin", key["KeyMaterial"], "cat /etc/bakehouse-baked; id -un baker")
    assert status == 0, output
    build_host = output.split()[2]
    assert build_host.startswith("i-") and build_host != instance["InstanceId"], output
    assert output.splitlines() == [f"provisioned on {build_host} as admin", "baker"], output
    ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])
    assert local.instances.containers() == []
    ec2.deregister_image(ImageId=image["ImageId"])
    assert not local.instances.has_image(image["ImageId"])


def test_a_throttled_run_instances_is_retried_and_the_build_succeeds(
    local_ec2_env: Any, bakehouse: Any, tmp_path: Path
) -> None:
    local = local_ec2_env
    local.inject("RunInstances", "throttle", times=2)
    ami_name = f"throttled-{uuid.uuid4().hex[:8]}"
    (tmp_path / "t.pkr.hcl").write_text(template(ami_name, options={"communicator": "none"}))
    result = bakehouse("build", "t.pkr.hcl", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert local.faults_left("RunInstances") is None  # both throttles were answered, then it launched
    assert len(images_named(local.client(), ami_name)) == 1
    assert_nothing_left(local)


def test_a_create_image_that_keeps_failing_fails_the_build_and_leaves_nothing(
    local_ec2_env: Any, bakehouse: Any, tmp_path: Path
) -> None:
    local = local_ec2_env
    local.inject("CreateImage", "5xx", status=500)
    ami_name = f"broken-{uuid.uuid4().hex[:8]}"
    (tmp_path / "t.pkr.hcl").write_text(template(ami_name, provisioner=shell("true")))
    result = bakehouse("build", "t.pkr.hcl", cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert f"creating AMI {ami_name!r} from instance i-" in output
    assert "Traceback" not in output
    assert images_named(local.client(), ami_name) == []
    assert_nothing_left(local)


def test_latency_and_dropped_connections_are_absorbed_by_the_client_retries(local_ec2_env: Any) -> None:
    local = local_ec2_env
    ec2 = local.client()
    local.inject("DescribeImages", "drop", times=1)
    assert [i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]] == [local.base_ami()]
    assert local.faults_left("DescribeImages") is None
    local.inject("DescribeRegions", "latency", seconds=0.5, times=1)
    started = time.monotonic()
    ec2.describe_regions()
    assert time.monotonic() - started >= 0.5


def test_an_ami_without_a_local_image_is_refused_with_its_id(local_ec2_env: Any) -> None:
    import botocore.exceptions

    ec2 = local_ec2_env.client()
    bare = ec2.register_image(Name="bare", Architecture="x86_64", RootDeviceName="/dev/xvda",
                              VirtualizationType="hvm")["ImageId"]
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        ec2.run_instances(ImageId=bare, MinCount=1, MaxCount=1)
    assert raised.value.response["Error"]["Code"] == "InvalidAMIID.Unavailable"
    assert f"AMI {bare} has no local image behind it" in str(raised.value)
    assert live_instances(ec2) == []


def test_an_instance_whose_container_fails_at_boot_is_reported_with_its_logs(
    local_ec2_env: Any, docker_client: Any, busybox_image: str
) -> None:
    """A busybox AMI whose /bin/sh fails at once: the error names the instance and shows its log."""
    import botocore.exceptions

    local = local_ec2_env
    broken = docker_client.containers.create(busybox_image, command=["true"])
    try:
        # /bin/sh replaced by a script that says why and exits 7
        broken.put_archive("/", _tar({"bin/sh": b"#!/bin/busybox sh\necho kernel panic: no init >&2\nexit 7\n"}))
        image = broken.commit(repository="bakehouse-test-broken", tag=uuid.uuid4().hex[:8])
    finally:
        broken.remove(force=True)
    try:
        ami = local.register_image(image.id, "broken-boot")
        ec2 = local.client()
        with pytest.raises(botocore.exceptions.ClientError) as raised:
            ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1)
        message = str(raised.value)
        assert "instance i-" in message and "exited with status 7" in message, message
        assert "kernel panic: no init" in message
        assert live_instances(ec2) == []
        assert local.instances.containers() == []
    finally:
        local.reset()
        docker_client.images.remove(image.id, force=True)


def test_instances_skip_a_loopback_address_whose_port_22_is_taken(local_ec2_env: Any, busybox_image: str) -> None:
    import socket

    require(__import__("os").getuid() == 0, "root (to listen on port 22)")
    local = local_ec2_env
    first = next(a for a in local.instances.addresses if not _listening(a))
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind((first, 22))
    squatter.listen()
    saved = local.instances.addresses
    try:
        ami = local.register_image(busybox_image, "busybox-base")
        ec2 = local.client()
        [instance] = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1)["Instances"]
        assert instance["PublicIpAddress"] != first
        local.instances.addresses = [first]  # nothing else allowed: a clear error
        with pytest.raises(Exception) as raised:
            ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1)
        assert f"port 22 is already taken on every loopback address this local EC2 may use ({first})" in str(raised.value)
    finally:
        local.instances.addresses = saved
        squatter.close()


def _listening(address: str) -> bool:
    from bakehouse_plugin_aws.localec2.instances import port_22_taken

    return port_22_taken(address)


def _tar(files: dict[str, bytes]) -> bytes:
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
