"""End to end: ``bakehouse build`` with ``amazon-ebs`` on the local EC2 (a
real moto server over HTTP, fronted so that each instance is a Debian
container reached over SSH on its own 127.0.0.N, with no ``ssh_host``
override), then boto3 and Docker checks on what is left."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from bakehouse_plugin_aws.localec2 import DEBIAN_IMAGE, DEBIAN_USER, LocalEC2

from tests.fixtures.processes import kill_9_at_once, pid_alive, run_processes, wait_until_gone
from tests.support import bakehouse_exe

pytestmark = [pytest.mark.moto, pytest.mark.ssh, pytest.mark.slow]

ACCOUNT = "111122223333"


def register_ami(local: LocalEC2, name: str) -> str:
    """A new AMI called ``name`` behind which is the Debian base image."""
    return local.register_image(DEBIAN_IMAGE, name)


def hcl(value: Any) -> str:
    """A Python value as an HCL expression (JSON is valid HCL for these)."""
    return json.dumps(value)


def template(*, source: str, options: dict[str, Any] | None = None,
             provisioner: str = "", extra: str = "") -> str:
    lines = [
        'region = "us-east-1"',
        'instance_type = "t2.micro"',
        source,
        f"ssh_username = {hcl(DEBIAN_USER)}",
        'ssh_timeout = "60s"',
    ]
    lines += [f"{name} = {hcl(value)}" for name, value in (options or {}).items()]
    body = "\n  ".join(lines)
    return f"""
{extra}
source "amazon-ebs" "test" {{
  {body}
  aws_polling {{
    delay_seconds = 0.1
    max_attempts  = 300
  }}
}}

