"""The amazon-ebs builder in-process, against a real moto server over HTTP
and a real sshd on loopback standing in for the instance."""

from __future__ import annotations

import os
import stat
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from bakehouse.sdk import (
    HOOK_PROVISION,
    BuildInfo,
    Cancelled,
    Communicator,
    ConfigError,
    Context,
    Hook,
    Journal,
    JournalEntry,
    Ui,
)
from bakehouse.sdk.journal import journal_root, load_entries
from bakehouse.testing import require
from bakehouse.testing.servers import MotoServer, SshServer, sshd_accepts_moto_keys
from bakehouse_plugin_aws.artifact import AmiArtifact
from bakehouse_plugin_aws.builder import AmazonEBSBuilder
from bakehouse_plugin_aws.config import parse_builder_config
from bakehouse_plugin_aws.datasource import AmazonAmiDatasource
from bakehouse_plugin_aws.ec2 import Connection
from bakehouse_plugin_aws.resources import (
    KIND_INSTANCE,
    KIND_KEY_PAIR,
    KIND_SECURITY_GROUP,
    NotOurs,
    clean_instance,
    clean_key_pair,
    clean_security_group,
    tag_specification,
)

pytestmark = [pytest.mark.moto, pytest.mark.ssh]


class RecordingUi(Ui):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def say(self, message: str) -> None:
        self.lines.append(message)

    def message(self, message: str) -> None:
        self.lines.append(message)

    def error(self, message: str) -> None:
        self.lines.append("ERROR " + message)


class CommandHook(Hook):
    """Runs one shell command through the builder's communicator, as the
    shell provisioner would; ``check`` may inspect the generated data."""

    def __init__(self, command: str = "echo provisioned", check: Any = None) -> None:
        self.command = command
        self.check = check
        self.calls: list[tuple[str, Communicator | None, dict[str, Any]]] = []
        self.output = bytearray()

    def run(self, name: str, ui: Ui, communicator: Communicator | None, data: dict[str, Any],
            ctx: Context) -> None:
        self.calls.append((name, communicator, dict(data)))
        if name != HOOK_PROVISION:
            return
        if self.check is not None:
            self.check(communicator, data, ctx)
        if communicator is None:
            return
        status = communicator.execute(self.command, on_stdout=self.output.extend,
                                      on_stderr=self.output.extend, ctx=ctx)
        if status != 0:
            raise RuntimeError(f"Script exited with non-zero exit status: {status}")


def register_source_ami(ec2: Any, name: str = "bakehouse-source") -> str:
    return str(ec2.register_image(
        Name=name,
        Architecture="x86_64",
        RootDeviceName="/dev/sda1",
        VirtualizationType="hvm",
        BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 8}}],
    )["ImageId"])


def base_config(sshd: SshServer, source_ami: str, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "region": "us-east-1",
        "instance_type": "t2.micro",
        "source_ami": source_ami,
        "ami_name": f"bakehouse-test-{uuid.uuid4().hex[:8]}",
        "ssh_username": sshd.user,
        "ssh_host": sshd.host,
        "ssh_port": sshd.port,
        "ssh_timeout": "30s",
        "aws_polling": {"delay_seconds": 0.1, "max_attempts": 200},
    }
    config.update(extra)
    return config


def build_info(**extra: Any) -> BuildInfo:
    return BuildInfo(name="test", builder_type="amazon-ebs", run_id="run-" + uuid.uuid4().hex[:8], **extra)


def prepared(config: dict[str, Any], **info: Any) -> AmazonEBSBuilder:
    builder = AmazonEBSBuilder()
    builder.prepare(config, build_info(**info))
    return builder


def images_named(ec2: Any, name: str) -> list[dict[str, Any]]:
    return list(ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [name]}])["Images"])


