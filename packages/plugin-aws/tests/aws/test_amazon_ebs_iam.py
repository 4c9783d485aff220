"""The instance's IAM instance profile against moto's IAM and EC2 (a moto
server over HTTP): ``iam_instance_profile`` checked unless
``skip_profile_validation``, and a temporary role and instance profile from
``temporary_iam_instance_profile_policy_document``, removed afterwards (also
by ``bakehouse cleanup``'s cleaner, which refuses what the run did not make)."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import pytest
from bakehouse.sdk import ConfigError, Context, JournalEntry
from bakehouse.sdk.journal import journal_root, load_entries
from bakehouse.testing.servers import MotoServer, SshServer
from bakehouse_plugin_aws.config import parse_builder_config
from bakehouse_plugin_aws.ec2 import AwsError
from bakehouse_plugin_aws.resources import (
    KIND_IAM_INSTANCE_PROFILE,
    NotOurs,
    clean_instance_profile,
)
from test_amazon_ebs import CommandHook, RecordingUi, base_config, prepared, register_source_ami
from test_amazon_ebs_options import Recorder, recorder  # noqa: F401 - the fixture

pytestmark = [pytest.mark.moto, pytest.mark.ssh]

POLICY = {"Version": "2012-10-17",
          "Statement": [{"Effect": "Allow", "Action": ["logs:*"], "Resource": ["*"]}]}


def _config(sshd: SshServer, source: str, **extra: Any) -> dict[str, Any]:
    return base_config(sshd, source, ssh_private_key_file=str(sshd.client_key), **extra)


def test_temporary_instance_profile_is_made_used_and_removed(
        bakehouse_aws_env: MotoServer, bakehouse_sshd: SshServer, recorder: Recorder) -> None:  # noqa: F811
    ec2, iam = bakehouse_aws_env.client(), bakehouse_aws_env.client(service="iam")
    source = register_source_ami(ec2)
    # as HCL blocks arrive: a list of one object, its Statement blocks a list
    builder = prepared(_config(bakehouse_sshd, source, run_tags={"Team": "t"},
                               temporary_iam_instance_profile_policy_document=[POLICY]))
    ui = RecordingUi()
    assert builder.run(ui, CommandHook(), Context()) is not None

    (role,) = recorder.calls("CreateRole")
    name = role["RoleName"]
    assert name.startswith("bakehouse-")
    trust = json.loads(urllib.parse.unquote(role["AssumeRolePolicyDocument"]))
    assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    (policy,) = recorder.calls("PutRolePolicy")
    assert json.loads(policy["PolicyDocument"]) == POLICY
    (run,) = recorder.calls("RunInstances")
    # (moto refuses RunInstances for a profile it does not have: see the next test)
    assert run["IamInstanceProfile.Name"] == name
    # nothing of it is left
    assert iam.list_roles()["Roles"] == []
    assert iam.list_instance_profiles()["InstanceProfiles"] == []
    assert load_entries(journal_root() / builder.build.run_id) == []
    assert "Deleting temporary instance profile..." in ui.lines


def test_iam_instance_profile_is_checked_unless_skip_profile_validation(
        bakehouse_aws_env: MotoServer, bakehouse_sshd: SshServer, recorder: Recorder) -> None:  # noqa: F811
    ec2, iam = bakehouse_aws_env.client(), bakehouse_aws_env.client(service="iam")
    source = register_source_ami(ec2)
    with pytest.raises(AwsError, match="Couldn't find specified instance profile: missing-profile"):
        prepared(_config(bakehouse_sshd, source, iam_instance_profile="missing-profile")).run(
            RecordingUi(), CommandHook(), Context())
    assert recorder.calls("RunInstances") == []  # checked before anything was launched

    # skipped: the name goes to RunInstances unchecked (moto then refuses it, as EC2 would)
    with pytest.raises(AwsError, match="missing-profile"):
        prepared(_config(bakehouse_sshd, source, iam_instance_profile="missing-profile",
                         skip_profile_validation=True)).run(RecordingUi(), CommandHook(), Context())
    assert len(recorder.calls("GetInstanceProfile")) == 1
    assert [c["IamInstanceProfile.Name"] for c in recorder.calls("RunInstances")] == ["missing-profile"]

    iam.create_instance_profile(InstanceProfileName="users-profile")
    builder = prepared(_config(bakehouse_sshd, source, iam_instance_profile="users-profile"))
    assert builder.run(RecordingUi(), CommandHook(), Context()) is not None
    assert [p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]] == ["users-profile"]


def test_cleaner_removes_a_kept_temporary_profile_and_refuses_the_users(
        bakehouse_aws_env: MotoServer, bakehouse_sshd: SshServer) -> None:
    ec2, iam = bakehouse_aws_env.client(), bakehouse_aws_env.client(service="iam")
    source = register_source_ami(ec2)
    builder = prepared(_config(bakehouse_sshd, source, temporary_iam_instance_profile_policy_document=[POLICY]),
                       on_error="abort")
    with pytest.raises(RuntimeError):
        builder.run(RecordingUi(), CommandHook("exit 5"), Context())
    [role] = iam.list_roles()["Roles"]  # kept for inspection
    entries = [e for e in load_entries(journal_root() / builder.build.run_id)
               if e.kind == KIND_IAM_INSTANCE_PROFILE]
    assert [e.resource_id for e in entries] == [role["RoleName"]]
    clean_instance_profile(entries[0])
    assert iam.list_roles()["Roles"] == []
    assert iam.list_instance_profiles()["InstanceProfiles"] == []

    iam.create_role(RoleName="users-role", AssumeRolePolicyDocument=json.dumps(POLICY))
    forged = JournalEntry(entry_id="x", run_id=builder.build.run_id, plugin="bakehouse-plugin-aws",
                          kind=KIND_IAM_INSTANCE_PROFILE, resource_id="users-role",
                          details={"region": "us-east-1", "endpoint": "", "profile": ""})
    with pytest.raises(NotOurs, match="refusing to delete IAM role users-role"):
        clean_instance_profile(forged)
    assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == ["users-role"]


@pytest.mark.parametrize(("raw", "words"), [
    ({"iam_instance_profile": "p", "temporary_iam_instance_profile_policy_document": [POLICY]},
     "Only one of iam_instance_profile"),
    ({"temporary_iam_instance_profile_policy_document": [{"Version": "2012-10-17"}]},
     "at least one Statement"),
    ({"temporary_iam_instance_profile_policy_document": [{"Statement": [{"Effect": "Maybe"}]}]},
     "'Allow' or 'Deny'"),
])
def test_instance_profile_mistakes_name_the_option(raw: dict[str, Any], words: str) -> None:
    config = {"region": "us-east-1", "instance_type": "t2.micro", "source_ami": "ami-12345678",
              "ami_name": "name-ok", "ssh_username": "u", **raw}
    with pytest.raises(ConfigError) as error:
        parse_builder_config(config)
    problems = [p for p in error.value.problems if p.path[0] == "temporary_iam_instance_profile_policy_document"]
    assert problems and words in problems[0].message, error.value.problems
