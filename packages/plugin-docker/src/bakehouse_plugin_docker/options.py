"""The ``docker`` builder's options as it runs with them, named and defaulted as
Packer's docker builder, checked without pydantic when they are plainly valid.

:class:`DockerOptions` holds them; :func:`parse_docker_options` takes a
template block's arguments directly when every one is a known name holding a
value of exactly its declared type (see :func:`bakehouse.sdk.plain.parse_plain`)
and the build does not connect over SSH (the SSH communicator reads the SDK's
SSH options), and otherwise through the documented model
(:class:`~bakehouse_plugin_docker.config.DockerBuilderConfig`), which reports
every mistake with its attribute path, as it always has. Importing pydantic and
building that model cost the plugin about 80 ms of CPU before the build's
container could be created. :func:`validate` adds the rules that span options
(exactly one of ``commit``/``discard``/``export_path``, ``changes``
instructions, ``run_command`` flags). The model is the one declaration (it
carries the notes ``plugins docs`` shows and inherits the SDK's SSH options);
:class:`DockerOptions` is made from it (a test keeps it current). Its ``Any``
fields are refused options and the ``build`` block: only None (unset) is taken
plainly, anything else goes through the model (a ``build`` block comes back as
the model's ``DockerfileBuild``).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from bakehouse.sdk.plain import parse_plain
from bakehouse.sdk.problems import ConfigError, ConfigProblem

from bakehouse_plugin_docker.registry_login import aws_keys_warnings, login_problems
from bakehouse_plugin_docker.run_command import (
    RunCommandError,
    parse_run_command,
)

if TYPE_CHECKING:
    from bakehouse_plugin_docker.config import DockerBuilderConfig

#: Instructions ``docker commit --change`` accepts (the engine's own list).
COMMIT_INSTRUCTIONS = frozenset(
    {"CMD", "ENTRYPOINT", "ENV", "EXPOSE", "HEALTHCHECK", "LABEL", "ONBUILD",
     "USER", "VOLUME", "WORKDIR"}
)
DEFAULT_CONTAINER_DIR = "/packer-files"
_INSTRUCTION = re.compile(r"^\s*([A-Za-z]+)(\s+\S.*)?$", re.DOTALL)


# Made from the model by bakehouse.sdk.plain.dataclass_source (tests check it is current).
@dataclass(kw_only=True)
class DockerOptions:
    """DockerBuilderConfig's options, made by bakehouse.sdk.plain.dataclass_source: do not edit."""

    login: bool = False
    login_server: str = ""
    login_username: str = ""
    login_password: str = ""
    ecr_login: bool = False
    aws_access_key: str = ""
    aws_secret_key: str = ""
    aws_token: str = ""
    aws_profile: str = ""
    aws_force_use_public_ecr: Any = None
    communicator: Literal["docker", "ssh", "none"] = "docker"
    ssh_host: str = ""
    ssh_port: int = 22
    ssh_username: str = ""
    ssh_password: str = ""
    ssh_private_key_file: str = ""
    ssh_certificate_file: str = ""
    ssh_agent_auth: bool = False
    ssh_timeout: str = "5m"
    ssh_wait_timeout: str = ""
    ssh_handshake_attempts: int = 10
    pause_before_connecting: str = "0s"
    ssh_keep_alive_interval: str = "5s"
    ssh_read_write_timeout: str = "0s"
    ssh_pty: bool = False
    ssh_disable_agent_forwarding: bool = False
    ssh_file_transfer_method: Literal["", "sftp", "scp"] = ""
    ssh_ciphers: list[str] = field(default_factory=list)
    ssh_key_exchange_algorithms: list[str] = field(default_factory=list)
    ssh_clear_authorized_keys: bool = False
    ssh_local_tunnels: list[str] = field(default_factory=list)
    ssh_remote_tunnels: list[str] = field(default_factory=list)
    ssh_bastion_port: int = 22
    ssh_bastion_username: str = ""
    ssh_bastion_password: str = ""
    ssh_bastion_private_key_file: str = ""
    ssh_bastion_certificate_file: str = ""
    ssh_bastion_agent_auth: bool = False
    ssh_bastion_host: str = ""
    ssh_bastion_interactive: Any = None
    ssh_proxy_host: str = ""
    ssh_proxy_port: int = 1080
    ssh_proxy_username: str = ""
    ssh_proxy_password: str = ""
    image: str = ""
    pull: bool = True
    commit: bool = False
    discard: bool = False
    export_path: str = ""
    changes: list[str] = field(default_factory=list)
    author: str = ""
    message: str = ""
    run_command: list[str] = field(default_factory=lambda: ["-d", "-i", "-t", "--entrypoint=/bin/sh", "--", "{{.Image}}"])
    volumes: dict[str, str] = field(default_factory=dict)
    container_dir: str = ""
    exec_user: str = ""
    fix_upload_owner: bool = True
    privileged: bool = False
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    tmpfs: list[str] = field(default_factory=list)
    device: list[str] = field(default_factory=list)
    platform: str = ""
    runtime: str = ""
    windows_container: Any = None
    build: Any = None
    build_only: bool = False
    docker_path: str = ""
    pty: bool = False
    winrm_username: Any = None
    winrm_password: Any = None
    winrm_host: Any = None
    winrm_no_proxy: Any = None
    winrm_port: Any = None
    winrm_timeout: Any = None
    winrm_use_ssl: Any = None
    winrm_insecure: Any = None
    winrm_use_ntlm: Any = None
    ssh_keypair_name: Any = None
    temporary_key_pair_name: Any = None
    temporary_key_pair_type: Any = None
    temporary_key_pair_bits: Any = None
    ssh_public_key: Any = None
    ssh_private_key: Any = None


