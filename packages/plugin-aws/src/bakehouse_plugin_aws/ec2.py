"""Talking to EC2: clients for the configured endpoint and credentials, and
polling that honours ``aws_polling`` and cancellation.

Only boto3 is used. The endpoint comes from ``custom_endpoint_ec2`` or, when
that is empty, from boto3's standard places (``AWS_ENDPOINT_URL_EC2``,
``AWS_ENDPOINT_URL``, the config file); credentials from the template's
access options (:mod:`bakehouse_plugin_aws.access`) or the standard chain.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import boto3
import botocore.exceptions
import botocore.parsers
from bakehouse.sdk import Context

from bakehouse_plugin_aws.access import (
    Access,
    AccessConfig,
    AccessError,
    check_credentials,
    client_settings,
    decode_authorization_failures,
    new_session,
)
from bakehouse_plugin_aws.config import Polling

T = TypeVar("T")

_CLIENT_ENVIRONMENT = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_IAM",
                       "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL_SSM", "AWS_PROFILE",
                       "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE",
                       "AWS_SHARED_CREDENTIALS_FILE", "AWS_EC2_METADATA_DISABLED",
                       "AWS_EC2_METADATA_SERVICE_ENDPOINT")
_CLIENTS: dict[tuple[Connection, str, str, tuple[str, ...]], Any] = {}
_SESSIONS: dict[tuple[Connection, tuple[str, ...]], boto3.session.Session] = {}
_CLIENTS_LOCK = threading.Lock()


class AwsError(Exception):
    """An EC2 operation failed; the message names the resource."""


@dataclass(frozen=True)
class Connection:
    """What is needed to reach EC2 again later (also stored in the journal,
    without secrets, so ``bakehouse cleanup`` can remove leftovers)."""

    endpoint: str = ""
    access: Access = Access()
    max_retries: int = 0

    @classmethod
    def from_config(cls, config: AccessConfig) -> Connection:
        return cls(config.custom_endpoint_ec2, Access.from_config(config), config.max_retries)

    def client(self, region: str, service: str = "ec2") -> Any:
        """A boto3 client of ``service`` (EC2 by default; ``custom_endpoint_ec2``
        is EC2's alone; IAM's comes from AWS_ENDPOINT_URL_IAM & co.) for ``region``, made once and reused: creating
        sessions and clients costs hundreds of milliseconds each (model
        loading); clients are thread-safe, sessions are not, hence the lock.
        The first client of a connection checks its credentials (unless
        skip_credential_validation)."""
        # The environment is part of the key: boto3 reads the endpoint and
        # credentials from it when the client is made.
        environment = tuple(os.environ.get(name, "") for name in _CLIENT_ENVIRONMENT)
        with _CLIENTS_LOCK:
            key = (self, region, service, environment)
            if key not in _CLIENTS:
                # One session per connection: clients made from the same session
                # share its loaded service models, so a second region is cheap.
                session_key = (self, environment)
                fresh = session_key not in _SESSIONS
                if fresh:
                    try:
                        _SESSIONS[session_key] = new_session(self.access, region, self.max_retries)
                    except (AccessError, botocore.exceptions.BotoCoreError) as exc:
                        raise AwsError(describe_error(exc)) from None
                session = _SESSIONS[session_key]
                client = self._new_client(session, region, service)
                if fresh and self.access.validate_credentials:
                    try:
                        check_credentials(session, client, self.access, region, self.max_retries)
                    except AccessError as exc:
                        del _SESSIONS[session_key]
                        raise AwsError(str(exc)) from None
                _CLIENTS[key] = client
            return _CLIENTS[key]

    def _new_client(self, session: boto3.session.Session, region: str, service: str) -> Any:
        endpoint = self.endpoint if service == "ec2" else ""
        client = session.client(service, region_name=region, endpoint_url=endpoint or None,
                                **client_settings(self.access, self.max_retries))
        if self.access.decode_authorization_messages:
            decode_authorization_failures(client, session, self.access, region, self.max_retries)
        return client

    def journal_details(self, region: str) -> dict[str, Any]:
        """Non-secret connection facts for a journal entry."""
        return {"region": region, "endpoint": self.endpoint, **self.access.journal_details()}

    @classmethod
    def from_journal(cls, details: dict[str, Any]) -> Connection:
        return cls(endpoint=str(details.get("endpoint") or ""), access=Access.from_journal(details))


def error_code(exc: BaseException) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def describe_error(exc: BaseException) -> str:
    """A one-line description of a boto3/botocore failure."""
    if isinstance(exc, botocore.exceptions.ClientError):
        err = exc.response.get("Error", {})
        return f"{err.get('Code', 'Error')}: {err.get('Message', '')}".strip()
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return ("no AWS credentials found (set access_key/secret_key or profile, or the "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY environment variables)")
    if isinstance(exc, AccessError):
        return str(exc)
    if isinstance(exc, botocore.exceptions.SSLError):
        return f"{exc} (insecure_skip_tls_verify = true skips the certificate check)"
    if isinstance(exc, botocore.exceptions.EndpointConnectionError):
        return f"cannot reach the EC2 endpoint: {exc}"
    return str(exc) or type(exc).__name__


def call(what: str, fn: Callable[..., T], **kwargs: Any) -> T:
    """Call an EC2 API, turning failures into :class:`AwsError` naming ``what``."""
    try:
        return fn(**kwargs)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, AccessError) as exc:
        raise AwsError(f"{what}: {describe_error(exc)}") from None
    except botocore.parsers.ResponseParserError as exc:
        # an endpoint that does not implement the call (moto) answers with HTML
        raise AwsError(f"{what}: the endpoint's answer is not an EC2 response "
                       f"(does it implement this call?): {str(exc).splitlines()[0]}") from None


def wait_until(
    ctx: Context,
    polling: Polling,
    resource: str,
    target: str,
    probe: Callable[[], str],
    *,
    failed_states: tuple[str, ...] = (),
) -> None:
    """Poll ``probe()`` (which returns the current state) until it returns
    ``target``; fail on ``failed_states`` or after ``aws_polling.max_attempts``.
    Cancellation is checked between polls."""
    attempts = polling.attempts()
    state = "unknown"
    for attempt in range(attempts):
        ctx.check()
        try:
            state = probe()
        except AwsError:
            raise
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            # a just-created resource may not be visible yet: keep polling
            state = describe_error(exc)
        if state == target:
            return
        if state in failed_states:
            raise AwsError(f"{resource} entered state {state!r} while waiting for {target!r}")
        if attempt + 1 < attempts and ctx.wait(polling.delay_seconds):
            ctx.check()
    raise AwsError(
        f"timeout waiting for {resource} to become {target!r} "
        f"({attempts} attempts, {polling.delay_seconds:g}s apart): last state {state!r}"
    )


def filters_to_api(filters: dict[str, str | list[str]]) -> list[dict[str, Any]]:
    """Template ``filters`` map -> EC2 ``Filters`` list."""
    return [
        {"Name": name, "Values": list(value) if isinstance(value, list) else [value]}
        for name, value in sorted(filters.items())
    ]


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]


def tags_dict(tags: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or []}
