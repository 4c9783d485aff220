"""Packer's amazon-ebs options beyond the basics, each checked where it lands:
moto's state when moto keeps it, otherwise the request moto's recorder saw
(moto's server records every request it receives over HTTP)."""

from __future__ import annotations

import base64
import http.server
import json
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bakehouse.sdk import ConfigError, Context, option_status
from bakehouse.testing.servers import MotoServer, SshServer, ssh_agent
from bakehouse_plugin_aws.config import AmazonEBSConfig, parse_builder_config
from test_amazon_ebs import CommandHook, RecordingUi, base_config, prepared, register_source_ami

pytestmark = [pytest.mark.moto, pytest.mark.ssh]


class Recorder:
    """moto's request recorder: what reached the API, as (Action, params) pairs."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def _post(self, what: str) -> None:
        request = urllib.request.Request(f"{self.endpoint}/moto-api/recorder/{what}", method="POST")
        urllib.request.urlopen(request, timeout=10).read()

    def calls(self, action: str) -> list[dict[str, str]]:
        return [entry["params"] for entry in self.entries(action)]

    def entries(self, action: str) -> list[dict[str, Any]]:
        """The recorded requests of ``action``: moto's entries (``headers``...) with their ``params``."""
        raw = urllib.request.urlopen(f"{self.endpoint}/moto-api/recorder/download-recording", timeout=10).read()
        found = []
        for line in raw.decode().splitlines():
            entry = json.loads(line)
            body = entry.get("body") or ""
            if entry.get("body_encoded"):
                body = base64.b64decode(body).decode()
            params = {k: v[0] for k, v in urllib.parse.parse_qs(body, keep_blank_values=True).items()}
            if params.get("Action") == action:
                found.append({**entry, "params": params})
        return found

    def signers(self, action: str) -> set[str]:
        """The access key ids that signed the requests of ``action``."""
        found = set()
        for entry in self.entries(action):
            authorization = entry["headers"].get("Authorization", "")
            found.add(authorization.split("Credential=", 1)[1].split("/", 1)[0])
        return found


@pytest.fixture
def recorder(bakehouse_aws_env: MotoServer) -> Iterator[Recorder]:
    rec = Recorder(bakehouse_aws_env.endpoint)
    rec._post("reset-recording")
    rec._post("start-recording")
    try:
        yield rec
    finally:
        rec._post("stop-recording")
        rec._post("reset-recording")


