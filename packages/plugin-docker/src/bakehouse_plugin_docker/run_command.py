"""``run_command``: Packer's ``docker run`` arguments, turned into an Engine API request.

Packer passes ``run_command`` (default ``-d -i -t --entrypoint=/bin/sh --
{{.Image}}``) to the ``docker`` CLI. Bakehouse talks to the engine directly,
so it reads the same arguments the way ``docker run`` does and builds the
container-create request from them. Flags that have no meaning here, or that
Bakehouse does not translate, are reported by name instead of being ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: ``{{.Image}}`` (Packer's Go template), with or without inner spaces.
_IMAGE_PLACEHOLDER = re.compile(r"\{\{\s*\.Image\s*\}\}")

DEFAULT_RUN_COMMAND = ["-d", "-i", "-t", "--entrypoint=/bin/sh", "--", "{{.Image}}"]


class RunCommandError(ValueError):
    """``run_command`` cannot be turned into a container; ``index`` is the offending item."""

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


@dataclass
class ContainerSpec:
    """What ``docker run`` would create, in Engine API terms."""

    image: str = ""
    command: list[str] = field(default_factory=list)
    entrypoint: list[str] | None = None
    tty: bool = False
    stdin_open: bool = False
    environment: list[str] = field(default_factory=list)
    user: str = ""
    working_dir: str = ""
    hostname: str = ""
    name: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    binds: list[str] = field(default_factory=list)
    network: str = ""
    privileged: bool = False
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    tmpfs: dict[str, str] = field(default_factory=dict)
    devices: list[str] = field(default_factory=list)
    platform: str = ""
    runtime: str = ""
    memory: str = ""
    shm_size: str = ""
    extra_hosts: list[str] = field(default_factory=list)
    dns: list[str] = field(default_factory=list)
    security_opt: list[str] = field(default_factory=list)
    init: bool = False
    read_only: bool = False

    def add_tmpfs(self, value: str) -> None:
        path, _, options = value.partition(":")
        self.tmpfs[path] = options


# Flags taking a value: long name -> (short name or "", attribute, how to store).
_VALUE_FLAGS: dict[str, tuple[str, str]] = {
    "entrypoint": ("", "entrypoint"),
    "env": ("e", "environment"),
    "user": ("u", "user"),
    "workdir": ("w", "working_dir"),
    "hostname": ("h", "hostname"),
    "name": ("", "name"),
    "label": ("l", "labels"),
    "volume": ("v", "binds"),
    "network": ("", "network"),
    "net": ("", "network"),
    "cap-add": ("", "cap_add"),
    "cap-drop": ("", "cap_drop"),
    "tmpfs": ("", "tmpfs"),
    "device": ("", "devices"),
    "platform": ("", "platform"),
    "runtime": ("", "runtime"),
    "memory": ("m", "memory"),
    "shm-size": ("", "shm_size"),
    "add-host": ("", "extra_hosts"),
    "dns": ("", "dns"),
    "security-opt": ("", "security_opt"),
}
_BOOL_FLAGS: dict[str, tuple[str, str]] = {
    "detach": ("d", ""),  # the engine API always creates, then starts: detached by nature
    "interactive": ("i", "stdin_open"),
    "tty": ("t", "tty"),
    "privileged": ("", "privileged"),
    "rm": ("", ""),  # the builder removes its container itself
    "init": ("", "init"),
    "read-only": ("", "read_only"),
}
_SHORT_VALUE = {short: long for long, (short, _) in _VALUE_FLAGS.items() if short}
_SHORT_BOOL = {short: long for long, (short, _) in _BOOL_FLAGS.items() if short}


def substitute_image(arguments: list[str], image: str) -> list[str]:
    return [_IMAGE_PLACEHOLDER.sub(image, argument) for argument in arguments]


def parse_run_command(arguments: list[str], image: str) -> ContainerSpec:
    """Read ``docker run`` arguments (``{{.Image}}`` already or not yet substituted)."""
    args = substitute_image(arguments, image)
    spec = ContainerSpec()
    index = 0

    def store(long: str, value: str, at: int) -> None:
        attribute = _VALUE_FLAGS[long][1]
        if attribute == "entrypoint":
            # `--entrypoint ""` resets the image's entrypoint, as docker run does.
            spec.entrypoint = [value]
        elif attribute == "labels":
            key, _, label_value = value.partition("=")
            spec.labels[key] = label_value
        elif attribute == "tmpfs":
            spec.add_tmpfs(value)
        elif isinstance(getattr(spec, attribute), list):
            getattr(spec, attribute).append(value)
        else:
            setattr(spec, attribute, value)
        if not value and attribute not in ("entrypoint", "environment"):
            raise RunCommandError(f"run_command: --{long} needs a value", at)

    def set_bool(long: str, at: int) -> None:
        attribute = _BOOL_FLAGS[long][1]
        if attribute:
            setattr(spec, attribute, True)

    while index < len(args):
        arg = args[index]
        if arg == "--":
            index += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        if arg.startswith("--"):
            long, has_value, value = arg[2:].partition("=")
            if long in _BOOL_FLAGS:
                if has_value and value.lower() not in ("true", "1"):
                    if value.lower() not in ("false", "0"):
                        raise RunCommandError(f"run_command: invalid value {value!r} for --{long}", index)
                else:
                    set_bool(long, index)
                index += 1
                continue
            if long in _VALUE_FLAGS:
                if not has_value:
                    if index + 1 >= len(args):
                        raise RunCommandError(f"run_command: --{long} needs a value", index)
                    index += 1
                    value = args[index]
                store(long, value, index)
                index += 1
                continue
            raise RunCommandError(_unsupported(arg), index)
        # Short flags, possibly grouped (`-dit`) and with an attached value (`-eK=V`).
        letters = arg[1:]
        position = 0
        while position < len(letters):
            letter = letters[position]
            if letter in _SHORT_BOOL:
                set_bool(_SHORT_BOOL[letter], index)
                position += 1
                continue
            if letter in _SHORT_VALUE:
                rest = letters[position + 1 :]
                if rest.startswith("="):
                    rest = rest[1:]
                if not rest:
                    if index + 1 >= len(args):
                        raise RunCommandError(f"run_command: -{letter} needs a value", index)
                    index += 1
                    rest = args[index]
                store(_SHORT_VALUE[letter], rest, index)
                break
            raise RunCommandError(_unsupported("-" + letter), index)
        index += 1

    if index >= len(args):
        raise RunCommandError(
            'run_command names no image: it must contain the image, usually "{{.Image}}"'
        )
    spec.image = args[index]
    spec.command = args[index + 1 :]
    return spec


def _unsupported(flag: str) -> str:
    known = ", ".join(
        sorted(
            [f"--{name}" for name in _VALUE_FLAGS]
            + [f"--{name}" for name in _BOOL_FLAGS]
        )
    )
    return f"run_command: the docker run flag {flag} is not supported (supported: {known})"
