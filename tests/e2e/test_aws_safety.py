"""amazon-ebs and `bakehouse cleanup` only ever delete what a run created.

Against the local EC2 (moto over HTTP, instances as containers) and the real
CLI and aws plugin:
a `temporary_key_pair_name` naming the user's existing key pair, hand-written
journal entries naming the user's key pair, security group, AMI and a
directory, and the debug log of a build that made a temporary key pair.
"""

from __future__ import annotations

import json
import os
import stat
import uuid
from pathlib import Path
from typing import Any

import pytest
from bakehouse_plugin_aws.localec2 import LocalEC2

from tests.e2e.test_aws_build import hcl, register_ami, shell, template
from tests.fixtures.processes import run_processes, wait_until_gone

pytestmark = [pytest.mark.moto, pytest.mark.ssh]


def test_existing_key_pair_named_as_temporary_is_never_deleted(
    local_ec2_env: LocalEC2, bakehouse, tmp_path: Path, run_id: str, bakehouse_home: Path,
) -> None:
    ec2 = local_ec2_env.client()
    ec2.create_key_pair(KeyName="users-own-key")
    source = register_ami(local_ec2_env, "base-image")
    (tmp_path / "t.pkr.hcl").write_text(template(
        source=f"source_ami = {hcl(source)}",
        options={"ami_name": f"kp-{uuid.uuid4().hex[:8]}", "temporary_key_pair_name": "users-own-key"},
    ))
    result = bakehouse("build", "t.pkr.hcl", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "a key pair named 'users-own-key' already exists" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert [k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]] == ["users-own-key"]
    assert wait_until_gone(run_processes(run_id), timeout=10) == []
    journal = bakehouse_home / "journal" / run_id
    assert not journal.exists()


def _forge_entry(journal: Path, kind: str, resource_id: str, **details: Any) -> None:
    entry = {"plugin": "bakehouse-plugin-aws", "kind": kind, "resource_id": resource_id,
             "details": details, "entry_id": uuid.uuid4().hex, "run_id": journal.name}
    (journal / f"{entry['entry_id']}.json").write_text(json.dumps(entry))


def test_cleanup_refuses_journal_entries_for_resources_it_did_not_create(
    local_ec2_env: LocalEC2, bakehouse, tmp_path: Path, bakehouse_home: Path,
) -> None:
    ec2 = local_ec2_env.client()
    ec2.create_key_pair(KeyName="users-key")
    group_id = ec2.create_security_group(GroupName="users-group", Description="mine")["GroupId"]
    ami = register_ami(local_ec2_env, "users-ami")
    template_id = ec2.create_launch_template(
        LaunchTemplateName="users-template", LaunchTemplateData={"InstanceType": "t3.micro"},
    )["LaunchTemplate"]["LaunchTemplateId"]
    precious = tmp_path / "bakehouse-aws-key-precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    elsewhere = tmp_path / "important"
    elsewhere.mkdir()
    run = "forged-" + uuid.uuid4().hex[:8]
    journal = bakehouse_home / "journal" / run
    journal.mkdir(parents=True)
    (journal / "run.json").write_text(json.dumps({"run_id": run, "pid": 2**22 + 7,
                                                  "started": "2026-01-01T00:00:00+00:00"}))
    where = {"region": "us-east-1", "endpoint": local_ec2_env.endpoint, "profile": ""}
    _forge_entry(journal, "ec2-key-pair", "users-key", **where)
    _forge_entry(journal, "ec2-security-group", "users-group", **where, group_id=group_id)
    _forge_entry(journal, "ec2-image", ami, **where)
    _forge_entry(journal, "ec2-launch-template", "users-template", **where)
    _forge_entry(journal, "aws-temporary-key-dir", str(precious))
    _forge_entry(journal, "aws-temporary-key-dir", str(elsewhere))

    result = bakehouse("cleanup", cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "refusing to delete key pair users-key" in output
    assert f"refusing to delete security group {group_id}" in output
    assert f"refusing to delete AMI {ami}" in output
    assert f"refusing to delete launch template {template_id} (users-template)" in output
    assert f"refusing to delete directory {precious}" in output
    assert f"refusing to delete directory {elsewhere}" in output
    assert "Traceback" not in output
    assert [k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]] == ["users-key"]
    assert ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    assert ec2.describe_images(ImageIds=[ami])["Images"]
    assert ec2.describe_launch_templates(LaunchTemplateIds=[template_id])["LaunchTemplates"]
    assert (precious / "thesis.tex").read_text() == "years of work" and elsewhere.is_dir()


