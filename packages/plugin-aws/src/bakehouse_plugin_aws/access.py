"""Who the plugin is towards AWS, and how it gets there: Packer's access options.

:class:`AccessConfig` holds the options the builder and every amazon data
source share (Packer's ``access_config.go``). :func:`new_session` turns them
into a boto3 session: a credentials file and profile, the template's keys,
the standard chain (without the instance metadata service when
``skip_metadata_api_check``), an MFA code for profiles that assume a role with
``mfa_serial``, and an ``assume_role`` block on top of whatever the source
credentials are. :func:`check_credentials` is Packer's credential validation
(``sts:GetCallerIdentity``), :func:`decode_authorization_failures` makes
EC2's encoded authorization failures readable (``sts:DecodeAuthorizationMessage``).

boto3 is imported only by the functions that need it, so parsing a template's
configuration does not load it.
"""

from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from bakehouse.sdk import Config, ConfigProblem, option, unsupported
from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:
    import boto3

_VAULT = ("it needs a HashiCorp Vault server and its AWS secrets engine, which Bakehouse does not "
          "talk to; pass credentials with access_key/secret_key, profile, shared_credentials_file "
          "or assume_role")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$")
_SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,64}$")


class AccessError(Exception):
    """Credentials could not be obtained or were refused; the message says which option to look at."""