def over_ssh(name: str) -> bool:
    """Whether ``name`` is one of the SDK's SSH options (checked by its model)."""
    return name.startswith("ssh_") or name == "pause_before_connecting"


def _documented() -> type[DockerBuilderConfig]:
    from bakehouse_plugin_docker.config import DockerBuilderConfig

    return DockerBuilderConfig


def parse_docker_options(raw: dict[str, Any]) -> DockerOptions | DockerBuilderConfig:
    """The options of a ``source "docker"`` block; :class:`ConfigError` for
    mistakes. A build that connects over SSH (or sets an SSH option) runs with
    the model itself: the SSH communicator reads its connection settings from
    the SDK's SSH options (durations in seconds, ...)."""
    if raw.get("communicator") == "ssh" or any(over_ssh(name) for name in raw):
        from bakehouse.sdk.config import parse_config

        return parse_config(_documented(), dict(raw))
    return parse_plain(DockerOptions, raw, _documented)


def validate(config: DockerOptions | DockerBuilderConfig, given: Collection[str]) -> list[str]:
    """Check the rules that span options (``given``: the names the template
    set); raise ConfigError, return warnings."""
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
    if "docker_path" in given:
        warnings.append(
            f"docker_path = {config.docker_path!r} is not run: bakehouse-plugin-docker talks to the "
            "Docker Engine API directly (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH)"
        )
    if config.build is not None and config.pull and "pull" in given:
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


def effective_container_dir(config: DockerOptions | DockerBuilderConfig) -> str:
    return config.container_dir or DEFAULT_CONTAINER_DIR


def describe_for_log(config: DockerOptions | DockerBuilderConfig) -> dict[str, Any]:
    """The configuration without secrets, for debug logs."""
    if isinstance(config, DockerOptions):
        data = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
        if config.build is not None:
            data["build"] = config.build.model_dump()
    else:
        data = config.model_dump()
    for secret in ("login_password", "aws_secret_key", "aws_token"):
        if data.get(secret):
            data[secret] = "<sensitive>"
    return data