def _tags(resource: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def test_tags_blocks_and_run_options_reach_ec2(bakehouse_aws_env: MotoServer, bakehouse_sshd: SshServer,
                                               recorder: Recorder) -> None:
    ec2 = bakehouse_aws_env.client()
    source = register_source_ami(ec2)
    config = base_config(
        bakehouse_sshd, source, ssh_private_key_file=str(bakehouse_sshd.client_key),
        ami_regions=["us-east-1", "us-west-2"], skip_save_build_region=True, snapshot_copy_duration_minutes=15,
        tags={"App": "demo"}, tag=[{"key": "Team", "value": "bakers"}],
        run_tags={"Run": "yes"}, run_tag=[{"key": "RunBlock", "value": "b"}],
        snapshot_tags={"SnapMap": "m"}, snapshot_tag=[{"key": "Snap", "value": "s"}],
        metadata_options={"http_endpoint": "disabled", "http_tokens": "required",
                          "http_put_response_hop_limit": 2, "instance_metadata_tags": "enabled"},
        tenancy="dedicated", enable_unlimited_credits=True, capacity_reservation_preference="open",
        no_ephemeral=True,
        license_specifications=[{"license_configuration_request": {
            "license_configuration_arn": "arn:aws:license-manager:us-east-1:123456789012:license-configuration:lic-1"}}],
        ena_support=True, sriov_support=True, imds_support="v2.0", ami_product_codes=["code1"],
        ami_org_arns=["arn:aws:organizations::123456789012:organization/o-abc"],
        ami_ou_arns=["arn:aws:organizations::123456789012:ou/o-abc/ou-1"],
    )
    builder = prepared(config)
    artifact = builder.run(RecordingUi(), CommandHook(), Context())
    assert artifact is not None
    amis = artifact.amis  # type: ignore[attr-defined]
    assert list(amis) == ["us-west-2"]  # skip_save_build_region: none left in us-east-1
    assert [i for i in ec2.describe_images(Owners=["self"])["Images"] if i["ImageId"] != source] == []
    west = bakehouse_aws_env.client(region="us-west-2")
    image = west.describe_images(ImageIds=[amis["us-west-2"]])["Images"][0]
    assert _tags(image) == {"App": "demo", "Team": "bakers", "Run": "yes", "RunBlock": "b"}
    snapshots = [m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"] if "Ebs" in m]
    for snapshot in west.describe_snapshots(SnapshotIds=snapshots)["Snapshots"]:
        assert _tags(snapshot) == {"Snap": "s", "SnapMap": "m"}  # a copy's snapshots: no run tags
    perms = west.describe_image_attribute(ImageId=image["ImageId"], Attribute="launchPermission")
    assert {"OrganizationArn": "arn:aws:organizations::123456789012:organization/o-abc"} in perms["LaunchPermissions"]
    assert {"OrganizationalUnitArn": "arn:aws:organizations::123456789012:ou/o-abc/ou-1"} in perms["LaunchPermissions"]

    instance = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]][0]
    assert {"Run": "yes", "RunBlock": "b", "Name": "Bakehouse Builder"}.items() <= _tags(instance).items()
    assert {"HttpEndpoint": "disabled", "HttpTokens": "required", "HttpPutResponseHopLimit": 2,
            "InstanceMetadataTags": "enabled"}.items() <= instance["MetadataOptions"].items()
    sriov = ec2.describe_instance_attribute(InstanceId=instance["InstanceId"], Attribute="sriovNetSupport")
    assert sriov["SriovNetSupport"] == {"Value": "simple"}
    # moto keeps neither tenancy, credits, licenses nor network interface tags: the request shows them
    (run,) = recorder.calls("RunInstances")
    assert run["Placement.Tenancy"] == "dedicated"
    assert run["CreditSpecification.CpuCredits"] == "unlimited"
    assert run["CapacityReservationSpecification.CapacityReservationPreference"] == "open"
    assert run["LicenseSpecification.1.LicenseConfigurationArn"].endswith("lic-1")
    assert run["TagSpecification.2.ResourceType"] == "network-interface"
    assert {run[k]: run[k.replace(".Key", ".Value")] for k in run
            if k.startswith("TagSpecification.2.Tag.") and k.endswith(".Key")} == {
        "Run": "yes", "RunBlock": "b", "Name": "Bakehouse Builder"}
    no_device = sorted(run[k.replace("NoDevice", "DeviceName")] for k in run if k.endswith(".NoDevice"))
    assert no_device == [f"xvdc{letter}" for letter in "abcdefghijklmnopqrstuvwxyz"]  # Packer's names
    # moto keeps SR-IOV (above) but has no enaSupport attribute, nor any on images
    modified = recorder.calls("ModifyInstanceAttribute")
    assert {"EnaSupport.Value": "true"}.items() <= modified[1].items()
    (copy,) = recorder.calls("CopyImage")
    assert copy["SnapshotCopyCompletionDurationMinutes"] == "15"
    image_attrs = recorder.calls("ModifyImageAttribute")
    assert any(c.get("ProductCode.1") == "code1" for c in image_attrs)
    assert any(c.get("ImdsSupport.Value") == "v2.0" for c in image_attrs)


#: Packer's defaults reach RunInstances without any option (moto keeps only the metadata ones).
_RUN_DEFAULTS = {"MetadataOptions.HttpEndpoint": "enabled", "MetadataOptions.HttpTokens": "optional",
                 "MetadataOptions.HttpPutResponseHopLimit": "1", "MetadataOptions.InstanceMetadataTags": None,
                 "CreditSpecification.CpuCredits": "standard",
                 "CapacityReservationSpecification.CapacityReservationPreference": "none",
                 "EnclaveOptions.Enabled": None}