class AssumeRole(BaseModel):
    """``assume_role { ... }``: sts:AssumeRole with the source credentials, and use the role's."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    role_arn: str
    session_name: str = ""
    external_id: str = ""
    duration_seconds: int = 0
    policy: str = ""
    policy_arns: list[str] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)
    transitive_tag_keys: list[str] = Field(default_factory=list)

    @field_validator("role_arn")
    @classmethod
    def _role_arn(cls, value: str) -> str:
        if not value:
            raise ValueError("The role_arn of an assume_role block must not be empty")
        if not _ROLE_ARN.match(value):
            raise ValueError(f"The role_arn {value!r} is not an IAM role ARN "
                             "(arn:aws:iam::123456789012:role/NAME)")
        return value

    @field_validator("session_name")
    @classmethod
    def _session_name(cls, value: str) -> str:
        if value and not _SESSION_NAME.match(value):
            raise ValueError(f"The session_name {value!r} must be 2-64 letters, digits or +=,.@-_")
        return value

    @field_validator("duration_seconds")
    @classmethod
    def _duration(cls, value: int) -> int:
        if value and not 900 <= value <= 43200:
            raise ValueError(f"The duration_seconds ({value}) must be between 900 (15 minutes) and 43200 (12 hours)")
        return value

    @field_validator("policy")
    @classmethod
    def _policy(cls, value: str) -> str:
        if value:
            try:
                json.loads(value)
            except ValueError:
                raise ValueError("The policy must be an IAM policy document in JSON (jsonencode({...}) makes one)") from None
        return value


class AccessConfig(Config):
    """Where and as whom to talk to AWS (shared by the builder and the data sources)."""

    region: str = ""
    access_key: str = ""
    secret_key: str = ""
    token: str = option("", note="session token of temporary access_key/secret_key")
    profile: str = option("", note="a profile of the shared credentials/config files")
    shared_credentials_file: str = option("", note="instead of ~/.aws/credentials")
    custom_endpoint_ec2: str = ""
    skip_region_validation: bool = False
    skip_credential_validation: bool = option(
        False, note="no sts:GetCallerIdentity before the first call")
    max_retries: int = option(0, note="boto3 standard retry mode's attempts")
    assume_role: AssumeRole | None = option(None, note="sts:AssumeRole; the role's credentials make every call")
    insecure_skip_tls_verify: bool = option(False, note="no TLS certificate check of any AWS endpoint")
    skip_metadata_api_check: bool = option(
        False, note="the instance metadata service is not asked for credentials")
    mfa_code: str = option("", note="the MFA code of a profile that assumes a role with mfa_serial")
    decode_authorization_messages: bool = option(
        False, note="sts:DecodeAuthorizationMessage on encoded authorization failures")
    vault_aws_engine: Any = unsupported(_VAULT)

    @field_validator("assume_role", mode="before")
    @classmethod
    def _one_assume_role(cls, value: Any) -> Any:
        # an HCL block arrives as a list of objects
        if isinstance(value, list):
            if len(value) > 1:
                raise ValueError("Only one assume_role block is allowed.")
            return value[0] if value else None
        return value

    @field_validator("max_retries")
    @classmethod
    def _retries(cls, value: int) -> int:
        if value < 0:
            raise ValueError("The max_retries must not be negative")
        return value

    def access_problems(self) -> list[ConfigProblem]:
        """Access options that contradict each other or name what does not exist."""
        found: list[ConfigProblem] = []
        if bool(self.access_key) != bool(self.secret_key):
            found.append(ConfigProblem(("access_key" if not self.access_key else "secret_key",),
                                       "access_key and secret_key must both be either set or not set."))
        if self.shared_credentials_file and not os.path.isfile(os.path.expanduser(self.shared_credentials_file)):
            found.append(ConfigProblem(("shared_credentials_file",),
                                       f"shared_credentials_file {self.shared_credentials_file!r} does not exist."))
        if self.custom_endpoint_ec2 and urlparse(self.custom_endpoint_ec2).scheme not in ("http", "https"):
            found.append(ConfigProblem(("custom_endpoint_ec2",),
                                       f"custom_endpoint_ec2 {self.custom_endpoint_ec2!r} is not an http(s) URL."))
        return found


@dataclass(frozen=True)
class RoleToAssume:
    """An ``assume_role`` block in hashable form (it is part of a connection's identity)."""

    role_arn: str
    session_name: str = ""
    external_id: str = ""
    duration_seconds: int = 0
    policy: str = ""
    policy_arns: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    transitive_tag_keys: tuple[str, ...] = ()

    @classmethod
    def from_block(cls, block: AssumeRole | None) -> RoleToAssume | None:
        if block is None:
            return None
        return cls(block.role_arn, block.session_name, block.external_id, block.duration_seconds,
                   block.policy, tuple(block.policy_arns), tuple(sorted(block.tags.items())),
                   tuple(block.transitive_tag_keys))

    def request(self) -> dict[str, Any]:
        """sts:AssumeRole's arguments besides RoleArn."""
        args: dict[str, Any] = {"RoleSessionName": self.session_name or "bakehouse"}
        if self.external_id:
            args["ExternalId"] = self.external_id
        if self.duration_seconds:
            args["DurationSeconds"] = self.duration_seconds
        if self.policy:
            args["Policy"] = self.policy
        if self.policy_arns:
            args["PolicyArns"] = [{"arn": arn} for arn in self.policy_arns]
        if self.tags:
            args["Tags"] = [{"Key": key, "Value": value} for key, value in self.tags]
        if self.transitive_tag_keys:
            args["TransitiveTagKeys"] = list(self.transitive_tag_keys)
        return args

    def journal_details(self) -> dict[str, Any]:
        """What ``bakehouse cleanup`` needs to assume the role again (nothing secret)."""
        return {"role_arn": self.role_arn, "session_name": self.session_name, "external_id": self.external_id}


@dataclass(frozen=True)
class Access:
    """The access options as the plugin keeps them (hashable: sessions are cached per access)."""

    profile: str = ""
    access_key: str = ""
    secret_key: str = ""
    token: str = ""
    shared_credentials_file: str = ""
    role: RoleToAssume | None = None
    mfa_code: str = ""
    verify_tls: bool = True
    skip_metadata_api_check: bool = False
    validate_credentials: bool = False
    decode_authorization_messages: bool = False

    @classmethod
    def from_config(cls, config: AccessConfig) -> Access:
        from bakehouse.log import add_sensitive

        add_sensitive([config.secret_key, config.token])  # never in this plugin's log lines
        return cls(
            profile=config.profile, access_key=config.access_key, secret_key=config.secret_key,
            token=config.token,
            shared_credentials_file=os.path.expanduser(config.shared_credentials_file),
            role=RoleToAssume.from_block(config.assume_role), mfa_code=config.mfa_code,
            verify_tls=not config.insecure_skip_tls_verify,
            skip_metadata_api_check=config.skip_metadata_api_check,
            validate_credentials=not config.skip_credential_validation,
            decode_authorization_messages=config.decode_authorization_messages,
        )

    def journal_details(self) -> dict[str, Any]:
        details: dict[str, Any] = {"profile": self.profile}
        if self.shared_credentials_file:
            details["shared_credentials_file"] = self.shared_credentials_file
        if self.role is not None:
            details["assume_role"] = self.role.journal_details()
        if not self.verify_tls:
            details["insecure_skip_tls_verify"] = True
        return details

    @classmethod
    def from_journal(cls, details: dict[str, Any]) -> Access:
        role = details.get("assume_role")
        return cls(
            profile=str(details.get("profile") or ""),
            shared_credentials_file=str(details.get("shared_credentials_file") or ""),
            role=RoleToAssume(str(role.get("role_arn", "")), str(role.get("session_name") or ""),
                              str(role.get("external_id") or "")) if isinstance(role, dict) else None,
            verify_tls=not details.get("insecure_skip_tls_verify"),
        )


def client_settings(access: Access, max_retries: int) -> dict[str, Any]:
    """Keyword arguments of ``session.client`` that every AWS client of a connection shares."""
    import botocore.config

    retries: dict[str, Any] = {"mode": "standard"}
    if max_retries:
        retries["max_attempts"] = max_retries
    if not access.verify_tls:
        _quiet_insecure_warnings()
    return {"verify": access.verify_tls, "config": botocore.config.Config(retries=retries)}


@functools.cache
def _quiet_insecure_warnings() -> None:
    # insecure_skip_tls_verify is the user's explicit choice: one warning per request is noise
    import urllib3

    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)