build {{
  sources = ["source.amazon-ebs.test"]
  {provisioner}
}}
"""


def shell(*commands: str) -> str:
    return 'provisioner "shell" {\n    inline = ' + hcl(list(commands)) + '\n  }'


def shell_local(*commands: str) -> str:
    """A provisioner that runs on this machine, not in the instance."""
    return 'provisioner "shell-local" {\n    inline = ' + hcl(list(commands)) + '\n  }'


@pytest.fixture
def run_id(monkeypatch: pytest.MonkeyPatch) -> str:
    value = "aws-" + uuid.uuid4().hex[:12]
    monkeypatch.setenv("BAKEHOUSE_RUN_ID", value)
    return value


def images_named(ec2: Any, name: str) -> list[dict[str, Any]]:
    return list(ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [name]}])["Images"])


def instance_states(ec2: Any) -> list[str]:
    return [i["State"]["Name"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]


def assert_nothing_left(moto: LocalEC2, ami_name: str, run_id: str, home: Path) -> None:
    """No AMI from this build, no running instance or its container, no
    temporary key pair or security group, no plugin process, no journal entry."""
    leftovers = wait_until_gone(run_processes(run_id), timeout=60)
    assert leftovers == [], [Path(f"/proc/{p}/cmdline").read_bytes() for p in leftovers if pid_alive(p)]
    for region in ("us-east-1", "us-west-2", "eu-west-1"):
        assert images_named(moto.client(region=region), ami_name) == [], region
    ec2 = moto.client()
    assert all(state == "terminated" for state in instance_states(ec2)), instance_states(ec2)
    assert moto.instances.containers() == []
    assert ec2.describe_key_pairs()["KeyPairs"] == []
    assert [g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]
            if g["GroupName"].startswith("bakehouse_")] == []
    journal = home / "journal" / run_id
    assert not journal.exists() or [p.name for p in journal.iterdir() if p.name != "run.json"] == []


def remote_sleeps(seconds: int) -> list[int]:
    """Live ``sleep SECONDS`` processes (the provisioner's command in the instance's
    container, which this machine's /proc shows too)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.joinpath("cmdline").read_bytes() == f"sleep\0{seconds}\0".encode():
                    if pid_alive(int(entry.name)):
                        found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_build_ami_with_shell_provisioner_in_three_regions(
    local_ec2_env: LocalEC2, bakehouse, tmp_path: Path, run_id: str, bakehouse_home: Path
) -> None:
    aws_env = local_ec2_env
    ec2 = aws_env.client()
    source = register_ami(aws_env, "base-image")
    keycheck = tmp_path / "keymodes.txt"
    plugin_tmp = tmp_path / "plugin-tmp"
    plugin_tmp.mkdir()
    ami_name = f"app-{uuid.uuid4().hex[:8]}"
    (tmp_path / "t.pkr.hcl").write_text(template(
        source=f"source_ami = {hcl(source)}",
        options={
            "ami_name": ami_name,
            "ami_regions": ["us-west-2", "eu-west-1"],
            "tags": {"App": "demo", "Team": "bakers"},
            "snapshot_tags": {"Snap": "yes"},
            "run_tags": {"Role": "builder"},
            "ami_users": [ACCOUNT],
            "snapshot_users": [ACCOUNT],
        },
        provisioner=shell("echo provisioned as $(whoami) on $(hostname)") + "\n  " + shell_local(
            # the temporary private key, while in use: 0600 file in a 0700 directory
            # (the plugin's TMPDIR is private to this test)
            f"stat -c '%a %n' {plugin_tmp}/bakehouse-aws-key-*/*.pem {plugin_tmp}/bakehouse-aws-key-* > {keycheck}",
        ),
    ))
    result = bakehouse("build", "t.pkr.hcl", cwd=tmp_path, env={"TMPDIR": str(plugin_tmp)})
    assert result.returncode == 0, result.stdout + result.stderr
    key_file, key_dir = (line.split(" ", 1) for line in keycheck.read_text().splitlines())
    assert key_file[0] == "600" and key_file[1].endswith(".pem")
    assert key_dir == ["700", os.path.dirname(key_file[1])]
    assert list(plugin_tmp.glob("bakehouse-aws-key-*")) == []  # deleted afterwards

    assert "AMIs were created:" in result.stdout
    amis = {}
    for region in ("us-east-1", "us-west-2", "eu-west-1"):
        client = aws_env.client(region=region)
        [image] = images_named(client, ami_name)
        amis[region] = image["ImageId"]
        assert f"{region}: {image['ImageId']}" in result.stdout
        assert {t["Key"]: t["Value"] for t in image["Tags"]} == {"App": "demo", "Team": "bakers", "Role": "builder"}  # run_tags reach the AMI (Packer)
        permissions = client.describe_image_attribute(ImageId=image["ImageId"],
                                                      Attribute="launchPermission")["LaunchPermissions"]
        assert permissions == [{"UserId": ACCOUNT}]
        snapshot_ids = [m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"] if "Ebs" in m]
        assert snapshot_ids, region
        for snapshot in client.describe_snapshots(SnapshotIds=snapshot_ids)["Snapshots"]:
            assert {"Key": "Snap", "Value": "yes"} in snapshot["Tags"]
            volume_permissions = client.describe_snapshot_attribute(
                SnapshotId=snapshot["SnapshotId"], Attribute="createVolumePermission"
            )["CreateVolumePermissions"]
            assert {"UserId": ACCOUNT} in volume_permissions
    assert len(set(amis.values())) == 3
    instances = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    assert [i["State"]["Name"] for i in instances] == ["terminated"]
    # the provisioner ran in the instance (its container's hostname), as the AMI's user
    assert f"provisioned as {DEBIAN_USER} on {instances[0]['InstanceId']}" in result.stdout
    assert aws_env.instances.containers() == []
    assert {"Key": "Role", "Value": "builder"} in instances[0]["Tags"]
    assert instances[0]["ImageId"] == source
    assert ec2.describe_key_pairs()["KeyPairs"] == []
    assert not [g for g in ec2.describe_security_groups()["SecurityGroups"] if g["GroupName"].startswith("bakehouse_")]
    assert wait_until_gone(run_processes(run_id), timeout=10) == []
    assert not (bakehouse_home / "journal" / run_id).exists() or not [
        p for p in (bakehouse_home / "journal" / run_id).iterdir() if p.name != "run.json"]


def test_source_ami_filter_most_recent_and_amazon_ami_data_source_pick_the_newest(
    local_ec2_env: LocalEC2, bakehouse, tmp_path: Path
) -> None:
    ec2 = local_ec2_env.client()
    ids = []
    for index in range(3):
        ids.append(register_ami(local_ec2_env, f"ubuntu-base-{index}"))
        time.sleep(1.1)  # moto's creation dates have one-second resolution
    newest = ids[-1]
    image_filter = {"filters": {"name": "ubuntu-base-*"}, "owners": ["self"], "most_recent": True}
    data = """
data "amazon-ami" "base" {
  region      = "us-east-1"
  filters     = { name = "ubuntu-base-*" }
  owners      = ["self"]
  most_recent = true
}
"""
    ami_name = f"filtered-{uuid.uuid4().hex[:8]}"
    source_filter = (
        f"source_ami_filter {{\n    filters = {hcl(image_filter['filters'])}\n"
        f"    owners = {hcl(image_filter['owners'])}\n    most_recent = true\n  }}"
    )
    (tmp_path / "t.pkr.hcl").write_text(template(
        source=source_filter,
        options={"ami_name": ami_name},
        # (build.SourceAMI is not offered: the template layer knows only the common build.* names)
        provisioner=shell('echo "instance=${build.ID}"'),
        extra=data,
    ).replace('ssh_timeout = "60s"', 'ssh_timeout = "60s"\n  tags = { Base = data.amazon-ami.base.id }'))
    result = bakehouse("build", "t.pkr.hcl", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    [image] = images_named(ec2, ami_name)
    assert {"Key": "Base", "Value": newest} in image["Tags"]  # the data source's id
    [instance] = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    assert instance["ImageId"] == newest  # the source_ami_filter's pick
    assert f"instance={instance['InstanceId']}" in result.stdout


def test_force_deregister_replaces_an_existing_ami_and_without_it_nothing_launches(
    local_ec2_env: LocalEC2, bakehouse, tmp_path: Path
) -> None:
    ec2 = local_ec2_env.client()
    source = register_ami(local_ec2_env, "base-image")
    ami_name = f"replace-me-{uuid.uuid4().hex[:6]}"
    # an existing AMI of that name, with its snapshot, made the way a build makes it
    instance = ec2.run_instances(ImageId=source, MinCount=1, MaxCount=1, InstanceType="t2.micro")
    old = ec2.create_image(InstanceId=instance["Instances"][0]["InstanceId"], Name=ami_name)["ImageId"]
    ec2.terminate_instances(InstanceIds=[instance["Instances"][0]["InstanceId"]])
    old_snapshots = [m["Ebs"]["SnapshotId"] for m in ec2.describe_images(ImageIds=[old])["Images"][0]["BlockDeviceMappings"] if "Ebs" in m]
    assert old_snapshots
    instances_before = len(instance_states(ec2))

    options: dict[str, Any] = {"ami_name": ami_name}
    (tmp_path / "t.pkr.hcl").write_text(template(source=f"source_ami = {hcl(source)}",
                                                 options=options, provisioner=shell("echo hi")))
    refused = bakehouse("build", "t.pkr.hcl", cwd=tmp_path)
    assert refused.returncode == 1
    assert f"is used by an existing AMI: {old}" in refused.stdout + refused.stderr
    assert len(instance_states(ec2)) == instances_before  # nothing was launched
    assert "Launching a source AWS instance" not in refused.stdout

    options.update(force_deregister=True, force_delete_snapshot=True)
    (tmp_path / "t.pkr.hcl").write_text(template(source=f"source_ami = {hcl(source)}",
                                                 options=options, provisioner=shell("echo hi")))
    replaced = bakehouse("build", "t.pkr.hcl", cwd=tmp_path)
    assert replaced.returncode == 0, replaced.stdout + replaced.stderr
    images = images_named(ec2, ami_name)
    assert len(images) == 1 and images[0]["ImageId"] != old
    assert f"Deregistered AMI id: {old}" in replaced.stdout
    remaining = {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert not remaining & set(old_snapshots)
    assert not local_ec2_env.instances.has_image(old)  # its image went with it
    assert local_ec2_env.instances.has_image(images[0]["ImageId"])


def test_failing_provisioner_leaves_no_ami_instance_key_pair_or_group(
    local_ec2_env: LocalEC2, bakehouse, tmp_path: Path, run_id: str, bakehouse_home: Path
) -> None:
    aws_env = local_ec2_env
    source = aws_env.base_ami()
    ami_name = f"failing-{uuid.uuid4().hex[:8]}"
    (tmp_path / "t.pkr.hcl").write_text(template(
        source=f"source_ami = {hcl(source)}",
        options={"ami_name": ami_name, "ami_regions": ["us-west-2"]},
        provisioner=shell("echo about to fail", "exit 3"),
    ))
    result = bakehouse("build", "t.pkr.hcl", cwd=tmp_path)
    assert result.returncode == 1
    assert "errored after" in result.stdout
    assert "Terminating the source AWS instance" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert_nothing_left(aws_env, ami_name, run_id, bakehouse_home)


def _start_build(tmp_path: Path) -> subprocess.Popen[str]:
    # A new session, so the test can signal the group the way a terminal does.
    return subprocess.Popen([bakehouse_exe(), "build", "t.pkr.hcl"], cwd=tmp_path, env=dict(os.environ),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError("build ended early:\n" + out + err)
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {path}")
        time.sleep(0.05)


def _wait_for_sleep(seconds: int, proc: subprocess.Popen[str], timeout: float = 30) -> None:
    """The provisioner's ``sleep`` runs in the instance (it starts just after ``started``)."""
    deadline = time.monotonic() + timeout
    while not remote_sleeps(seconds):
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError("build ended early:\n" + out + err)
        if time.monotonic() > deadline:
            raise AssertionError(f"no 'sleep {seconds}' in the instance within {timeout}s")
        time.sleep(0.05)


def _interrupted_template(tmp_path: Path, source: str, ami_name: str, seconds: int) -> Path:
    """A build whose provisioner sleeps in the instance; ``started`` appears
    on this machine (a shell-local provisioner) once the instance is in use."""
    started = tmp_path / "started"
    (tmp_path / "t.pkr.hcl").write_text(template(
        source=f"source_ami = {hcl(source)}",
        options={"ami_name": ami_name},
        provisioner=shell("echo connected") + "\n  " + shell_local(f"touch {started}") + "\n  "
        + shell(f"sleep {seconds}"),
    ))
    return started


def test_sigint_during_provisioning_leaves_nothing_behind(
    local_ec2_env: LocalEC2, tmp_path: Path, run_id: str, bakehouse_home: Path
) -> None:
    aws_env = local_ec2_env
    source = aws_env.base_ami()
    ami_name = f"sigint-{uuid.uuid4().hex[:8]}"
    seconds = random.randint(400, 499)
    started = _interrupted_template(tmp_path, source, ami_name, seconds)
    proc = _start_build(tmp_path)
    try:
        _wait_for(started, proc)
        _wait_for_sleep(seconds, proc)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert "Terminating the source AWS instance" in out, out + err
    assert "Traceback" not in out + err
    assert_nothing_left(aws_env, ami_name, run_id, bakehouse_home)
    assert wait_until_gone(remote_sleeps(seconds), timeout=10) == []


def test_sigkill_of_the_core_during_provisioning_leaves_nothing_behind(
    local_ec2_env: LocalEC2, tmp_path: Path, run_id: str, bakehouse_home: Path
) -> None:
    aws_env = local_ec2_env
    source = aws_env.base_ami()
    ami_name = f"sigkill-{uuid.uuid4().hex[:8]}"
    seconds = random.randint(500, 599)
    started = _interrupted_template(tmp_path, source, ami_name, seconds)
    proc = _start_build(tmp_path)
    try:
        _wait_for(started, proc)
        _wait_for_sleep(seconds, proc)
        everything = run_processes(run_id)
        plugins = [pid for pid in everything if b"bakehouse-plugin-" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        core = [pid for pid in everything if pid not in plugins]
        assert any(b"bakehouse-plugin-aws" in Path(f"/proc/{p}/cmdline").read_bytes() for p in plugins)
        assert proc.pid in core
        for pid in core:  # the supervisor and its worker: kill -9 all of the core
            os.kill(pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    # The plugins see EOF on their pipes, cancel, clean up and exit by themselves.
    assert wait_until_gone(plugins, timeout=120) == []
    assert_nothing_left(aws_env, ami_name, run_id, bakehouse_home)
    assert wait_until_gone(remote_sleeps(seconds), timeout=10) == []


def test_skip_create_ami_provisions_but_makes_no_ami(
    local_ec2_env: LocalEC2, bakehouse, tmp_path: Path, run_id: str, bakehouse_home: Path
) -> None:
    aws_env = local_ec2_env
    ec2 = aws_env.client()
    source = aws_env.base_ami()
    (tmp_path / "t.pkr.hcl").write_text(template(
        source=f"source_ami = {hcl(source)}",
        options={"skip_create_ami": True},
        provisioner=shell("echo ran on $(hostname)"),
    ))
    result = bakehouse("build", "t.pkr.hcl", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    [instance_id] = [i["InstanceId"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    assert f"ran on {instance_id}" in result.stdout
    assert "Skipping AMI creation" in result.stdout
    assert ec2.describe_images(Owners=["self"])["Images"] == [
        i for i in ec2.describe_images(Owners=["self"])["Images"] if i["ImageId"] == source]
    assert instance_states(ec2) == ["terminated"]
    assert_nothing_left(aws_env, "no-such-ami", run_id, bakehouse_home)


def test_communicator_none_builds_an_ami_without_connecting(
    local_ec2_env: LocalEC2, bakehouse, tmp_path: Path, run_id: str, bakehouse_home: Path
) -> None:
    ec2 = local_ec2_env.client()
    source = local_ec2_env.base_ami()
    ami_name = f"nocomm-{uuid.uuid4().hex[:8]}"
    (tmp_path / "t.pkr.hcl").write_text(template(
        source=f"source_ami = {hcl(source)}",
        options={"ami_name": ami_name, "communicator": "none"},
    ))
    result = bakehouse("build", "t.pkr.hcl", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Waiting for SSH" not in result.stdout
    [image] = images_named(ec2, ami_name)
    assert f"us-east-1: {image['ImageId']}" in result.stdout
    assert ec2.describe_key_pairs()["KeyPairs"] == []
    assert instance_states(ec2) == ["terminated"]


def test_mistakes_in_the_source_block_point_at_the_template_line(
    local_ec2_env: LocalEC2, bakehouse, tmp_path: Path
) -> None:
    text = template(source='source_ami = "ami-12345678"',
                    options={"ami_name": "ok-name", "instance_typo": "x"})
    (tmp_path / "t.pkr.hcl").write_text(text)
    result = bakehouse("validate", "t.pkr.hcl", cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 1
    line = next(n for n, text_line in enumerate(text.splitlines(), 1) if "instance_typo" in text_line)
    assert f"t.pkr.hcl line {line}" in output and "'instance_typo' is not expected" in output, output
    assert "Traceback" not in output

    # conflicting options: each problem names its own line
    text = template(source='source_ami = "ami-12345678"',
                    options={"ami_name": "ok-name", "ami_regions": ["mars-north-1"], "kms_key_id": "k"})
    (tmp_path / "t.pkr.hcl").write_text(text)
    result = bakehouse("validate", "t.pkr.hcl", cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 1
    for option, message in (("ami_regions", "Unknown region 'mars-north-1'"), ("kms_key_id", "encrypt_boot")):
        line = next(n for n, text_line in enumerate(text.splitlines(), 1)
                    if text_line.strip().startswith(option))
        assert f"t.pkr.hcl line {line}" in output and message in output, output


def test_bakehouse_cleanup_removes_what_a_killed_run_left_in_ec2(
    local_ec2_env: LocalEC2, bakehouse, tmp_path: Path, run_id: str, bakehouse_home: Path
) -> None:
    """kill -9 of everything (core and plugins) mid-provisioning leaves the
    instance (a running container), key pair and security group; their
    journal entries let ``bakehouse cleanup`` remove them through the aws
    plugin's cleaners, and terminating the instance removes its container."""
    aws_env = local_ec2_env
    ec2 = aws_env.client()
    source = aws_env.base_ami()
    ami_name = f"killed-{uuid.uuid4().hex[:8]}"
    seconds = random.randint(600, 699)
    started = _interrupted_template(tmp_path, source, ami_name, seconds)
    proc = _start_build(tmp_path)
    try:
        _wait_for(started, proc)
        _wait_for_sleep(seconds, proc)
        kill_9_at_once(run_processes(run_id))
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert wait_until_gone(run_processes(run_id), timeout=10) == []
    assert instance_states(ec2) == ["running"]
    # the instance still runs (its provisioner's command ends with the dropped SSH session)
    [container] = aws_env.instances.containers()
    container.reload()
    assert container.status == "running"
    assert len(ec2.describe_key_pairs()["KeyPairs"]) == 1

    # (a run id of its own: this test's run id in its environment would make
    # the cleanup command look like a live process of the killed run)
    result = bakehouse("cleanup", cwd=tmp_path, env={"BAKEHOUSE_RUN_ID": "cleanup-" + run_id})
    assert result.returncode == 0, result.stdout + result.stderr
    instance_id = [i["InstanceId"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]][0]
    assert instance_id in result.stdout + result.stderr
    assert_nothing_left(aws_env, ami_name, run_id, bakehouse_home)
    assert wait_until_gone(remote_sleeps(seconds), timeout=10) == []
