"""End to end: Spot builds with ``amazon-ebs`` on the local EC2. The instant
fleet's instance is a real container (booted with the launch template's key
and user data, reached over SSH on its own loopback address), and the
temporary launch template goes like every temporary resource: after a
success, after a failure, and through ``bakehouse cleanup`` after
``-on-error=abort``."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from bakehouse_plugin_aws.localec2 import LocalEC2

from tests.e2e.test_aws_build import assert_nothing_left, hcl, images_named, shell, template
from tests.fixtures.processes import run_processes, wait_until_gone

pytestmark = [pytest.mark.moto, pytest.mark.ssh, pytest.mark.slow]


def spot_template(source: str, ami_name: str, provisioner: str, **options: Any) -> str:
    text = template(source=f"source_ami = {hcl(source)}",
                    options={"ami_name": ami_name, "spot_price": "auto", **options},
                    provisioner=provisioner)
    if "spot_instance_types" in options:
        text = text.replace('instance_type = "t2.micro"\n', "", 1)
    return text


def launch_templates(ec2: Any) -> list[dict[str, Any]]:
    return list(ec2.describe_launch_templates()["LaunchTemplates"])


def test_spot_build_provisions_a_fleet_instance_and_makes_an_ami(
    local_ec2_env: LocalEC2, bakehouse, tmp_path: Path, run_id: str, bakehouse_home: Path
) -> None:
    ec2 = local_ec2_env.client()
    ami_name = f"spot-{uuid.uuid4().hex[:8]}"
    (tmp_path / "t.pkr.hcl").write_text(spot_template(
        local_ec2_env.base_ami(), ami_name,
        shell("test \"$(cat /tmp/from-user-data)\" = spot-boot", "echo baked > ~/baked-on-spot"),
        spot_instance_types=["t3.micro", "t3.small"], spot_tags={"Spot": "yes"},
        user_data="#!/bin/sh\necho spot-boot > /tmp/from-user-data\n",
    ))
    local_ec2_env.inject("CreateFleet", "no-capacity", times=2)  # asked again, as Packer does
    result = bakehouse("build", "t.pkr.hcl", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("No Spot capacity yet (InsufficientInstanceCapacity)") == 2
    assert "Creating a Spot fleet launch template: bakehouse-fleet-launch-template-" in result.stdout
    assert "Launching a spot AWS instance (up to the on-demand price)" in result.stdout
    assert "Deleting the Spot fleet launch template lt-" in result.stdout
    [image] = images_named(ec2, ami_name)
    # the AMI is the fleet instance's container, committed: it holds what the provisioner wrote
    assert local_ec2_env.instances.has_image(image["ImageId"])
    [instance] = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    assert instance["InstanceLifecycle"] == "spot" and instance["State"]["Name"] == "terminated"
    assert instance["InstanceType"] in ("t3.micro", "t3.small")
    assert launch_templates(ec2) == []
    assert local_ec2_env.instances.containers() == []
    assert ec2.describe_key_pairs()["KeyPairs"] == []
    assert wait_until_gone(run_processes(run_id), timeout=30) == []

    # the AMI boots: an on-demand build from it sees the file the Spot build wrote
    again = tmp_path / "again"
    again.mkdir()
    (again / "t.pkr.hcl").write_text(template(
        source=f"source_ami = {hcl(image['ImageId'])}",
        options={"skip_create_ami": True}, provisioner=shell("grep -x baked ~/baked-on-spot")))
    checked = bakehouse("build", "t.pkr.hcl", cwd=again)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_failed_spot_build_failed_fleet_and_no_capacity_leave_nothing(
    local_ec2_env: LocalEC2, bakehouse, tmp_path: Path, run_id: str, bakehouse_home: Path
) -> None:
    ec2 = local_ec2_env.client()
    source = local_ec2_env.base_ami()
    ami_name = f"spot-fail-{uuid.uuid4().hex[:8]}"
    (tmp_path / "t.pkr.hcl").write_text(spot_template(source, ami_name, shell("exit 3"),
                                                      spot_price="0.02"))
    result = bakehouse("build", "t.pkr.hcl", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Launching a spot AWS instance (up to $0.02/h)" in result.stdout
    assert "Terminating the source AWS instance" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert_nothing_left(local_ec2_env, ami_name, run_id, bakehouse_home)
    assert launch_templates(ec2) == []

    # CreateFleet itself fails (after the launch template exists): it goes too
    local_ec2_env.inject("CreateFleet", "5xx", status=400)
    failed = bakehouse("build", "t.pkr.hcl", cwd=tmp_path)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "CreateFleet" in failed.stdout + failed.stderr
    assert "Deleting the Spot fleet launch template lt-" in failed.stdout
    assert launch_templates(ec2) == []
    assert_nothing_left(local_ec2_env, ami_name, run_id, bakehouse_home)

    # never any Spot capacity: asked 11 times, then the fleet's error; nothing left either
    local_ec2_env.inject("CreateFleet", "no-capacity")
    starved = bakehouse("build", "t.pkr.hcl", cwd=tmp_path)
    assert starved.returncode == 1, starved.stdout + starved.stderr
    assert "launched no Spot instance (11 attempts): InsufficientInstanceCapacity" in starved.stdout
    assert launch_templates(ec2) == []
    assert_nothing_left(local_ec2_env, ami_name, run_id, bakehouse_home)


def test_on_error_abort_keeps_launch_template_and_instance_profile_and_cleanup_removes_them(
    local_ec2_env: LocalEC2, bakehouse, tmp_path: Path, run_id: str, bakehouse_home: Path
) -> None:
    ec2 = local_ec2_env.client()
    ami_name = f"spot-abort-{uuid.uuid4().hex[:8]}"
    text = spot_template(local_ec2_env.base_ami(), ami_name, shell("exit 4"))
    # with a temporary instance profile too: IAM through the local EC2's front layer
    text = text.replace("  aws_polling {", """  temporary_iam_instance_profile_policy_document {
    Statement {
      Effect   = "Allow"
      Action   = ["logs:*"]
      Resource = ["*"]
    }
  }
  aws_polling {""", 1)
    (tmp_path / "t.pkr.hcl").write_text(text)
    result = bakehouse("build", "-on-error=abort", "t.pkr.hcl", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    [kept] = launch_templates(ec2)
    [role] = local_ec2_env.client(service="iam").list_roles()["Roles"]
    assert f"IAM instance profile and role {role['RoleName']}: remove with `aws iam" in result.stdout
    assert (f"launch template {kept['LaunchTemplateId']}: remove with "
            f"`aws ec2 delete-launch-template --region us-east-1 --launch-template-id "
            f"{kept['LaunchTemplateId']}`") in result.stdout
    assert wait_until_gone(run_processes(run_id), timeout=10) == []

    cleaned = bakehouse("cleanup", cwd=tmp_path, env={"BAKEHOUSE_RUN_ID": "cleanup-" + run_id})
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert launch_templates(ec2) == []
    states = [i["State"]["Name"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    assert states == ["terminated"]
    assert local_ec2_env.instances.containers() == []
    assert local_ec2_env.client(service="iam").list_roles()["Roles"] == []
    assert local_ec2_env.client(service="iam").list_instance_profiles()["InstanceProfiles"] == []
    assert_nothing_left(local_ec2_env, ami_name, run_id, bakehouse_home)
