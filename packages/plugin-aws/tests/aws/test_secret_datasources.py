"""The amazon-secretsmanager and amazon-parameterstore data sources against a
real moto server over HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest
from bakehouse.sdk import ConfigError
from bakehouse.testing.servers import MotoServer
from bakehouse_plugin_aws.datasource import ParameterStoreDatasource, SecretsManagerDatasource
from bakehouse_plugin_aws.ec2 import AwsError

pytestmark = [pytest.mark.moto]


def read_secret(**options: Any) -> dict[str, Any]:
    source = SecretsManagerDatasource()
    source.configure(options)
    return source.execute()


def read_parameter(**options: Any) -> dict[str, Any]:
    source = ParameterStoreDatasource()
    source.configure(options)
    return source.execute()


def test_secretsmanager_reads_keys_text_binary_and_versions(bakehouse_aws_env: MotoServer) -> None:
    secrets = bakehouse_aws_env.client("secretsmanager")
    first = secrets.create_secret(Name="app/db", SecretString=json.dumps({"user": "baker", "port": 5432}))
    second = secrets.put_secret_value(SecretId="app/db", SecretString=json.dumps({"user": "chef", "port": 5433}),
                                      VersionStages=["AWSCURRENT"])
    secrets.create_secret(Name="app/token", SecretString="plain-text-token")
    secrets.create_secret(Name="app/blob", SecretBinary=b"binary-bytes")

    current = read_secret(name="app/db", key="user")
    assert current == {"value": "chef", "secret_string": json.dumps({"user": "chef", "port": 5433}),
                       "secret_binary": "", "version_id": second["VersionId"]}
    assert read_secret(name="app/db", key="port")["value"] == "5433"
    assert read_secret(name="app/db", key="user", version_id=first["VersionId"])["value"] == "baker"
    assert read_secret(name="app/db", key="user", version_stage="AWSPREVIOUS")["value"] == "baker"
    assert read_secret(name="app/token")["value"] == "plain-text-token"
    assert read_secret(name="app/token", key="ignored")["value"] == "plain-text-token"  # Packer's rule
    blob = read_secret(name="app/blob")
    assert (blob["value"], blob["secret_binary"], blob["secret_string"]) == ("binary-bytes", "binary-bytes", "")

    with pytest.raises(AwsError, match=r"secret app/db holds 2 keys \(port, user\): say which one with key"):
        read_secret(name="app/db")
    with pytest.raises(AwsError, match=r"secret app/db has no key 'password' \(its keys: port, user\)"):
        read_secret(name="app/db", key="password")
    with pytest.raises(AwsError, match=r"reading secret app/nope: ResourceNotFoundException: .* \(check name"):
        read_secret(name="app/nope")


def test_parameterstore_reads_value_version_and_arn(bakehouse_aws_env: MotoServer) -> None:
    ssm = bakehouse_aws_env.client("ssm")
    ssm.put_parameter(Name="/app/image", Value="debian-12", Type="String")
    ssm.put_parameter(Name="/app/image", Value="debian-13", Type="String", Overwrite=True)
    ssm.put_parameter(Name="/app/password", Value="s3cret", Type="SecureString")

    found = read_parameter(name="/app/image")
    assert found == {"value": "debian-13", "version": 2,
                     "arn": "arn:aws:ssm:us-east-1:123456789012:parameter/app/image"}
    assert read_parameter(name="/app/password", with_decryption=True)["value"] == "s3cret"
    assert read_parameter(name="/app/password")["value"] != "s3cret"  # still encrypted
    with pytest.raises(AwsError, match=r"reading parameter /app/nope: ParameterNotFound.*\(check name and region\)"):
        read_parameter(name="/app/nope")


def test_secret_data_sources_name_their_option_mistakes(bakehouse_aws_env: MotoServer) -> None:
    with pytest.raises(ConfigError) as missing:
        read_secret(key="x")
    assert [(p.path, p.message) for p in missing.value.problems] == [
        (("name",), "The argument 'name' is required, but no definition was found.")]
    with pytest.raises(ConfigError) as vault:
        read_parameter(name="/x", vault_aws_engine=[{"name": "role"}])
    (problem,) = vault.value.problems
    assert problem.path == ("vault_aws_engine",) and "needs a HashiCorp Vault server" in problem.message
    with pytest.raises(ConfigError) as region:
        read_parameter(name="/x", region="mars-1")
    assert [p.message for p in region.value.problems] == [
        "Unknown region 'mars-1' (set skip_region_validation = true for a private region)."]
