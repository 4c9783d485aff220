"""The amazon data sources: ``amazon-ami`` (one AMI), ``amazon-secretsmanager``
(a Secrets Manager secret) and ``amazon-parameterstore`` (an SSM parameter).

They share the access options (:mod:`bakehouse_plugin_aws.access`) and the
rules for the region: the ``region`` option, else ``AWS_REGION``,
``AWS_DEFAULT_REGION`` or the profile's region in the AWS config file.
"""

from __future__ import annotations

import json
import os
from typing import Any

from bakehouse.sdk import ConfigError, ConfigProblem, Datasource, option
from pydantic import Field

from bakehouse_plugin_aws.access import AccessConfig
from bakehouse_plugin_aws.config import AmiFilter, known_regions
from bakehouse_plugin_aws.ec2 import AwsError, Connection, call
from bakehouse_plugin_aws.images import find_image, image_outputs


class _AwsDatasource(Datasource):
    """Access options checked and the region settled in ``configure``."""

    config: AccessConfig

    def configure(self, config: dict[str, Any]) -> None:
        super().configure(config)
        problems = self.config.access_problems() + self.problems()
        if not self.config.region:
            self.config.region = default_region(self.config.profile)
            if not self.config.region:
                problems.append(ConfigProblem(("region",), "The argument 'region' is required "
                                              "(or set AWS_REGION)."))
        elif not self.config.skip_region_validation and self.config.region not in known_regions():
            problems.append(ConfigProblem(("region",), f"Unknown region {self.config.region!r} (set "
                                          "skip_region_validation = true for a private region)."))
        if problems:
            raise ConfigError(problems)

    def problems(self) -> list[ConfigProblem]:
        """The data source's own option checks."""
        return []

    def client(self, service: str) -> Any:
        return Connection.from_config(self.config).client(self.config.region, service)


def default_region(profile: str = "") -> str:
    """The region boto3 would use: the environment, then the profile in the config file."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        return region
    import boto3
    import botocore.exceptions

    try:
        return boto3.session.Session(profile_name=profile or None).region_name or ""
    except botocore.exceptions.BotoCoreError:
        return ""


class AmazonAmiConfig(AccessConfig):
    """Packer's ``amazon-ami`` options."""

    filters: dict[str, str | list[str]] = Field(default_factory=dict)
    owners: list[str] = Field(default_factory=list)
    most_recent: bool = False
    include_deprecated: bool = False


class AmazonAmiDatasource(_AwsDatasource):
    """Finds the AMI matching ``filters``/``owners`` (newest with ``most_recent``)."""

    config_schema = AmazonAmiConfig
    config: AmazonAmiConfig

    def problems(self) -> list[ConfigProblem]:
        if not self.config.filters and not self.config.owners:
            return [ConfigProblem(("filters",), "At least one of filters or owners must be set.")]
        return []

    def execute(self) -> dict[str, Any]:
        image_filter = AmiFilter(filters=self.config.filters, owners=self.config.owners,
                                 most_recent=self.config.most_recent,
                                 include_deprecated=self.config.include_deprecated)
        return image_outputs(find_image(self.client("ec2"), image_filter))


class SecretsManagerConfig(AccessConfig):
    """Packer's ``amazon-secretsmanager`` options."""

    name: str = option(..., note="the secret's name or ARN")
    key: str = option("", note="the key to read when the secret is a JSON object")
    version_id: str = option("", note="a version of the secret")
    version_stage: str = option("", note="a staging label (AWSCURRENT unless version_id is set)")


class SecretsManagerDatasource(_AwsDatasource):
    """Reads one secret: ``value`` (the ``key`` of a JSON secret, or the whole
    text), ``secret_string``, ``secret_binary`` and ``version_id``."""

    config_schema = SecretsManagerConfig
    config: SecretsManagerConfig

    def problems(self) -> list[ConfigProblem]:
        if not self.config.name:
            return [ConfigProblem(("name",), "The argument 'name' must not be empty.")]
        return []

    def execute(self) -> dict[str, Any]:
        from bakehouse.log import add_sensitive

        config = self.config
        request: dict[str, Any] = {"SecretId": config.name}
        if config.version_id:
            request["VersionId"] = config.version_id
        if config.version_stage or not config.version_id:
            request["VersionStage"] = config.version_stage or "AWSCURRENT"
        secrets = self.client("secretsmanager")
        try:
            secret = call(f"reading secret {config.name}", secrets.get_secret_value, **request)
        except AwsError as exc:
            raise AwsError(_not_found_hint(exc, "ResourceNotFoundException",
                                           "(check name, version_id, version_stage and region)")) from None
        text = secret.get("SecretString")
        binary = secret.get("SecretBinary")
        binary_text = binary.decode("utf-8", errors="replace") if isinstance(binary, bytes) else ""
        add_sensitive([v for v in (text, binary_text) if v])
        if text is None:
            if config.key:
                raise AwsError(f"secret {config.name} is binary: key {config.key!r} cannot select from it")
            value = binary_text
        else:
            value = secret_value(config.name, text, config.key)
        return {"value": value, "secret_string": text or "", "secret_binary": binary_text,
                "version_id": secret.get("VersionId", "")}


def secret_value(name: str, text: str, key: str) -> str:
    """Packer's rule for a secret's value: a JSON object's ``key`` (its only
    value when no key is given); any other text as it is."""
    try:
        document = json.loads(text)
    except ValueError:
        return text
    if not isinstance(document, dict):
        return text
    if not key:
        if len(document) != 1:
            raise AwsError(f"secret {name} holds {len(document)} keys ({', '.join(sorted(document))}): "
                           "say which one with key")
        (found,) = document.values()
    elif key in document:
        found = document[key]
    else:
        raise AwsError(f"secret {name} has no key {key!r} (its keys: {', '.join(sorted(document)) or 'none'})")
    return found if isinstance(found, str) else json.dumps(found)


def _not_found_hint(exc: AwsError, code: str, hint: str) -> str:
    return f"{exc} {hint}" if code in str(exc) else str(exc)


class ParameterStoreConfig(AccessConfig):
    """Packer's ``amazon-parameterstore`` options."""

    name: str = option(..., note="the parameter's name or ARN")
    with_decryption: bool = option(False, note="decrypt a SecureString")


class ParameterStoreDatasource(_AwsDatasource):
    """Reads one SSM parameter: ``value``, ``version``, ``arn``."""

    config_schema = ParameterStoreConfig
    config: ParameterStoreConfig

    def problems(self) -> list[ConfigProblem]:
        if not self.config.name:
            return [ConfigProblem(("name",), "The argument 'name' must not be empty.")]
        return []

    def execute(self) -> dict[str, Any]:
        from bakehouse.log import add_sensitive

        ssm = self.client("ssm")
        try:
            answer = call(f"reading parameter {self.config.name}", ssm.get_parameter,
                          Name=self.config.name, WithDecryption=self.config.with_decryption)
        except AwsError as exc:
            raise AwsError(_not_found_hint(exc, "ParameterNotFound", "(check name and region)")) from None
        parameter = answer["Parameter"]
        if parameter.get("Type") == "SecureString" and self.config.with_decryption:
            add_sensitive([parameter.get("Value", "")])
        return {"value": parameter.get("Value", ""), "version": int(parameter.get("Version", 0)),
                "arn": parameter.get("ARN", "")}