@pytest.mark.parametrize(("options", "expected"), [
    ({}, _RUN_DEFAULTS),
    ({"instance_type": "m5.large", "enable_nitro_enclave": True, "metadata_options": {"http_tokens": "required"}},
     {"CreditSpecification.CpuCredits": None, "EnclaveOptions.Enabled": "true",
      "MetadataOptions.HttpTokens": "required", "MetadataOptions.HttpPutResponseHopLimit": "1"}),
    ({"placement": {"host_resource_group_arn": "arn:aws:resource-groups:us-east-1:123456789012:group/hosts",
                    "tenancy": "host"}},
     {"Placement.HostResourceGroupArn": "arn:aws:resource-groups:us-east-1:123456789012:group/hosts",
      "Placement.Tenancy": "host"}),
    ({"placement": {"host_id": "h-0123456789abcdef0"}, "enable_t2_unlimited": True},
     {"Placement.HostId": "h-0123456789abcdef0", "CreditSpecification.CpuCredits": "unlimited"}),
    ({"capacity_reservation_id": "cr-0123456789abcdef0"},
     {"CapacityReservationSpecification.CapacityReservationTarget.CapacityReservationId": "cr-0123456789abcdef0",
      "CapacityReservationSpecification.CapacityReservationPreference": None}),
    ({"capacity_reservation_group_arn": "arn:aws:resource-groups:us-east-1:123456789012:group/crs"},
     {"CapacityReservationSpecification.CapacityReservationTarget.CapacityReservationResourceGroupArn":
      "arn:aws:resource-groups:us-east-1:123456789012:group/crs"}),
])
def test_run_options_and_packers_defaults_reach_run_instances(
        bakehouse_aws_env: MotoServer, bakehouse_sshd: SshServer, recorder: Recorder,
        options: dict[str, Any], expected: dict[str, str | None]) -> None:
    """``expected``: the request's parameters; None: the parameter is not sent."""
    ec2 = bakehouse_aws_env.client()
    config = base_config(bakehouse_sshd, register_source_ami(ec2), communicator="none",
                         skip_create_ami=True, **options)
    del config["ami_name"]
    prepared(config).run(RecordingUi(), CommandHook(), Context())
    (run,) = recorder.calls("RunInstances")
    assert {key: run.get(key) for key in expected} == expected, run


def test_block_duration_minutes_is_accepted_with_a_warning() -> None:
    from bakehouse_plugin_aws.builder import AmazonEBSBuilder
    from test_amazon_ebs import build_info

    result = AmazonEBSBuilder().prepare({"region": "us-east-1", "instance_type": "t2.micro",
                                         "source_ami": "ami-12345678", "ami_name": "name-ok",
                                         "ssh_username": "u", "spot_price": "auto",
                                         "block_duration_minutes": 60}, build_info())
    assert any("block_duration_minutes is ignored" in w for w in result.warnings)