def new_session(access: Access, region: str, max_retries: int = 0) -> boto3.session.Session:
    """A boto3 session with the credentials ``access`` describes (assumed role on top)."""
    import boto3
    import botocore.credentials
    import botocore.session

    base = _botocore_session(access)
    if access.role is None:
        return boto3.session.Session(botocore_session=base, **_static_keys(access))
    source = boto3.session.Session(botocore_session=base, **_static_keys(access)).get_credentials()
    if source is None:
        raise AccessError(f"assume_role {access.role.role_arn}: no source credentials to assume it with "
                          "(set access_key/secret_key or profile, or the AWS_* environment variables)")
    settings = client_settings(access, max_retries)
    fetcher = botocore.credentials.AssumeRoleCredentialFetcher(
        client_creator=functools.partial(base.create_client, region_name=region, **settings),
        source_credentials=source,
        role_arn=access.role.role_arn,
        extra_args=access.role.request(),
    )
    # refreshed before they expire, so a build longer than the role's session keeps working
    assumed = botocore.credentials.DeferredRefreshableCredentials(
        method="assume-role", refresh_using=fetcher.fetch_credentials)
    session = _botocore_session(access)
    session.get_component("credential_provider").insert_before("env", _Fixed(assumed))
    return boto3.session.Session(botocore_session=session)


def _static_keys(access: Access) -> dict[str, Any]:
    return {"aws_access_key_id": access.access_key or None,
            "aws_secret_access_key": access.secret_key or None,
            "aws_session_token": access.token or None}