def test_debug_log_never_holds_the_temporary_private_key(
    local_ec2_env: LocalEC2, bakehouse, tmp_path: Path, run_id: str, bakehouse_home: Path,
) -> None:
    source = register_ami(local_ec2_env, "base-image")
    (tmp_path / "t.pkr.hcl").write_text(template(
        source=f"source_ami = {hcl(source)}",
        options={"ami_name": f"log-{uuid.uuid4().hex[:8]}", "skip_create_ami": True},
        provisioner=shell("true"),
    ))
    log_path = tmp_path / "debug.log"
    result = bakehouse("build", "t.pkr.hcl", cwd=tmp_path,
                       env={"BAKEHOUSE_LOG_PATH": str(log_path), "BAKEHOUSE_LOG": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    text = log_path.read_text()
    assert "bakehouse-plugin-aws" in text  # the aws plugin's debug lines are there...
    for output in (text, result.stderr, result.stdout):
        assert "PRIVATE KEY-----" not in output
        assert "MII" not in output  # ...but not the key (every RSA key body starts so)
    assert stat.S_IMODE(os.stat(log_path).st_mode) == 0o600
    journal_root = bakehouse_home / "journal"
    assert stat.S_IMODE(os.stat(journal_root).st_mode) == 0o700


def test_on_error_abort_lists_what_it_kept_and_cleanup_removes_it(
    local_ec2_env: LocalEC2, bakehouse, tmp_path: Path, run_id: str, bakehouse_home: Path,
) -> None:
    ec2 = local_ec2_env.client()
    source = register_ami(local_ec2_env, "base-image")
    (tmp_path / "t.pkr.hcl").write_text(template(
        source=f"source_ami = {hcl(source)}",
        options={"ami_name": f"abort-{uuid.uuid4().hex[:8]}"}, provisioner=shell("exit 4"),
    ))
    (tmp_path / "tmp").mkdir()
    result = bakehouse("build", "-on-error=abort", "t.pkr.hcl", cwd=tmp_path, env={"TMPDIR": str(tmp_path / "tmp")})
    assert result.returncode == 1, result.stdout + result.stderr
    [instance] = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    [pair] = ec2.describe_key_pairs()["KeyPairs"]
    [group] = [g for g in ec2.describe_security_groups()["SecurityGroups"]
               if g["GroupName"].startswith("bakehouse_")]
    assert instance["State"]["Name"] == "running"
    out = result.stdout
    assert "-on-error=abort kept these temporary resources" in out
    assert f"instance {instance['InstanceId']}: remove with `aws ec2 terminate-instances" in out
    assert f"security group {group['GroupId']}" in out
    assert f"key pair {pair['KeyName']}: remove with `aws ec2 delete-key-pair" in out
    assert f"private key file {tmp_path}/tmp/bakehouse-aws-key-" in out and ".pem: remove with `rm -rf" in out
    assert f"bakehouse cleanup {run_id}" in out
    assert wait_until_gone(run_processes(run_id), timeout=10) == []

    cleaned = bakehouse("cleanup", cwd=tmp_path, env={"BAKEHOUSE_RUN_ID": "cleanup-" + run_id})
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    states = [i["State"]["Name"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    assert states == ["terminated"]
    assert ec2.describe_key_pairs()["KeyPairs"] == []
    assert not [g for g in ec2.describe_security_groups()["SecurityGroups"]
                if g["GroupName"].startswith("bakehouse_")]
    assert local_ec2_env.instances.containers() == []


def test_failed_build_keeps_the_users_security_group(
    local_ec2_env: LocalEC2, bakehouse, tmp_path: Path, run_id: str, bakehouse_home: Path,
) -> None:
    """The security group the template names survives a failed build's cleanup,
    as does an unrelated key pair; the temporary key pair goes."""
    ec2 = local_ec2_env.client()
    source = register_ami(local_ec2_env, "base-image")
    group = ec2.create_security_group(GroupName="users-sg", Description="mine")["GroupId"]
    ec2.create_key_pair(KeyName="users-key")
    (tmp_path / "t.pkr.hcl").write_text(template(
        source=f"source_ami = {hcl(source)}",
        options={"ami_name": f"sg-{uuid.uuid4().hex[:8]}", "security_group_id": group},
        provisioner=shell("exit 3"),
    ))
    result = bakehouse("build", "t.pkr.hcl", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "non-zero exit status: 3" in result.stdout + result.stderr
    assert group in {g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]}
    assert [k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]] == ["users-key"]
    states = [i["State"]["Name"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    assert states == ["terminated"]
    assert wait_until_gone(run_processes(run_id), timeout=10) == []


def test_no_credential_reaches_a_log(
    local_ec2_env: LocalEC2, bakehouse, tmp_path: Path, run_id: str, bakehouse_home: Path,
) -> None:
    """``secret_key`` from the template and ``AWS_SESSION_TOKEN`` from the
    environment are hidden in the plugin before its lines reach the core's
    stderr log and log file (a file that existed 0644 becomes 0600)."""
    secret_key = "sEcReTkEy/" + uuid.uuid4().hex
    token = "sessiontoken-" + uuid.uuid4().hex
    source = register_ami(local_ec2_env, "base-image")
    (tmp_path / "t.pkr.hcl").write_text(template(
        source=f"source_ami = {hcl(source)}",
        options={"ami_name": f"cred-{uuid.uuid4().hex[:8]}", "skip_create_ami": True,
                 "access_key": "AKIAEXAMPLE", "secret_key": secret_key},
        provisioner=shell("true"),
    ))
    log_path = tmp_path / "debug.log"
    log_path.write_text("")
    log_path.chmod(0o644)
    result = bakehouse("build", "t.pkr.hcl", cwd=tmp_path,
                       env={"BAKEHOUSE_LOG_PATH": str(log_path), "BAKEHOUSE_LOG": "1",
                            "AWS_SESSION_TOKEN": token})
    assert result.returncode == 0, result.stdout + result.stderr
    text = log_path.read_text()
    assert "bakehouse-plugin-aws" in text
    for output in (text, result.stderr, result.stdout):
        assert secret_key not in output and token not in output
        assert "PRIVATE KEY-----" not in output
    assert stat.S_IMODE(os.stat(log_path).st_mode) == 0o600