@pytest.mark.parametrize("skip_ami_run_tags", [False, True])
def test_run_tags_on_the_ami_its_snapshots_and_temporary_resources_unless_skip_ami_run_tags(
        bakehouse_aws_env: MotoServer, bakehouse_sshd: SshServer, recorder: Recorder,
        skip_ami_run_tags: bool) -> None:
    ec2 = bakehouse_aws_env.client()
    source = register_source_ami(ec2)
    config = base_config(bakehouse_sshd, source, run_tags={"Owner": "ci", "Shared": "run"},
                         skip_ami_run_tags=skip_ami_run_tags, tags={"Only": "ami", "Shared": "ami"},
                         snapshot_tags={"Shared": "snapshot"}, communicator="none",
                         run_volume_tags={"VolMap": "m"}, run_volume_tag=[{"key": "Vol", "value": "v"}])
    builder = prepared(config)
    volumes: list[dict[str, Any]] = []  # while the instance runs (its volume goes with it)
    hook = CommandHook(check=lambda *_: volumes.extend(ec2.describe_volumes()["Volumes"]))
    artifact = builder.run(RecordingUi(), hook, Context())
    assert [_tags(v) for v in volumes] == [{"Vol": "v", "VolMap": "m"}]  # run_volume_tags only
    image = ec2.describe_images(ImageIds=[artifact.amis["us-east-1"]])["Images"][0]  # type: ignore[union-attr]
    [snapshot] = ec2.describe_snapshots(SnapshotIds=[m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"]
                                                     if "Ebs" in m])["Snapshots"]
    # Packer's order: run tags at CreateImage (AMI and snapshots), then tags/snapshot_tags win
    if skip_ami_run_tags:
        assert (_tags(image), _tags(snapshot)) == ({"Only": "ami", "Shared": "ami"}, {"Shared": "snapshot"})
    else:
        assert _tags(image) == {"Owner": "ci", "Only": "ami", "Shared": "ami"}
        assert _tags(snapshot) == {"Owner": "ci", "Shared": "snapshot"}
    (group,) = recorder.calls("CreateSecurityGroup")
    assert group["TagSpecification.1.ResourceType"] == "security-group"
    assert (group["TagSpecification.1.Tag.1.Key"], group["TagSpecification.1.Tag.1.Value"]) == ("Owner", "ci")


def test_temporary_key_pair_bits_imports_a_local_key(bakehouse_aws_env: MotoServer, bakehouse_sshd: SshServer,
                                                     recorder: Recorder) -> None:
    ec2 = bakehouse_aws_env.client()
    source = register_source_ami(ec2)
    config = base_config(bakehouse_sshd, source, temporary_key_pair_bits=3072, run_tags={"Owner": "ci"},
                         communicator="none", skip_create_ami=True)
    del config["ami_name"]
    # communicator none makes no key pair; force one the way Packer does for ssh
    config["communicator"] = "ssh"
    config["ssh_timeout"] = "1s"
    config["ssh_handshake_attempts"] = 1
    config["ssh_port"] = 1  # nothing listens: the build fails after the key pair exists
    builder = prepared(config)
    with pytest.raises(Exception, match="127.0.0.1:1"):
        builder.run(RecordingUi(), CommandHook(), Context())
    (imported,) = recorder.calls("ImportKeyPair")
    public = base64.b64decode(imported["PublicKeyMaterial"]).decode()
    import paramiko

    key = paramiko.RSAKey(data=base64.b64decode(public.split()[1]))
    assert key.get_bits() == 3072
    assert imported["TagSpecification.1.Tag.1.Key"] == "Owner"
    assert recorder.calls("CreateKeyPair") == []
    assert ec2.describe_key_pairs()["KeyPairs"] == []  # cleaned up


class _CheckIP(http.server.BaseHTTPRequestHandler):
    asked = 0

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        type(self).asked += 1
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"127.0.0.7\n")

    def log_message(self, *args: Any) -> None:
        pass


def test_temporary_security_group_source_public_ip(bakehouse_aws_env: MotoServer, bakehouse_sshd: SshServer,
                                                   recorder: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), _CheckIP)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("BAKEHOUSE_CHECKIP_URL", f"http://127.0.0.1:{server.server_port}/")
    try:
        ec2 = bakehouse_aws_env.client()
        source = register_source_ami(ec2)
        config = base_config(bakehouse_sshd, source, ssh_private_key_file=str(bakehouse_sshd.client_key),
                             temporary_security_group_source_public_ip=True, skip_create_ami=True)
        prepared(config).run(RecordingUi(), CommandHook(), Context())
        # explicit CIDRs win over it, and checkip is not asked (Packer's precedence)
        config["temporary_security_group_source_cidrs"] = ["10.1.0.0/16"]
        prepared(config).run(RecordingUi(), CommandHook(), Context())
    finally:
        server.shutdown()
    first, second = recorder.calls("AuthorizeSecurityGroupIngress")
    assert first["IpPermissions.1.IpRanges.1.CidrIp"] == "127.0.0.7/32"
    assert second["IpPermissions.1.IpRanges.1.CidrIp"] == "10.1.0.0/16"
    assert _CheckIP.asked == 1


