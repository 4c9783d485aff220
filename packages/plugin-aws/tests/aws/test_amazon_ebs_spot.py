"""Spot builds: a temporary launch template and an instant EC2 fleet, against
a moto server over HTTP (the instance's SSH server is a real sshd on
loopback, as in the other builder tests). What moto does not keep (the
fleet's overrides and prices) is read from the requests moto recorded."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from bakehouse.sdk import Context
from bakehouse.sdk.journal import journal_root, load_entries
from bakehouse.testing.servers import MotoServer, SshServer
from bakehouse_plugin_aws.config import parse_builder_config
from test_amazon_ebs import CommandHook, RecordingUi, base_config, prepared, register_source_ami
from test_amazon_ebs_options import Recorder, assert_problem_at, recorder  # noqa: F401 - the fixture

pytestmark = [pytest.mark.moto, pytest.mark.ssh]


def _tags(resource: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def _spot_config(sshd: SshServer, source: str, **extra: Any) -> dict[str, Any]:
    config = base_config(sshd, source, ssh_private_key_file=str(sshd.client_key), **extra)
    if "spot_instance_types" in extra:
        del config["instance_type"]
    return config


def test_spot_build_uses_a_launch_template_and_an_instant_fleet(
        bakehouse_aws_env: MotoServer, bakehouse_sshd: SshServer, recorder: Recorder) -> None:  # noqa: F811
    ec2 = bakehouse_aws_env.client()
    source = register_source_ami(ec2)
    config = _spot_config(
        bakehouse_sshd, source, spot_price="0.05", spot_instance_types=["t3.micro", "t3.small"],
        spot_allocation_strategy="price-capacity-optimized", user_data="#!/bin/sh\necho hi\n",
        spot_tags={"Spot": "yes"}, spot_tag=[{"key": "SpotBlock", "value": "b"}],
        fleet_tags={"Fleet": "f"}, run_tags={"Run": "r"}, metadata_options={"http_tokens": "required"},
    )
    builder = prepared(config)
    ui = RecordingUi()
    artifact = builder.run(ui, CommandHook(), Context())
    assert artifact is not None
    image = ec2.describe_images(ImageIds=[artifact.amis["us-east-1"]])["Images"][0]  # type: ignore[attr-defined]
    assert image["State"] == "available"

    (template,) = recorder.calls("CreateLaunchTemplate")
    assert template["LaunchTemplateName"].startswith("bakehouse-fleet-launch-template-")
    assert template["LaunchTemplateData.ImageId"] == source
    assert base64.b64decode(template["LaunchTemplateData.UserData"]) == b"#!/bin/sh\necho hi\n"
    assert template["LaunchTemplateData.MetadataOptions.HttpTokens"] == "required"
    assert "LaunchTemplateData.InstanceType" not in template  # the overrides name the types
    assert template["LaunchTemplateData.InstanceMarketOptions.MarketType"] == "spot"
    assert template["LaunchTemplateData.InstanceMarketOptions.SpotOptions.MaxPrice"] == "0.05"
    assert template["TagSpecification.1.ResourceType"] == "launch-template"
    template_tags = {template[k]: template[k.replace(".Key", ".Value")] for k in template
                     if k.startswith("TagSpecification.1.Tag.") and k.endswith(".Key")}
    assert template_tags == {"Spot": "yes", "SpotBlock": "b", "bakehouse:run-id": builder.build.run_id}

    (fleet,) = recorder.calls("CreateFleet")
    assert fleet["Type"] == "instant"
    assert fleet["TargetCapacitySpecification.TotalTargetCapacity"] == "1"
    assert fleet["TargetCapacitySpecification.DefaultTargetCapacityType"] == "spot"
    assert fleet["SpotOptions.AllocationStrategy"] == "price-capacity-optimized"
    overrides = "LaunchTemplateConfigs.1.Overrides"
    assert [fleet[f"{overrides}.{n}.InstanceType"] for n in (1, 2)] == ["t3.micro", "t3.small"]
    assert not [k for k in fleet if k.endswith("MaxPrice")]  # the template's Spot option caps it
    assert fleet["TagSpecification.1.ResourceType"] == "fleet"
    assert fleet["TagSpecification.1.Tag.1.Key"] == "Fleet"
    assert recorder.calls("RunInstances") == []
    # as in Packer, a Spot instance is imaged without being stopped
    assert recorder.calls("StopInstances") == []

    [instance] = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    assert instance["InstanceType"] in ("t3.micro", "t3.small")
    assert instance["InstanceLifecycle"] == "spot"
    assert {"Run": "r", "Name": "Bakehouse Builder"}.items() <= _tags(instance).items()
    assert instance["State"]["Name"] == "terminated"
    # the Spot request got spot_tags, and was cancelled in the cleanup (moto forgets it then)
    [tagged] = [c for c in recorder.calls("CreateTags") if c["ResourceId.1"].startswith("sir-")]
    assert {tagged[k]: tagged[k.replace(".Key", ".Value")] for k in tagged
            if k.startswith("Tag.") and k.endswith(".Key")} == {"Spot": "yes", "SpotBlock": "b"}
    (cancel,) = recorder.calls("CancelSpotInstanceRequests")
    assert cancel["SpotInstanceRequestId.1"] == tagged["ResourceId.1"]
    assert [r for r in ec2.describe_spot_instance_requests()["SpotInstanceRequests"]
            if r["State"] not in ("cancelled", "closed")] == []
    assert ec2.describe_launch_templates()["LaunchTemplates"] == []
    assert load_entries(journal_root() / builder.build.run_id) == []
    assert any("Deleting the Spot fleet launch template" in line for line in ui.lines)


def test_spot_price_auto_sets_no_max_price_and_a_failed_build_leaves_nothing(
        bakehouse_aws_env: MotoServer, bakehouse_sshd: SshServer, recorder: Recorder) -> None:  # noqa: F811
    ec2 = bakehouse_aws_env.client()
    source = register_source_ami(ec2)
    builder = prepared(_spot_config(bakehouse_sshd, source, spot_price="auto"))
    with pytest.raises(RuntimeError, match="non-zero exit status: 3"):
        builder.run(RecordingUi(), CommandHook("exit 3"), Context())
    (template,) = recorder.calls("CreateLaunchTemplate")
    assert template["LaunchTemplateData.InstanceType"] == "t2.micro"
    assert template["LaunchTemplateData.CreditSpecification.CpuCredits"] == "standard"  # Packer's default
    assert template["LaunchTemplateData.TagSpecification.2.ResourceType"] == "network-interface"
    assert template["LaunchTemplateData.InstanceMarketOptions.MarketType"] == "spot"
    assert not [k for k in template if k.endswith("MaxPrice")]  # "auto": EC2 caps at the on-demand price
    (fleet,) = recorder.calls("CreateFleet")
    assert not [k for k in fleet if ".Overrides." in k]
    assert "SpotOptions.AllocationStrategy" not in fleet
    states = [i["State"]["Name"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    assert states == ["terminated"]
    assert ec2.describe_launch_templates()["LaunchTemplates"] == []
    assert len(recorder.calls("CancelSpotInstanceRequests")) == 1
    assert [r for r in ec2.describe_spot_instance_requests()["SpotInstanceRequests"]
            if r["State"] not in ("cancelled", "closed")] == []
    assert [i for i in ec2.describe_images(Owners=["self"])["Images"] if i["ImageId"] != source] == []
    assert ec2.describe_key_pairs()["KeyPairs"] == []
    assert load_entries(journal_root() / builder.build.run_id) == []


@pytest.mark.parametrize(("raw", "path", "words"), [
    ({"spot_price": "cheap"}, ("spot_price",), "\"auto\" or a price"),
    ({"spot_price": "auto", "spot_instance_types": ["t3.micro"]}, ("spot_instance_types",),
     "either instance_type or spot_instance_types"),
    ({"spot_tags": {"a": "b"}}, ("spot_tags",), "needs a Spot instance"),
    ({"spot_instance_types": ["t3.micro"], "instance_type": ""}, ("spot_instance_types",), "needs a Spot instance"),
    ({"spot_allocation_strategy": "lowest-price"}, ("spot_allocation_strategy",), "needs a Spot instance"),
    ({"spot_allocation_strategy": "cheapest", "spot_price": "auto"}, ("spot_allocation_strategy",),
     "price-capacity-optimized"),
    ({"spot_price": "auto", "enable_unlimited_credits": True}, ("enable_unlimited_credits",),
     "Unlimited credits cannot be used"),
    ({"spot_price": "auto", "enable_nitro_enclave": True}, ("enable_nitro_enclave",),
     "not supported for Spot instances"),
])
def test_spot_mistakes_name_the_option(raw: dict[str, Any], path: tuple[str, ...], words: str) -> None:
    assert_problem_at(raw, path, words)


def test_spot_price_zero_is_on_demand_and_deprecated_options_warn() -> None:
    base = {"region": "us-east-1", "instance_type": "t2.micro", "source_ami": "ami-12345678",
            "ami_name": "name-ok", "ssh_username": "u"}
    assert not parse_builder_config({**base, "spot_price": "0"}).is_spot()
    # unlimited credits are refused for T2 Spot instances only (Packer's rule)
    parse_builder_config({**base, "instance_type": "t3.micro", "spot_price": "auto",
                          "enable_unlimited_credits": True})
    assert parse_builder_config({**base, "spot_price": "auto"}).is_spot()
    from bakehouse_plugin_aws.builder import AmazonEBSBuilder
    from test_amazon_ebs import build_info

    result = AmazonEBSBuilder().prepare({**base, "spot_price": "auto", "spot_price_auto_product": "Linux/UNIX",
                                         "sriov_support": True}, build_info())
    assert any("spot_price_auto_product is deprecated" in w for w in result.warnings)
    assert any("sriov_support: not applied to a Spot instance" in w for w in result.warnings)