def assert_no_temporary_resources(moto: MotoServer, ami_name: str, run_id: str) -> None:
    ec2 = moto.client()
    assert images_named(ec2, ami_name) == []
    states = [i["State"]["Name"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    assert all(s == "terminated" for s in states), states
    assert ec2.describe_key_pairs()["KeyPairs"] == []
    assert [g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]
            if g["GroupName"].startswith("bakehouse_")] == []
    assert load_entries(journal_root() / run_id) == []


@pytest.fixture
def ssh_key_env(bakehouse_sshd: SshServer) -> SshServer:
    require(sshd_accepts_moto_keys(), "root, for sshd's AuthorizedKeysCommand (temporary key pairs)")
    return bakehouse_sshd


def test_full_build_makes_amis_in_three_regions(bakehouse_aws_env: MotoServer, ssh_key_env: SshServer) -> None:
    ec2 = bakehouse_aws_env.client()
    source = register_source_ami(ec2)
    config = base_config(
        ssh_key_env, source,
        ami_regions=["us-west-2", "eu-west-1"],
        tags={"Project": "bakehouse", "Base": "source"},
        snapshot_tags={"Kind": "snapshot"},
        run_tags={"Purpose": "build"},
        ami_users=["111122223333"],
        snapshot_users=["111122223333"],
        ami_description="built by test",
    )
    builder = prepared(config)
    key_modes: list[tuple[int, int]] = []

    def check(comm: Communicator | None, data: dict[str, Any], ctx: Context) -> None:
        path = data["SSHPrivateKeyFile"]
        key_modes.append((stat.S_IMODE(os.stat(path).st_mode), stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode)))
        assert data["SSHPrivateKey"].startswith("-----BEGIN")
        assert data["ID"].startswith("i-")
        assert (data["Host"], data["Port"], data["User"]) == (ssh_key_env.host, ssh_key_env.port, ssh_key_env.user)
        assert data["SourceAMI"] == source

    hook = CommandHook("echo provisioned-by-$(whoami)", check)
    ui = RecordingUi()
    artifact = builder.run(ui, hook, Context())
    assert isinstance(artifact, AmiArtifact)
    assert hook.output.decode().strip() == f"provisioned-by-{ssh_key_env.user}"
    assert key_modes == [(0o600, 0o700)]
    key_path = hook.calls[0][2]["SSHPrivateKeyFile"]
    assert not os.path.exists(key_path) and not os.path.exists(os.path.dirname(key_path))

    assert sorted(artifact.amis) == ["eu-west-1", "us-east-1", "us-west-2"]
    assert artifact.string().startswith("AMIs were created:\n")
    for region, ami in artifact.amis.items():
        assert f"{region}: {ami}" in artifact.string()
        client = bakehouse_aws_env.client(region=region)
        image = client.describe_images(ImageIds=[ami])["Images"][0]
        assert image["Name"] == config["ami_name"]
        # run_tags reach the AMI too, as in Packer (unless skip_ami_run_tags)
        assert {t["Key"]: t["Value"] for t in image["Tags"]} == {"Project": "bakehouse", "Base": "source",
                                                                  "Purpose": "build"}
        perms = client.describe_image_attribute(ImageId=ami, Attribute="launchPermission")["LaunchPermissions"]
        assert {"UserId": "111122223333"} in perms
        snapshots = [m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"] if "Ebs" in m]
        assert snapshots
        for snapshot in client.describe_snapshots(SnapshotIds=snapshots)["Snapshots"]:
            assert {"Key": "Kind", "Value": "snapshot"} in snapshot.get("Tags", [])
    assert artifact.id == ",".join(f"{r}:{a}" for r, a in sorted(artifact.amis.items()))
    assert artifact.state("atlas.artifact.ami_map") == artifact.amis
    instances = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    assert [i["State"]["Name"] for i in instances] == ["terminated"]
    assert {"Key": "Purpose", "Value": "build"} in instances[0]["Tags"]
    assert ec2.describe_key_pairs()["KeyPairs"] == []
    assert not [g for g in ec2.describe_security_groups()["SecurityGroups"] if g["GroupName"].startswith("bakehouse_")]
    assert load_entries(journal_root() / builder.build.run_id) == []

    artifact.destroy()
    for region in artifact.amis:
        assert images_named(bakehouse_aws_env.client(region=region), config["ami_name"]) == []


def test_source_ami_filter_most_recent_and_data_source_agree(bakehouse_aws_env: MotoServer, bakehouse_sshd: SshServer) -> None:
    ec2 = bakehouse_aws_env.client()
    ids = []
    for index in range(3):
        ids.append(register_source_ami(ec2, f"base-image-{index}"))
        time.sleep(1.1)  # moto's creation dates have one-second resolution
    image_filter = {"filters": {"name": "base-image-*"}, "owners": ["self"], "most_recent": True}
    builder = prepared(base_config(bakehouse_sshd, "", source_ami_filter=image_filter,
                                   ssh_private_key_file=str(bakehouse_sshd.client_key),
                                   skip_create_ami=True))
    hook = CommandHook()
    assert builder.run(RecordingUi(), hook, Context()) is None
    assert hook.calls[0][2]["SourceAMI"] == ids[-1]
    assert hook.calls[0][2]["SourceAMIName"] == "base-image-2"

    datasource = AmazonAmiDatasource()
    datasource.configure({"region": "us-east-1", **image_filter})
    outputs = datasource.execute()
    assert outputs["id"] == ids[-1]
    assert outputs["name"] == "base-image-2"
    assert outputs["owner"] and outputs["creation_date"]

    ambiguous = AmazonAmiDatasource()
    ambiguous.configure({"region": "us-east-1", "filters": {"name": "base-image-*"}, "owners": ["self"]})
    with pytest.raises(Exception, match="more than one result"):
        ambiguous.execute()


def test_taken_ami_name_fails_before_launching_and_force_deregister_replaces_it(
    bakehouse_aws_env: MotoServer, bakehouse_sshd: SshServer
) -> None:
    ec2 = bakehouse_aws_env.client()
    source = register_source_ami(ec2)
    config = base_config(bakehouse_sshd, source, ssh_private_key_file=str(bakehouse_sshd.client_key))
    first = prepared(config).run(RecordingUi(), CommandHook(), Context())
    assert isinstance(first, AmiArtifact)
    old_ami = first.amis["us-east-1"]
    old_snapshots = [m["Ebs"]["SnapshotId"] for m in ec2.describe_images(ImageIds=[old_ami])["Images"][0]["BlockDeviceMappings"] if "Ebs" in m]
    instances_before = len(ec2.describe_instances()["Reservations"])

    hook = CommandHook()
    with pytest.raises(Exception, match=rf"used by an existing AMI: {old_ami}"):
        prepared(config).run(RecordingUi(), hook, Context())
    assert hook.calls == []
    assert len(ec2.describe_instances()["Reservations"]) == instances_before
    assert ec2.describe_key_pairs()["KeyPairs"] == []

    second = prepared({**config, "force_deregister": True, "force_delete_snapshot": True}).run(
        RecordingUi(), CommandHook(), Context())
    assert isinstance(second, AmiArtifact)
    assert [i["ImageId"] for i in images_named(ec2, config["ami_name"])] == [second.amis["us-east-1"]]
    assert second.amis["us-east-1"] != old_ami
    remaining = {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert not remaining & set(old_snapshots)


def test_failing_provisioner_leaves_nothing_behind(bakehouse_aws_env: MotoServer, ssh_key_env: SshServer) -> None:
    source = register_source_ami(bakehouse_aws_env.client())
    builder = prepared(base_config(ssh_key_env, source))
    with pytest.raises(RuntimeError, match="non-zero exit status: 7"):
        builder.run(RecordingUi(), CommandHook("exit 7"), Context())
    assert_no_temporary_resources(bakehouse_aws_env, builder.config.ami_name, builder.build.run_id)


def test_cancel_during_provisioning_leaves_nothing_behind(bakehouse_aws_env: MotoServer, ssh_key_env: SshServer,
                                                          tmp_path: Path) -> None:
    source = register_source_ami(bakehouse_aws_env.client())
    # (an ed25519 temporary key pair this time: the connection must work with it too)
    builder = prepared(base_config(ssh_key_env, source, temporary_key_pair_type="ed25519"))
    ctx = Context()
    marker = tmp_path / "started"
    threading.Thread(target=lambda: (_wait_for(marker), ctx.cancel("interrupted")), daemon=True).start()
    with pytest.raises(Cancelled):
        builder.run(RecordingUi(), CommandHook(f"touch {marker}; sleep 60"), ctx)
    assert_no_temporary_resources(bakehouse_aws_env, builder.config.ami_name, builder.build.run_id)


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + 30
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_on_error_abort_keeps_the_instance(bakehouse_aws_env: MotoServer, bakehouse_sshd: SshServer) -> None:
    source = register_source_ami(bakehouse_aws_env.client())
    builder = prepared(base_config(bakehouse_sshd, source, ssh_private_key_file=str(bakehouse_sshd.client_key)),
                       on_error="abort")
    with pytest.raises(RuntimeError):
        builder.run(RecordingUi(), CommandHook("exit 1"), Context())
    states = [i["State"]["Name"] for r in bakehouse_aws_env.client().describe_instances()["Reservations"] for i in r["Instances"]]
    assert states == ["running"]
    # what abort left is in the journal, so `bakehouse cleanup` can remove it
    entries = load_entries(journal_root() / builder.build.run_id)
    by_kind = {e.kind for e in entries}
    assert {KIND_INSTANCE, KIND_SECURITY_GROUP} <= by_kind
    for entry in entries:
        {KIND_INSTANCE: clean_instance, KIND_SECURITY_GROUP: clean_security_group}.get(entry.kind, lambda e: None)(entry)
    assert_no_journal_resources(bakehouse_aws_env)


def assert_no_journal_resources(moto: MotoServer) -> None:
    ec2 = moto.client()
    states = [i["State"]["Name"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    assert all(s == "terminated" for s in states)
    assert not [g for g in ec2.describe_security_groups()["SecurityGroups"] if g["GroupName"].startswith("bakehouse_")]


def test_skip_create_ami_and_communicator_none(bakehouse_aws_env: MotoServer, bakehouse_sshd: SshServer) -> None:
    ec2 = bakehouse_aws_env.client()
    source = register_source_ami(ec2)
    hook = CommandHook()
    builder = prepared(base_config(bakehouse_sshd, source, communicator="none"))
    artifact = builder.run(RecordingUi(), hook, Context())
    assert isinstance(artifact, AmiArtifact)
    assert hook.calls[0][1] is None and hook.calls[0][2]["ConnType"] == "none"
    assert ec2.describe_key_pairs()["KeyPairs"] == []  # no key pair without a communicator

    skipped = prepared(base_config(bakehouse_sshd, source, skip_create_ami=True,
                                   ssh_private_key_file=str(bakehouse_sshd.client_key)))
    hook = CommandHook()
    assert skipped.run(RecordingUi(), hook, Context()) is None
    assert hook.output == b"provisioned\n"
    assert images_named(ec2, skipped.config.ami_name) == []


def test_cleaners_remove_leftovers_they_own_and_refuse_the_others(bakehouse_aws_env: MotoServer) -> None:
    ec2 = bakehouse_aws_env.client()
    source = register_source_ami(ec2)
    run = "run-" + uuid.uuid4().hex[:8]
    ec2.create_key_pair(KeyName="bakehouse_left",
                        TagSpecifications=[tag_specification("key-pair", run)])
    group = ec2.create_security_group(GroupName="bakehouse_leftsg", Description="x",
                                      TagSpecifications=[tag_specification("security-group", run)])["GroupId"]
    instance = ec2.run_instances(ImageId=source, MinCount=1, MaxCount=1, InstanceType="t2.micro",
                                 SecurityGroupIds=[group],
                                 TagSpecifications=[tag_specification("instance", run)],
                                 )["Instances"][0]["InstanceId"]
    ec2.create_key_pair(KeyName="someone_elses")
    details = Connection().journal_details("us-east-1")

    def entry(kind: str, resource_id: str, run_id: str = run) -> JournalEntry:
        return JournalEntry("bakehouse-plugin-aws", kind, resource_id, details, run_id=run_id)

    with pytest.raises(NotOurs, match="refusing to delete instance"):
        clean_instance(entry(KIND_INSTANCE, instance, run_id="another-run"))
    with pytest.raises(NotOurs, match="refusing to delete key pair someone_elses"):
        clean_key_pair(entry(KIND_KEY_PAIR, "someone_elses"))
    clean_instance(entry(KIND_INSTANCE, instance))
    clean_key_pair(entry(KIND_KEY_PAIR, "bakehouse_left"))
    clean_security_group(entry(KIND_SECURITY_GROUP, "bakehouse_leftsg"))
    assert ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]["State"]["Name"] == "terminated"
    assert [k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]] == ["someone_elses"]
    assert not [g for g in ec2.describe_security_groups()["SecurityGroups"] if g["GroupId"] == group]


def test_unknown_and_conflicting_options_name_their_paths(tmp_path: Path) -> None:
    builder = AmazonEBSBuilder()
    with pytest.raises(ConfigError) as info:
        builder.prepare({"region": "us-east-1", "instance_type": "t2.micro", "source_ami": "ami-1",
                         "ami_name": "x-name", "ssh_username": "u", "ami_nmae": "typo",
                         "aws_polling": {"delay_seconds": 1, "max_tries": 3}}, build_info())
    paths = {p.path for p in info.value.problems}
    assert ("ami_nmae",) in paths and ("aws_polling", "max_tries") in paths

    user_data = tmp_path / "ud.sh"
    user_data.write_text("#!/bin/sh\n")
    with pytest.raises(ConfigError) as info:
        builder.prepare({"region": "us-east-1", "source_ami_filter": {"filters": {"name": "x"}},
                         "user_data": "x", "user_data_file": str(user_data),
                         "ami_regions": ["us-east-1", "mars-north-1"], "ssh_keypair_name": "k",
                         "kms_key_id": "k", "ssh_agent_auth": False}, build_info())
    messages = {p.path: p.message for p in info.value.problems}
    assert "instance_type" in messages[("instance_type",)]
    assert "ami_name" in messages[("ami_name",)]
    assert "owners" in messages[("source_ami_filter", "owners")]
    assert "Only one of user_data" in messages[("user_data_file",)]
    assert "mars-north-1" in messages[("ami_regions", 1)]
    assert "ssh_username" in messages[("ssh_username",)]
    assert "ssh_private_key_file" in messages[("ssh_private_key_file",)]
    assert "encrypt_boot" in messages[("kms_key_id",)]

    # as in Packer, the build region in ami_regions (and a repeat) is left out, with a warning
    result = builder.prepare({"region": "us-east-1", "instance_type": "t2.micro", "source_ami": "ami-1",
                              "ami_name": "x-name", "ssh_username": "u",
                              "ami_regions": ["us-east-1", "us-west-2", "us-west-2"]}, build_info())
    assert builder.config.ami_regions == ["us-west-2"]
    assert any("build region us-east-1 is left out" in w for w in result.warnings)

    # ssh_agent_auth works: with it (as in Packer) no temporary key pair is made
    agent = parse_builder_config({"region": "us-east-1", "instance_type": "t", "source_ami": "ami-1",
                                  "ami_name": "ok-name", "ssh_username": "u", "ssh_agent_auth": True})
    assert not agent.temporary_key_pair_wanted()


def test_polling_errors_name_the_resource(bakehouse_aws_env: MotoServer, bakehouse_sshd: SshServer) -> None:
    """A waiter that runs out of attempts says which resource it waited for."""
    from bakehouse_plugin_aws.config import Polling
    from bakehouse_plugin_aws.ec2 import AwsError, wait_until

    with pytest.raises(AwsError, match=r"instance i-0123.*'running'.*3 attempts"):
        wait_until(Context(), Polling(delay_seconds=0.01, max_attempts=3), "instance i-0123", "running",
                   lambda: "pending")
    journal = Journal("unused")
    assert journal.run_id == "unused"


def test_encrypt_boot_replaces_the_ami_by_an_encrypted_copy(bakehouse_aws_env: MotoServer, bakehouse_sshd: SshServer) -> None:
    ec2 = bakehouse_aws_env.client()
    source = register_source_ami(ec2)
    ui = RecordingUi()
    builder = prepared(base_config(bakehouse_sshd, source, ssh_private_key_file=str(bakehouse_sshd.client_key),
                                   encrypt_boot=True, kms_key_id="alias/bakehouse",
                                   ami_regions=["us-west-2"],
                                   region_kms_key_ids={"us-west-2": "alias/west"}))
    artifact = builder.run(ui, CommandHook(), Context())
    assert isinstance(artifact, AmiArtifact)
    unencrypted = next(line.split("AMI ", 1)[1].strip() for line in ui.lines
                       if line.startswith("Deregistering unencrypted AMI"))
    assert artifact.amis["us-east-1"] != unencrypted
    assert [i["ImageId"] for i in images_named(ec2, builder.config.ami_name)] == [artifact.amis["us-east-1"]]
    assert images_named(bakehouse_aws_env.client(region="us-west-2"), builder.config.ami_name)[0]["ImageId"] == artifact.amis["us-west-2"]


def test_subnet_and_security_group_filters_choose_the_network(bakehouse_aws_env: MotoServer, bakehouse_sshd: SshServer) -> None:
    ec2 = bakehouse_aws_env.client()
    source = register_source_ami(ec2)
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    small = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.1.0/28", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    large = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.64.0/20", AvailabilityZone="us-east-1b")["Subnet"]["SubnetId"]
    for subnet in (small, large):
        ec2.create_tags(Resources=[subnet], Tags=[{"Key": "Tier", "Value": "build"}])
    group = ec2.create_security_group(GroupName="builders", Description="x", VpcId=vpc)["GroupId"]
    ec2.create_tags(Resources=[group], Tags=[{"Key": "Role", "Value": "builder"}])
    builder = prepared(base_config(
        bakehouse_sshd, source, ssh_private_key_file=str(bakehouse_sshd.client_key), skip_create_ami=True,
        subnet_filter=[{"filters": {"tag:Tier": "build"}, "most_free": True}],
        security_group_filter=[{"filters": {"tag:Role": "builder"}}],
        user_data="#!/bin/sh\necho hello\n",
        launch_block_device_mappings=[{"device_name": "/dev/sdb", "volume_size": 20,
                                       "volume_type": "gp3", "delete_on_termination": True}],
    ))
    hook = CommandHook()
    builder.run(RecordingUi(), hook, Context())
    [instance] = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    assert instance["SubnetId"] == large  # the one with the most free addresses
    import base64

    user_data = ec2.describe_instance_attribute(InstanceId=instance["InstanceId"], Attribute="userData")
    assert base64.b64decode(user_data["UserData"]["Value"]) == b"#!/bin/sh\necho hello\n"
    assert [g["GroupId"] for g in instance["SecurityGroups"]] == [group]
    assert not [g for g in ec2.describe_security_groups()["SecurityGroups"] if g["GroupName"].startswith("bakehouse_")]
    assert [g["GroupId"] for g in ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["SecurityGroups"]
            if g["GroupName"] == "builders"] == [group]  # the user's group is left alone


def test_instance_address_follows_ssh_interface() -> None:
    from bakehouse_plugin_aws.steps import instance_address

    instance = {"PublicIpAddress": "203.0.113.5", "PrivateIpAddress": "10.0.0.5",
                "PublicDnsName": "ec2-203-0-113-5.example", "PrivateDnsName": "ip-10-0-0-5.internal"}
    assert instance_address(instance, "") == "ec2-203-0-113-5.example"  # EC2-Classic: the public name
    assert instance_address({**instance, "VpcId": "vpc-1"}, "") == "203.0.113.5"  # in a VPC: the public IP
    assert instance_address({"VpcId": "vpc-1", "PrivateIpAddress": "10.0.0.5"}, "") == "10.0.0.5"
    assert instance_address(instance, "public_ip") == "203.0.113.5"
    assert instance_address(instance, "private_ip") == "10.0.0.5"
    assert instance_address(instance, "private_dns") == "ip-10-0-0-5.internal"
    assert instance_address({"PrivateIpAddress": "10.0.0.5"}, "") == "10.0.0.5"
    assert instance_address({"PrivateIpAddress": "10.0.0.5"}, "public_ip") == ""