def test_deprecate_at_and_deregistration_protection_reach_the_api(
        bakehouse_aws_env: MotoServer, bakehouse_sshd: SshServer, recorder: Recorder) -> None:
    """moto has neither EnableImageDeprecation nor EnableImageDeregistrationProtection:
    the request must reach it, and the failure must name the AMI and leave nothing."""
    ec2 = bakehouse_aws_env.client()
    source = register_source_ami(ec2)
    config = base_config(bakehouse_sshd, source, ssh_private_key_file=str(bakehouse_sshd.client_key),
                         deprecate_at="2030-01-02T03:04:05Z")
    builder = prepared(config)
    with pytest.raises(Exception, match="enabling deprecation of AMI ami-"):
        builder.run(RecordingUi(), CommandHook(), Context())
    (call,) = recorder.calls("EnableImageDeprecation")
    assert call["DeprecateAt"].startswith("2030-01-02T03:04:05")
    assert [i for i in ec2.describe_images(Owners=["self"])["Images"] if i["ImageId"] != source] == []
    config = base_config(bakehouse_sshd, source, ssh_private_key_file=str(bakehouse_sshd.client_key),
                         deregistration_protection={"with_cooldown": True})  # turns it on (Packer)
    with pytest.raises(Exception, match="deregistration protection of AMI ami-"):
        prepared(config).run(RecordingUi(), CommandHook(), Context())
    (call,) = recorder.calls("EnableImageDeregistrationProtection")
    assert call["WithCooldown"] == "true"


def test_ssh_interface_ipv6_takes_the_address_ec2_gives_the_instance(bakehouse_aws_env: MotoServer) -> None:
    """moto assigns IPv6 addresses only when RunInstances asks (docs/aws.md); the address
    it reports is the one connected to (tests/sdk/test_ssh_options.py connects over ::1)."""
    import ipaddress

    from bakehouse_plugin_aws.steps import instance_address

    ec2 = bakehouse_aws_env.client()
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]["VpcId"]
    [association] = ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]["Ipv6CidrBlockAssociationSet"]
    block = str(next(ipaddress.ip_network(association["Ipv6CidrBlock"]).subnets(new_prefix=64)))
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24", Ipv6CidrBlock=block)["Subnet"]["SubnetId"]
    launched = ec2.run_instances(ImageId=register_source_ami(ec2), InstanceType="t2.micro", MinCount=1,
                                 MaxCount=1, SubnetId=subnet, Ipv6AddressCount=1)["Instances"][0]["InstanceId"]
    [instance] = ec2.describe_instances(InstanceIds=[launched])["Reservations"][0]["Instances"]
    [address] = [a["Ipv6Address"] for n in instance["NetworkInterfaces"] for a in n["Ipv6Addresses"]]
    assert ipaddress.ip_address(address) in ipaddress.ip_network(block)
    assert instance_address(instance, "ipv6") == address
    assert instance_address(instance, "") == instance["PrivateIpAddress"]  # IPv4 unless asked


