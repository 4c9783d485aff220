"""The ``docker`` builder's options as config models, named and defaulted as
Packer's docker builder: what ``bakehouse plugins docs`` shows and what reports
mistakes. pydantic rejects unknown names and wrong types, and every problem
carries the attribute path so the core can print ``file:line``. The builder
runs with :class:`~bakehouse_plugin_docker.options.DockerOptions`, which takes
plainly valid arguments without importing this module (see options.py); the
rules that span options are in :func:`~bakehouse_plugin_docker.options.validate`.
"""

from __future__ import annotations

from typing import Any, Literal

from bakehouse.sdk import Config, SSHConfig, unsupported
from pydantic import Field, field_validator

from bakehouse_plugin_docker.run_command import DEFAULT_RUN_COMMAND


class RegistryLoginOptions(Config):
    """``login*``, ``ecr_login`` and the ``aws_*`` credentials it uses."""

    login: bool = Field(False, description="Log in to login_server with login_username/login_password.")
    login_server: str = ""
    login_username: str = ""
    login_password: str = ""
    ecr_login: bool = Field(False, description=(
        "Log in to the ECR registry login_server with a token from ECR's GetAuthorizationToken (boto3)."))
    aws_access_key: str = Field("", description="AWS credentials for ecr_login (else the AWS environment).")
    aws_secret_key: str = Field("", description="AWS credentials for ecr_login.")
    aws_token: str = Field("", description="AWS session token for ecr_login.")
    aws_profile: str = Field("", description="AWS shared-config profile for ecr_login.")
    aws_force_use_public_ecr: Any = unsupported(
        "Amazon ECR Public login is not implemented (only private ECR registries, through ecr_login): "
        "use login = true, login_server = \"public.ecr.aws\", login_username = \"AWS\" and the "
        "password from `aws ecr-public get-login-password`.")


class DockerfileBuild(Config):
    """The ``build`` block: make the base image from a Dockerfile first."""

    path: str = Field(description="Path of the Dockerfile.")
    build_dir: str = Field("", description=(
        "Build context directory (default: the current directory, where bakehouse runs, as in Packer)."))
    arguments: dict[str, str] = Field(default_factory=dict, description="Build arguments (--build-arg).")
    pull: bool = Field(True, description="Pull newer versions of the FROM images (Packer's default: true).")
    platform: str = Field("", description="Platform to build for (os/arch[/variant]); also the container's.")
    compress: bool = Field(False, description="Send the build context gzip-compressed.")


_WINRM = "WinRM serves Windows containers; Bakehouse builds Linux containers only."
_NO_KEY_PAIR = ("the docker builder makes and names no key pair (neither does Packer's): "
                "give ssh_private_key_file or ssh_password")


class DockerBuilderConfig(SSHConfig, RegistryLoginOptions):
    """Options of ``source "docker"`` blocks (Packer's names and defaults).

    The ``ssh_*`` options and ``pause_before_connecting`` are the SDK's SSH
    communicator's (:class:`~bakehouse.sdk.ssh.SSHConfig`); they apply with
    ``communicator = "ssh"`` (a container that runs sshd). They come from
    ``bakehouse.sdk`` itself: the SSH communicator's module is imported only by
    a build that connects over SSH.
    """

    communicator: Literal["docker", "ssh", "none"] = "docker"  # type: ignore[assignment]
    image: str = ""
    pull: bool = True
    commit: bool = False
    discard: bool = False
    export_path: str = ""
    changes: list[str] = Field(default_factory=list)
    author: str = ""
    message: str = ""
    run_command: list[str] = Field(default_factory=lambda: list(DEFAULT_RUN_COMMAND))
    volumes: dict[str, str] = Field(default_factory=dict)
    container_dir: str = ""
    exec_user: str = ""
    fix_upload_owner: bool = True
    privileged: bool = False
    cap_add: list[str] = Field(default_factory=list)
    cap_drop: list[str] = Field(default_factory=list)
    tmpfs: list[str] = Field(default_factory=list)
    device: list[str] = Field(default_factory=list)
    platform: str = ""
    runtime: str = ""
    windows_container: Any = unsupported("Bakehouse builds Linux containers only.")
    build: DockerfileBuild | None = Field(None, description="Build the starting image from a Dockerfile.")
    build_only: bool = Field(False, description="The Dockerfile's image is the result; no container runs.")
    docker_path: str = Field("", description=(
        "Accepted, with a warning: no docker CLI is run, the plugin talks to the Engine API "
        "(DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH)."))
    pty: bool = Field(False, description="Accepted (undocumented in Packer too); no effect.")
    winrm_username: Any = unsupported(_WINRM)
    winrm_password: Any = unsupported(_WINRM)
    winrm_host: Any = unsupported(_WINRM)
    winrm_no_proxy: Any = unsupported(_WINRM)
    winrm_port: Any = unsupported(_WINRM)
    winrm_timeout: Any = unsupported(_WINRM)
    winrm_use_ssl: Any = unsupported(_WINRM)
    winrm_insecure: Any = unsupported(_WINRM)
    winrm_use_ntlm: Any = unsupported(_WINRM)
    # Packer's communicator options for key pairs a builder makes or names: the
    # docker builder (Packer's too) makes none and names none.
    ssh_keypair_name: Any = unsupported(_NO_KEY_PAIR)
    temporary_key_pair_name: Any = unsupported(_NO_KEY_PAIR)
    temporary_key_pair_type: Any = unsupported(_NO_KEY_PAIR)
    temporary_key_pair_bits: Any = unsupported(_NO_KEY_PAIR)
    ssh_public_key: Any = unsupported(_NO_KEY_PAIR)
    ssh_private_key: Any = unsupported(_NO_KEY_PAIR)

    @field_validator("communicator", mode="before")
    @classmethod
    def _known_communicator(cls, value: Any) -> Any:
        if value in ("winrm", "dockerWindowsContainer"):
            raise ValueError(
                f"communicator {value!r} is not supported: it serves Windows containers, and "
                "Bakehouse builds Linux containers only; use \"docker\" (default), \"ssh\" or \"none\""
            )
        return value

    @field_validator("build", mode="before")
    @classmethod
    def _one_build_block(cls, value: Any) -> Any:
        # The template hands a nested block over as a list of objects:
        # `build { ... }` is one, `build = { ... }` (an object) works too.
        if isinstance(value, list):
            if len(value) != 1:
                raise ValueError(f"Only one build block is allowed, not {len(value)}.")
            return value[0]
        return value