def _botocore_session(access: Access) -> Any:
    import botocore.session

    session = botocore.session.Session()
    if access.shared_credentials_file:
        session.set_config_variable("credentials_file", access.shared_credentials_file)
    if access.profile:
        session.set_config_variable("profile", access.profile)
    resolver = session.get_component("credential_provider")
    if access.skip_metadata_api_check:
        resolver.remove("iam-role")
    profile_role = resolver.get_provider("assume-role")
    # A profile with role_arn and mfa_serial asks for a code: from mfa_code, never
    # from a terminal prompt (the plugin's stdin is not the user's terminal).
    # botocore has no public setter for its prompter.
    if hasattr(profile_role, "_prompter"):
        profile_role._prompter = functools.partial(_mfa_code, access)
    return session


def _mfa_code(access: Access, prompt: str) -> str:
    if not access.mfa_code:
        raise AccessError(f"profile {access.profile or 'default'!r} assumes a role with an MFA device "
                          f"({prompt.strip().rstrip(':')}): set mfa_code")
    return access.mfa_code


class _Fixed:
    """A credential provider that hands out credentials made elsewhere (the assumed role's)."""

    METHOD = "assume-role"
    CANONICAL_NAME = "bakehouse-assume-role"

    def __init__(self, credentials: Any) -> None:
        self._credentials = credentials

    def load(self) -> Any:
        return self._credentials


def _is_aws(endpoint: str) -> bool:
    host = urlparse(endpoint).hostname or ""
    return host.endswith((".amazonaws.com", ".amazonaws.com.cn", ".api.aws"))


def check_credentials(session: boto3.session.Session, ec2: Any, access: Access, region: str,
                      max_retries: int = 0) -> str | None:
    """Packer's credential validation: sts:GetCallerIdentity; returns the caller's ARN.

    Skipped (None) when EC2 is not AWS's but STS would be: a custom EC2 endpoint
    (a private cloud, an emulator) has credentials AWS's STS does not know, and
    asking it would send them to AWS. Point STS there too (``AWS_ENDPOINT_URL``
    or ``AWS_ENDPOINT_URL_STS``) to have them checked.
    """
    from bakehouse_plugin_aws.ec2 import describe_error

    sts = session.client("sts", region_name=region, **client_settings(access, max_retries))
    if not _is_aws(ec2.meta.endpoint_url) and _is_aws(sts.meta.endpoint_url):
        return None
    try:
        return str(sts.get_caller_identity()["Arn"])
    except AccessError:
        raise
    except Exception as exc:  # botocore's errors, whatever their class
        raise AccessError(f"the AWS credentials were refused by sts:GetCallerIdentity at "
                          f"{sts.meta.endpoint_url}: {describe_error(exc)} (check access_key/secret_key, "
                          "profile or assume_role; skip_credential_validation = true skips this check)") from None


_ENCODED = re.compile(r"Encoded authorization failure message:\s*(\S+)")


def decode_authorization_failures(client: Any, session: boto3.session.Session, access: Access,
                                  region: str, max_retries: int = 0) -> None:
    """Make ``client``'s errors carry the decoded text of an encoded authorization
    failure (sts:DecodeAuthorizationMessage), as Packer's decode_authorization_messages."""
    sts: list[Any] = []

    def decode(parsed: dict[str, Any], **_: Any) -> None:
        error = parsed.get("Error") if isinstance(parsed, dict) else None
        if not isinstance(error, dict):
            return
        message = str(error.get("Message") or "")
        found = _ENCODED.search(message)
        if found is None:
            return
        if not sts:
            sts.append(session.client("sts", region_name=region, **client_settings(access, max_retries)))
        from bakehouse_plugin_aws.ec2 import describe_error

        try:
            decoded = sts[0].decode_authorization_message(EncodedMessage=found.group(1))["DecodedMessage"]
        except Exception as exc:  # the failure to decode must not hide the original error
            error["Message"] = f"{message} (sts:DecodeAuthorizationMessage failed: {describe_error(exc)})"
            return
        error["Message"] = f"{message[:found.start()]}Decoded authorization failure message: {decoded}"

    client.meta.events.register(f"after-call.{client.meta.service_model.service_id.hyphenize()}", decode)
