"""Registry credentials for pulls, Dockerfile builds and pushes: ``login`` and ``ecr_login``.

The same options as Packer's docker builder and ``docker-push``:

- ``login = true`` with ``login_server``/``login_username``/``login_password``;
- ``ecr_login = true`` with ``login_server`` naming an Amazon ECR registry
  (``<account>.dkr.ecr.<region>.amazonaws.com``): the user name and password
  come from ECR's ``GetAuthorizationToken`` (boto3), with the ``aws_*``
  options or the standard AWS environment (``AWS_PROFILE``,
  ``AWS_ENDPOINT_URL``, ...) as credentials.

Packer runs ``docker login``, which stores the password in
``~/.docker/config.json`` until its ``docker logout``. Here the credentials go
with each Engine API call that needs them (the pull, the build, the push) and
are never written anywhere.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import docker
from bakehouse.sdk import Ui

from bakehouse_plugin_docker import engine
from bakehouse_plugin_docker.engine import DockerEngineError, RegistryLogin

if TYPE_CHECKING:  # the model is imported only to report mistakes (see options.py)
    from bakehouse_plugin_docker.config import RegistryLoginOptions

#: Packer's form of an ECR registry address (scheme and path optional).
ECR_SERVER = re.compile(r"^(?:https?://)?(\d+)\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:[:/].*)?$")


def login_problems(options: RegistryLoginOptions, problem: Callable[[str, str], None]) -> None:
    """Report mistakes in the login options (``problem(message, option)``)."""
    if options.ecr_login:
        if not options.login_server:
            problem("ecr_login = true needs login_server (the ECR registry, "
                    "<account>.dkr.ecr.<region>.amazonaws.com).", "login_server")
        elif not ECR_SERVER.match(options.login_server):
            problem(f"login_server {options.login_server!r} is not an ECR registry: ecr_login needs "
                    "the form <account>.dkr.ecr.<region>.amazonaws.com.", "login_server")
    elif options.login and (not options.login_username or not options.login_password):
        problem("login = true needs login_username and login_password.", "login")
    if bool(options.aws_access_key) != bool(options.aws_secret_key):
        problem("aws_access_key and aws_secret_key go together.",
                "aws_secret_key" if options.aws_access_key else "aws_access_key")


def aws_keys_warnings(options: RegistryLoginOptions) -> list[str]:
    """The ``aws_*`` options only serve ``ecr_login``: say so when they are set alone."""
    if options.ecr_login:
        return []
    return [f"{name} is only used with ecr_login = true; it is ignored here"
            for name in ("aws_access_key", "aws_secret_key", "aws_token", "aws_profile")
            if getattr(options, name)]


def ecr_credentials(options: RegistryLoginOptions) -> RegistryLogin:
    """User name and password for ``login_server`` from ECR's GetAuthorizationToken."""
    match = ECR_SERVER.match(options.login_server)
    if match is None:  # prepare() refuses this; keep the message if called directly
        raise DockerEngineError(f"login_server {options.login_server!r} is not an ECR registry")
    account, region = match.groups()
    try:
        import boto3
        import botocore.exceptions
    except ImportError:
        raise DockerEngineError(
            "ecr_login needs boto3: pip install 'bakehouse-plugin-docker[ecr]'"
        ) from None
    where = f"ECR registry {account} in {region}"
    try:
        session = boto3.Session(
            aws_access_key_id=options.aws_access_key or None,
            aws_secret_access_key=options.aws_secret_key or None,
            aws_session_token=options.aws_token or None,
            profile_name=options.aws_profile or None,
            region_name=region,
        )
        answer = session.client("ecr").get_authorization_token(registryIds=[account])
        token = answer["authorizationData"][0]["authorizationToken"]
        username, _, password = base64.b64decode(token).decode("utf-8").partition(":")
    except botocore.exceptions.ProfileNotFound as exc:
        raise DockerEngineError(f"Error fetching ECR credentials for {where}: {exc}") from None
    except botocore.exceptions.NoCredentialsError:
        raise DockerEngineError(
            f"Error fetching ECR credentials for {where}: no AWS credentials (set aws_access_key "
            "and aws_secret_key, aws_profile, or the AWS_* environment)"
        ) from None
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise DockerEngineError(f"Error fetching ECR credentials for {where}: {exc}") from None
    except (KeyError, IndexError, ValueError) as exc:
        raise DockerEngineError(f"Error fetching ECR credentials for {where}: malformed token ({exc})") from None
    if not password:
        raise DockerEngineError(f"Error fetching ECR credentials for {where}: the token holds no password")
    return RegistryLogin(options.login_server, username, password)


def registry_auth(client: docker.DockerClient, options: RegistryLoginOptions, ui: Ui) -> dict[str, Any] | None:
    """The auth config to send with a pull, build or push, or None without a login.

    ``login``: the engine checks the credentials with the registry first (as
    ``docker login`` does). ``ecr_login``: the token comes straight from AWS;
    the pull or push itself is what the registry checks it with.
    """
    if options.ecr_login:
        ui.message("Fetching ECR credentials...")
        credentials = ecr_credentials(options)
        ui.message(f"Using the ECR token for {options.login_server} (user {credentials.username})")
        auth = credentials.auth_config()
    elif options.login:
        ui.message(f"Logging in to {options.login_server or 'the default registry'}...")
        auth = engine.login(client, RegistryLogin(options.login_server, options.login_username,
                                                  options.login_password))
    else:
        return None
    # Dockerfile builds send every known login (X-Registry-Config): keep it in
    # this client (memory only) under the registry it is for.
    client.api._auth_configs.add_auth(options.login_server or "https://index.docker.io/v1/", auth)
    return auth
