"""End to end: amazon-ebs's access options through the real CLI and the aws
plugin's process, against a moto server over HTTP."""

from __future__ import annotations

import textwrap
from pathlib import Path

import boto3
import pytest
from bakehouse.testing.servers import MotoServer

pytestmark = [pytest.mark.moto]

ROLE = "arn:aws:iam::210987654321:role/image-builder"


def _role_client(moto: MotoServer) -> object:
    creds = moto.client("sts").assume_role(RoleArn=ROLE, RoleSessionName="check")["Credentials"]
    return boto3.client("ec2", region_name="us-east-1", endpoint_url=moto.endpoint,
                        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"])


def test_build_with_assume_role_makes_the_ami_in_the_roles_account(
        bakehouse_aws_env: MotoServer, bakehouse, tmp_path: Path) -> None:
    ec2 = _role_client(bakehouse_aws_env)
    source = ec2.register_image(  # type: ignore[attr-defined]
        Name="role-source", Architecture="x86_64", RootDeviceName="/dev/sda1", VirtualizationType="hvm",
        BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 8}}])["ImageId"]
    (tmp_path / "t.pkr.hcl").write_text(textwrap.dedent(f"""
        source "amazon-ebs" "app" {{
          region        = "us-east-1"
          instance_type = "t2.micro"
          source_ami    = "{source}"
          ami_name      = "built-as-a-role"
          communicator  = "none"
          assume_role {{
            role_arn     = "{ROLE}"
            session_name = "bakehouse-e2e"
          }}
          aws_polling {{
            delay_seconds = 0.1
            max_attempts  = 100
          }}
        }}
        build {{
          sources = ["source.amazon-ebs.app"]
        }}
        """))
    result = bakehouse("build", "t.pkr.hcl", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    [image] = ec2.describe_images(  # type: ignore[attr-defined]
        Owners=["self"], Filters=[{"Name": "name", "Values": ["built-as-a-role"]}])["Images"]
    assert image["OwnerId"] == "210987654321"
    assert f"us-east-1: {image['ImageId']}" in result.stdout
    own = bakehouse_aws_env.client().describe_images(Owners=["self"])["Images"]
    assert [i for i in own if i["Name"] == "built-as-a-role"] == []


def test_access_mistakes_and_vault_are_reported_at_their_line(
        bakehouse_aws_env: MotoServer, bakehouse, tmp_path: Path) -> None:
    (tmp_path / "t.pkr.hcl").write_text(textwrap.dedent("""
        source "amazon-ebs" "app" {
          region        = "us-east-1"
          instance_type = "t2.micro"
          source_ami    = "ami-12345678"
          ami_name      = "never-built"
          ssh_username  = "root"
          assume_role {
            role_arn         = "image-builder"
            duration_seconds = 60
          }
          vault_aws_engine {
            name = "my-role"
          }
        }
        build {
          sources = ["source.amazon-ebs.app"]
        }
        """))
    result = bakehouse("validate", "t.pkr.hcl", cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "on t.pkr.hcl line 9" in output and "The role_arn 'image-builder' is not an IAM role ARN" in output
    assert "on t.pkr.hcl line 10" in output and "The duration_seconds (60) must be between 900" in output
    assert "on t.pkr.hcl line 12" in output  # the vault_aws_engine block
    assert "Option 'vault_aws_engine' is not supported by Bakehouse: it needs a HashiCorp Vault server" in output
    assert "not expected here" not in output
    assert "Traceback" not in output


def test_a_profile_that_needs_an_mfa_code_fails_the_build_by_name(
        bakehouse_aws_env: MotoServer, bakehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "credentials").write_text("[base]\naws_access_key_id = AKIABASE000000000000\n"
                                          "aws_secret_access_key = b\n")
    (tmp_path / "config").write_text(f"[profile deploy]\nrole_arn = {ROLE}\nsource_profile = base\n"
                                     "mfa_serial = arn:aws:iam::123456789012:mfa/baker\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    (tmp_path / "t.pkr.hcl").write_text(textwrap.dedent("""
        data "amazon-ami" "base" {
          owners                  = ["self"]
          profile                 = "deploy"
          shared_credentials_file = "credentials"
        }
        source "null" "s" {}
        build {
          sources = ["source.null.s"]
        }
        """))
    result = bakehouse("build", "t.pkr.hcl", cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "profile 'deploy' assumes a role with an MFA device" in output and "set mfa_code" in output
    assert "Traceback" not in output
