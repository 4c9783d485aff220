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


def test_stop_start_reboot_follow_the_instance_and_a_copied_ami_launches_in_its_region(
    local_ec2_env: Any, docker_client: Any
) -> None:
    local = local_ec2_env
    ec2 = local.client()
    key = ec2.create_key_pair(KeyName="cycle")["KeyMaterial"]
    [instance] = ec2.run_instances(ImageId=local.base_ami(), MinCount=1, MaxCount=1, KeyName="cycle")["Instances"]
    instance_id, address = instance["InstanceId"], instance["PublicIpAddress"]
    [container] = local.instances.containers()
    # reachable on its own loopback address only, from a network with no way out
    assert container.attrs["HostConfig"]["PortBindings"] == {"22/tcp": [{"HostIp": address, "HostPort": "22"}]}
    [network] = container.attrs["NetworkSettings"]["Networks"]
    options = docker_client.networks.get(network).attrs["Options"]
    assert options["com.docker.network.bridge.enable_ip_masquerade"] == "false"
    status, output = run_over_ssh(address, "admin", key, "echo kept | sudo tee /var/tmp/state")
    assert status == 0, output

    ec2.stop_instances(InstanceIds=[instance_id])
    container.reload()
    assert container.status == "exited"
    ec2.start_instances(InstanceIds=[instance_id])
    container.reload()
    assert container.status == "running"
    started = container.attrs["State"]["StartedAt"]
    # same address, same disk
    assert run_over_ssh(address, "admin", key, "cat /var/tmp/state") == (0, "kept\n")
    ec2.reboot_instances(InstanceIds=[instance_id])
    container.reload()
    assert container.status == "running" and container.attrs["State"]["StartedAt"] != started
    assert run_over_ssh(address, "admin", key, "cat /var/tmp/state") == (0, "kept\n")

    ami = ec2.create_image(InstanceId=instance_id, Name="cycled")["ImageId"]
    west = local.client("us-west-2")
    copy = west.copy_image(SourceImageId=ami, SourceRegion="us-east-1", Name="cycled-copy")["ImageId"]
    ec2.terminate_instances(InstanceIds=[instance_id])
    assert local.instances.containers() == []
    ec2.deregister_image(ImageId=ami)  # the copy keeps the image alive
    assert not local.instances.has_image(ami) and local.instances.has_image(copy)
    west_key = west.create_key_pair(KeyName="west")["KeyMaterial"]
    [copied] = west.run_instances(ImageId=copy, MinCount=1, MaxCount=1, KeyName="west")["Instances"]
    assert run_over_ssh(copied["PublicIpAddress"], "admin", west_key, "cat /var/tmp/state") == (0, "kept\n")
    west.terminate_instances(InstanceIds=[copied["InstanceId"]])
    assert local.instances.containers() == []


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = entry.joinpath("stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _start_console(tmp_path: Path) -> tuple[Any, dict[str, str], str]:
    """``bakehouse-ec2-local`` started as a user would: its printed environment and base AMI."""
    import subprocess
    import sys

    exe = Path(sys.executable).parent / "bakehouse-ec2-local"
    proc = subprocess.Popen([str(exe)], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    env, base, lines = {}, "", []
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.strip().startswith("export "):
                name, value = line.strip()[len("export "):].split("=", 1)
                env[name] = value
            if line.startswith("base AMI") and " in us-east-1: " in line:
                base = line.split(": ")[1].split()[0]
            if line.startswith("Ctrl-C stops it"):
                break
        assert env.get("AWS_ENDPOINT_URL_EC2", "").startswith("http://127.0.0.1:"), "".join(lines)
        assert env["AWS_ACCESS_KEY_ID"] and env["AWS_DEFAULT_REGION"] == "us-east-1", env
    except BaseException:
        proc.send_signal(__import__("signal").SIGINT)  # it cleans up after itself
        proc.wait(60)
        raise
    return proc, env, base


def _client(env: dict[str, str]) -> Any:
    import boto3

    return boto3.client("ec2", region_name=env["AWS_DEFAULT_REGION"], endpoint_url=env["AWS_ENDPOINT_URL_EC2"],
                        aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])


def _containers_of(docker_client: Any, instance_id: str) -> list[Any]:
    from bakehouse_plugin_aws.localec2 import LABEL_INSTANCE

    return list(docker_client.containers.list(all=True, filters={"label": f"{LABEL_INSTANCE}={instance_id}"}))


def test_the_console_command_prints_what_to_export_and_ctrl_c_removes_all_it_started(
    tmp_path: Path, docker_client: Any, local_ec2: Any
) -> None:
    import signal

    proc, env, base = _start_console(tmp_path)
    try:
        children = _children(proc.pid)
        assert children, "the moto server runs as a child"
        ec2 = _client(env)
        [instance] = ec2.run_instances(ImageId=base, MinCount=1, MaxCount=1)["Instances"]
        [container] = _containers_of(docker_client, instance["InstanceId"])
        network = container.attrs["HostConfig"]["NetworkMode"]
        os_kill = __import__("os").kill
        os_kill(proc.pid, signal.SIGINT)
        assert proc.wait(60) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert _containers_of(docker_client, instance["InstanceId"]) == []
    assert docker_client.networks.list(names=[network]) == []
    assert [pid for pid in children if Path(f"/proc/{pid}").exists()] == []


def test_after_kill_9_of_the_local_ec2_its_cleanup_command_removes_its_containers(
    tmp_path: Path, docker_client: Any, local_ec2_env: Any
) -> None:
    import signal
    import subprocess
    import sys

    from tests.fixtures.processes import wait_until_gone

    proc, env, base = _start_console(tmp_path)
    try:
        children = _children(proc.pid)
        ec2 = _client(env)
        [instance] = ec2.run_instances(ImageId=base, MinCount=1, MaxCount=1)["Instances"]
        [container] = _containers_of(docker_client, instance["InstanceId"])
        ami = ec2.create_image(InstanceId=instance["InstanceId"], Name="left-behind")["ImageId"]
        __import__("os").kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert wait_until_gone(children, timeout=30) == []  # moto died with it
    assert len(_containers_of(docker_client, instance["InstanceId"])) == 1  # nobody removed the instance
    # an instance of a local EC2 that still runs (this session's) is not a leftover
    live = local_ec2_env.client()
    [kept] = live.run_instances(ImageId=local_ec2_env.base_ami(), MinCount=1, MaxCount=1)["Instances"]
    result = subprocess.run([str(Path(sys.executable).parent / "bakehouse-ec2-local"), "cleanup"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"instance {instance['InstanceId']}" in result.stdout
    assert _containers_of(docker_client, instance["InstanceId"]) == []
    assert docker_client.images.list(name=f"bakehouse-ami/{ami}") == []
    assert docker_client.networks.list(names=[container.attrs["HostConfig"]["NetworkMode"]]) == []
    assert len(_containers_of(docker_client, kept["InstanceId"])) == 1
    live.terminate_instances(InstanceIds=[kept["InstanceId"]])