@pytest.mark.parametrize(("raw", "path", "words"), [
    ({"ssh_interface": "session_manager"}, ("ssh_interface",), "session-manager-plugin"),
    ({"session_manager_port": 8022}, ("session_manager_port",), "not supported by Bakehouse"),
    ({"vault_aws_engine": [{"name": "x"}]}, ("vault_aws_engine", 0), "Vault"),
    ({"winrm_username": "a"}, ("winrm_username",), "WinRM"),
    ({"communicator": "winrm"}, ("communicator",), "no WinRM communicator"),
    ({"ssh_bastion_interactive": True}, ("ssh_bastion_interactive",), "run without one"),
    ({"ssh_bastion_host": "127.0.0.1"}, ("ssh_bastion_host",), "ssh_bastion_private_key_file"),
    ({"ssh_keypair_name": "mine"}, ("ssh_private_key_file",), "ssh_agent_auth"),
    ({"fast_launch": [{"enable_fast_launch": True}]}, ("fast_launch",), "Windows AMIs"),
    ({"deprecate_at": "soon"}, ("deprecate_at",), "RFC 3339"),
    ({"temporary_key_pair_bits": 512}, ("temporary_key_pair_bits",), "at least 1024"),
    ({"snapshot_copy_duration_minutes": 20, "ami_regions": ["us-west-2"]},
     ("snapshot_copy_duration_minutes",), "multiple of 15"),
    ({"encrypt_boot": True, "ami_regions": ["us-west-2", "eu-west-1"], "region_kms_key_ids": {"us-west-2": "k"}},
     ("ami_regions",), "'eu-west-1' is in ami_regions but not in region_kms_key_ids"),
    ({"encrypt_boot": True, "ami_regions": ["us-west-2"], "region_kms_key_ids": {"us-west-2": "k", "eu-west-1": "k"}},
     ("region_kms_key_ids", "eu-west-1"), "'eu-west-1' in region_kms_key_ids is not in ami_regions"),
])
def test_options_that_cannot_work_say_why(raw: dict[str, Any], path: tuple[str, ...], words: str) -> None:
    error = assert_problem_at(raw, path, words)
    assert "not expected here" not in str(error)


@pytest.mark.parametrize(("raw", "path", "words"), [
    ({"instance_type": "m5.large", "enable_unlimited_credits": True}, ("enable_unlimited_credits",),
     "burstable instance type (T2, T3, T3a, T4g), not m5.large"),
    ({"instance_type": "t3.micro", "enable_nitro_enclave": True}, ("enable_nitro_enclave",),
     "burstable instance types (t3.micro)"),
    ({"placement": {"host_id": "h-1", "host_resource_group_arn": "arn:g"}},
     ("placement", "host_resource_group_arn"), "cannot be set together"),
    ({"placement": {"host_id": "h-1", "tenancy": "dedicated"}}, ("placement", "tenancy"), "must be \"host\""),
    ({"metadata_options": {"http_put_response_hop_limit": 65}}, ("metadata_options", "http_put_response_hop_limit"),
     "between 1 and 64"),
    ({"block_duration_minutes": 45, "spot_price": "auto"}, ("block_duration_minutes",), "multiple of 60"),
    ({"elastic_ip_allocation_id": "my-eip"}, ("elastic_ip_allocation_id",), "like eipalloc-"),
    ({"elastic_ip_allocation_id": "eipalloc-0a1b", "associate_public_ip_address": True},
     ("associate_public_ip_address",), "must not be set with elastic_ip_allocation_id"),
])
def test_run_option_mistakes_name_the_option(raw: dict[str, Any], path: tuple[str, ...], words: str) -> None:
    assert_problem_at(raw, path, words)


@pytest.mark.parametrize(("options", "ipv4", "ipv6"), [
    ({"ssh_interface": "ipv6"}, [], ["::/0"]),
    ({"temporary_security_group_source_cidrs": ["10.0.0.0/8", "2001:db8::/32"]}, ["10.0.0.0/8"], ["2001:db8::/32"]),
])
def test_temporary_security_group_admits_ipv6_blocks(bakehouse_aws_env: MotoServer, bakehouse_sshd: SshServer,
                                                     options: dict[str, Any], ipv4: list[str],
                                                     ipv6: list[str]) -> None:
    """With ssh_interface = "ipv6" the group admits anyone over IPv6 (Packer's default);
    an IPv6 block goes to the rule's Ipv6Ranges. (ssh_host reaches the loopback sshd.)"""
    ec2 = bakehouse_aws_env.client()
    groups: list[dict[str, Any]] = []  # while the build runs (the group goes with it)
    hook = CommandHook(check=lambda *_: groups.extend(
        g for g in ec2.describe_security_groups()["SecurityGroups"] if g["GroupName"].startswith("bakehouse_")))
    config = base_config(bakehouse_sshd, register_source_ami(ec2), skip_create_ami=True,
                         ssh_private_key_file=str(bakehouse_sshd.client_key), **options)
    prepared(config).run(RecordingUi(), hook, Context())
    [group] = groups
    [rule] = group["IpPermissions"]
    assert [r["CidrIp"] for r in rule["IpRanges"]] == ipv4
    assert [r["CidrIpv6"] for r in rule["Ipv6Ranges"]] == ipv6


