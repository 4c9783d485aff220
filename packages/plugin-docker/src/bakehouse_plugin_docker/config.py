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
from typing import Any

from bakehouse.sdk import Config, ConfigError, ConfigProblem
from pydantic import Field, field_validator

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
    build_dir: str = Field("", description="Build context directory (default: the Dockerfile's directory).")
    arguments: dict[str, str] = Field(default_factory=dict, description="Build arguments (--build-arg).")
    pull: bool = Field(False, description="Pull newer versions of the FROM images.")
    platform: str = ""


class DockerBuilderConfig(Config):
    """Options of ``source "docker"`` blocks (Packer's names and defaults)."""

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
    login: bool = False
    login_server: str = ""
    login_username: str = ""
    login_password: str = ""
    ecr_login: bool = False
    aws_access_key: str = ""
    aws_secret_key: str = ""
    aws_token: str = ""
    aws_profile: str = ""
    windows_container: bool = False
    communicator: str = "docker"
    build: DockerfileBuild | None = None

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

    if config.ecr_login:
        problem(
            "ecr_login is not supported by bakehouse-plugin-docker: log in to the registry "
            "with login = true and login_server/login_username/login_password instead "
            "(for ECR, the password from `aws ecr get-login-password`).",
            "ecr_login",
        )
    for name in ("aws_access_key", "aws_secret_key", "aws_token", "aws_profile"):
        if getattr(config, name):
            warnings.append(f"{name} is only used by ecr_login, which Bakehouse does not support; it is ignored")
    if config.login:
        if not config.login_username or not config.login_password:
            problem("login = true needs login_username and login_password.", "login")
    if config.windows_container:
        problem("windows_container is not supported: Bakehouse builds Linux containers only.", "windows_container")
    if config.communicator not in ("docker", "none"):
        problem(
            f"communicator {config.communicator!r} is not supported by the docker builder here; "
            "use \"docker\" (default) or \"none\".",
            "communicator",
        )
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
