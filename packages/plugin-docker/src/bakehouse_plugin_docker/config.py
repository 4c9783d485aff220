"""The ``docker`` builder's options, named and defaulted as Packer's docker builder.

``prepare`` validates a template block against :class:`DockerBuilderConfig`:
pydantic rejects unknown names and wrong types, and :func:`validate` adds the
rules that span options (exactly one of ``commit``/``discard``/``export_path``,
``changes`` instructions, ``run_command`` flags). Every problem carries the
attribute path so the core can print ``file:line``.
"""

from __future__ import annotations

import os
import re
from typing import Any, Literal

from bakehouse.sdk import Config, ConfigError, ConfigProblem, SSHConfig, unsupported
from pydantic import Field, field_validator

from bakehouse_plugin_docker.registry_login import (
    RegistryLoginOptions,
    aws_keys_warnings,
    login_problems,
)
from bakehouse_plugin_docker.run_command import (
    DEFAULT_RUN_COMMAND,
    RunCommandError,
    parse_run_command,
)

#: Instructions ``docker commit --change`` accepts (the engine's own list).
COMMIT_INSTRUCTIONS = frozenset(
    {"CMD", "ENTRYPOINT", "ENV", "EXPOSE", "HEALTHCHECK", "LABEL", "ONBUILD",
     "USER", "VOLUME", "WORKDIR"}
)
DEFAULT_CONTAINER_DIR = "/packer-files"
_INSTRUCTION = re.compile(r"^\s*([A-Za-z]+)(\s+\S.*)?$", re.DOTALL)


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


def validate(config: DockerBuilderConfig) -> list[str]:
    """Check the rules that span options; raise ConfigError, return warnings."""
    problems: list[ConfigProblem] = []
    warnings: list[str] = []

    def problem(message: str, *path: str | int) -> None:
        problems.append(ConfigProblem(tuple(path), message))

    if config.build is not None:
        if config.image:
            problem("Only one of image and a build block may be set.", "image")
        if config.platform:
            # Packer's rule: the Dockerfile's image is built for build.platform.
            problem("platform cannot be set with a build block: set build.platform instead.", "platform")
        # Checked when the template is prepared, as Packer does (relative to the
        # current directory, where the build runs too).
        if not os.path.isfile(config.build.path):
            problem(f"The Dockerfile {config.build.path!r} does not exist or is not a file.", "build", "path")
        if config.build.build_dir and not os.path.isdir(config.build.build_dir):
            problem(f"build_dir {config.build.build_dir!r} is not a directory.", "build", "build_dir")
    elif not config.image:
        problem("The argument 'image' is required (the base image to start from).", "image")

    outputs = [name for name in ("commit", "discard") if getattr(config, name)]
    if config.export_path:
        outputs.append("export_path")
    if not outputs:
        problem(
            "One of commit, discard or export_path must be set: commit = true to make an "
            "image, export_path to write the container's filesystem to a tar file, "
            "discard = true to throw the result away."
        )
    elif len(outputs) > 1:
        problem(f"Only one of commit, discard and export_path may be set (got {' and '.join(outputs)}).", outputs[1])
    if config.export_path and os.path.isdir(config.export_path):
        problem(f"export_path must be a file, not a directory: {config.export_path}", "export_path")

    if config.changes and not config.commit:
        warnings.append("changes only apply with commit = true; they are ignored here")
    for index, change in enumerate(config.changes):
        if "\n" in change or "\r" in change:
            # The engine reads changes as Dockerfile lines: a line break would smuggle
            # in a second instruction that the checks below never saw.
            problem(
                f"Invalid change {change!r}: a change is one instruction on one line; "
                "line breaks are not allowed (put each instruction in its own item).",
                "changes", index,
            )
            continue
        match = _INSTRUCTION.match(change)
        if not match or match.group(2) is None:
            problem(f"Invalid change {change!r}: expected an instruction and its arguments, e.g. \"CMD [\\\"/bin/sh\\\"]\".", "changes", index)
            continue
        instruction = match.group(1).upper()
        if instruction not in COMMIT_INSTRUCTIONS:
            problem(
                f"{instruction} is not allowed in changes; docker commit accepts "
                + ", ".join(sorted(COMMIT_INSTRUCTIONS)) + ".",
                "changes", index,
            )

    try:
        parse_run_command(config.run_command, config.image or "<image>")
    except RunCommandError as exc:
        # The problem's path already names run_command.
        message = str(exc).removeprefix("run_command: ") + "."
        message = message[0].upper() + message[1:]
        if exc.index is None:
            problem(message, "run_command")
        else:
            problem(message, "run_command", exc.index)

    for index, device in enumerate(config.device):
        if not device.strip():
            problem("device entries must not be empty.", "device", index)
    for index, tmpfs in enumerate(config.tmpfs):
        if not tmpfs.startswith("/"):
            problem(f"tmpfs entries must start with an absolute container path: {tmpfs!r}.", "tmpfs", index)
    for host, container in config.volumes.items():
        if not container.split(":", 1)[0].startswith("/"):
            problem(f"volumes: the container path for {host!r} must be absolute: {container!r}.", "volumes", host)
    if config.container_dir and not config.container_dir.startswith("/"):
        problem("container_dir must be an absolute path in the container.", "container_dir")

    login_problems(config, problem)
    warnings += aws_keys_warnings(config)
    if config.communicator == "ssh":
        if not config.ssh_username:
            problem("communicator = \"ssh\" needs ssh_username (the container must run sshd).", "ssh_username")
        if not config.ssh_password and not config.ssh_private_key_file:
            problem("communicator = \"ssh\" needs ssh_password or ssh_private_key_file: the docker "
                    "builder makes no temporary key pair (as in Packer).", "communicator")
    if "docker_path" in config.model_fields_set:
        warnings.append(
            f"docker_path = {config.docker_path!r} is not run: bakehouse-plugin-docker talks to the "
            "Docker Engine API directly (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH)"
        )
    if config.build is not None and config.pull and "pull" in config.model_fields_set:
        warnings.append("when running a bootstrap build, the `pull` option is ignored and is replaced "
                        "by `build.pull` (true by default)")
    if config.build_only:
        if config.build is None:
            problem("build_only = true needs a build block (the image is made by the Dockerfile alone).",
                    "build_only")
        if config.export_path:
            problem("build_only = true starts no container, so there is nothing to export: use "
                    "commit = true or discard = true.", "export_path")
    if problems:
        raise ConfigError(problems)
    return warnings


def effective_container_dir(config: DockerBuilderConfig) -> str:
    return config.container_dir or DEFAULT_CONTAINER_DIR


def describe_for_log(config: DockerBuilderConfig) -> dict[str, Any]:
    """The configuration without secrets, for debug logs."""
    data = config.model_dump()
    for secret in ("login_password", "aws_secret_key", "aws_token"):
        if data.get(secret):
            data[secret] = "<sensitive>"
    return data