def test_elastic_ip_is_associated_while_building_and_kept_afterwards(
        bakehouse_aws_env: MotoServer, bakehouse_sshd: SshServer, recorder: Recorder) -> None:
    ec2 = bakehouse_aws_env.client()
    allocation = ec2.allocate_address(Domain="vpc")
    seen: list[dict[str, Any]] = []  # while the build runs
    hook = CommandHook(check=lambda *_: seen.extend(
        ec2.describe_addresses(AllocationIds=[allocation["AllocationId"]])["Addresses"]))
    config = base_config(bakehouse_sshd, register_source_ami(ec2), skip_create_ami=True,
                         ssh_private_key_file=str(bakehouse_sshd.client_key),
                         elastic_ip_allocation_id=allocation["AllocationId"])
    ui = RecordingUi()
    prepared(config).run(ui, hook, Context())
    [instance] = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    [during] = seen
    assert during["InstanceId"] == instance["InstanceId"]
    assert f"Associating Elastic IP {allocation['AllocationId']} with instance {instance['InstanceId']}..." in ui.lines
    [after] = ec2.describe_addresses(AllocationIds=[allocation["AllocationId"]])["Addresses"]
    assert after["PublicIp"] == allocation["PublicIp"]  # the user's address: not released,
    assert "AssociationId" not in after  # only disassociated, before the instance went
    assert [c["AssociationId"] for c in recorder.calls("DisassociateAddress")] == [during["AssociationId"]]
    assert recorder.calls("ReleaseAddress") == []


def test_ssh_agent_auth_logs_in_with_the_agents_key_and_makes_no_key_pair(
        bakehouse_aws_env: MotoServer, bakehouse_sshd: SshServer, recorder: Recorder, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    ec2 = bakehouse_aws_env.client()
    config = base_config(bakehouse_sshd, register_source_ami(ec2), ssh_agent_auth=True, skip_create_ami=True)
    hook = CommandHook("echo by-agent")
    with ssh_agent(tmp_path / "agent.sock", bakehouse_sshd.client_key) as sock:
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        prepared(config).run(RecordingUi(), hook, Context())
    assert bytes(hook.output) == b"by-agent\n"
    assert recorder.calls("CreateKeyPair") == recorder.calls("ImportKeyPair") == []
    assert "KeyName" not in recorder.calls("RunInstances")[0]


def test_schema_statuses_are_readable_for_docs() -> None:
    assert option_status(AmazonEBSConfig, "run_tag")[0] == "supported"
    assert option_status(AmazonEBSConfig, "winrm_username") == ("unsupported", option_status(
        AmazonEBSConfig, "winrm_password")[1])


def assert_problem_at(raw: dict[str, Any], path: tuple[str, ...], words: str) -> ConfigError:
    """A minimal valid config plus ``raw`` is refused with ``words`` at ``path``."""
    config = {"region": "us-east-1", "instance_type": "t2.micro", "source_ami": "ami-12345678",
              "ami_name": "name-ok", "ssh_username": "u", **raw}
    with pytest.raises(ConfigError) as error:
        parse_builder_config(config)
    matching = [p for p in error.value.problems if p.path == path]
    assert matching, error.value.problems
    assert words in matching[0].message
    return error.value
