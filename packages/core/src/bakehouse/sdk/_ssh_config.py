"""The ``communicator`` and ``ssh_*`` options (:class:`SSHConfig`), apart from
the SSH communicator itself (:mod:`bakehouse.sdk.ssh`, which re-exports them):
a builder's config inherits them for its schema even when the build does not
use SSH (the docker builder with ``communicator = "docker"``), and importing
the communicator and its network pieces only for that cost every such build.
Paramiko is imported only to list the algorithms it knows.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import ValidationInfo, field_validator, model_validator

from bakehouse.sdk.config import Config, option, parse_duration, unsupported


def supported_ciphers() -> tuple[str, ...]:
    """The ciphers paramiko (the SSH library) can negotiate, for ``ssh_ciphers``."""
    import paramiko

    return tuple(paramiko.Transport._preferred_ciphers)


def supported_key_exchanges() -> tuple[str, ...]:
    """The key exchanges paramiko can negotiate, for ``ssh_key_exchange_algorithms``."""
    import paramiko

    return tuple(paramiko.Transport._preferred_kex)


_TUNNEL_FORMAT = "\"[bind_address:]port:host:hostport\""


class SSHConfig(Config):
    """The ``communicator`` and ``ssh_*`` options, as in Packer's SSH communicator.

    Every builder that reaches its machine over SSH takes these fields (its
    config inherits from this class), so they mean the same everywhere.
    Durations are Go-style strings (``"5m"``, ``"30s"``); use the ``*_seconds``
    properties. ``communicator = "none"`` means the builder skips provisioning.
    """

    communicator: Literal["ssh", "none"] = "ssh"
    ssh_host: str = ""
    ssh_port: int = 22
    ssh_username: str = ""
    ssh_password: str = ""
    ssh_private_key_file: str = ""
    ssh_certificate_file: str = option(
        "", note="OpenSSH user certificate of ssh_private_key_file's key (the server trusts its CA)")
    ssh_agent_auth: bool = option(False, note="authenticate with the keys of the agent at SSH_AUTH_SOCK")
    ssh_timeout: str = "5m"
    ssh_wait_timeout: str = option("", note="Packer's older name of ssh_timeout, used when ssh_timeout is not set")
    ssh_handshake_attempts: int = 10
    pause_before_connecting: str = "0s"
    ssh_keep_alive_interval: str = option("5s", note="0s turns keep-alives off")
    ssh_read_write_timeout: str = option(
        "0s", note="close the connection when the server sends nothing for this long (keep-alive "
        "replies count, so keep it above ssh_keep_alive_interval); 0s: never")
    ssh_pty: bool = False
    ssh_disable_agent_forwarding: bool = option(
        False, note="by default the agent at SSH_AUTH_SOCK (if any) is forwarded to commands on the machine; "
        "true: never")
    ssh_file_transfer_method: Literal["", "sftp", "scp"] = option(
        "", note="\"scp\" runs scp -t/-f on the machine (it must have scp); \"sftp\": the SFTP subsystem; "
        "empty: SFTP when the machine offers it, else scp (Packer's default)")
    ssh_ciphers: list[str] = option(
        default_factory=list, note="ciphers to offer, in order (names paramiko does not know are skipped)")
    ssh_key_exchange_algorithms: list[str] = option(
        default_factory=list, note="key exchanges to offer, in order (names paramiko does not know are skipped)")
    ssh_clear_authorized_keys: bool = option(
        False, note="after provisioning, remove the builder's temporary public key from "
        "~/.ssh/authorized_keys and /root/.ssh/authorized_keys (needs sed; no effect without a temporary key)")
    ssh_local_tunnels: list[str] = option(
        default_factory=list, note=f"{_TUNNEL_FORMAT}: listen here (127.0.0.1 by default), "
        "connect to host:hostport from the machine")
    ssh_remote_tunnels: list[str] = option(
        default_factory=list, note=f"{_TUNNEL_FORMAT}: the machine listens, connections come back to "
        "host:hostport from here")
    # (the bastion's credentials come before ssh_bastion_host: its check reads them)
    ssh_bastion_port: int = 22
    ssh_bastion_username: str = ""
    ssh_bastion_password: str = ""
    ssh_bastion_private_key_file: str = ""
    ssh_bastion_certificate_file: str = option("", note="certificate of ssh_bastion_private_key_file's key")
    ssh_bastion_agent_auth: bool = option(False, note="authenticate to the bastion with the agent at SSH_AUTH_SOCK")
    ssh_bastion_host: str = option("", note="reach the machine through this SSH server (direct-tcpip)")
    ssh_bastion_interactive: Any = unsupported(
        "keyboard-interactive prompts need a terminal and plugins run without one; use "
        "ssh_bastion_password, ssh_bastion_private_key_file or ssh_bastion_agent_auth")
    ssh_proxy_host: str = option("", note="connect through this SOCKS5 proxy (it resolves the machine's name)")
    ssh_proxy_port: int = 1080
    ssh_proxy_username: str = ""
    ssh_proxy_password: str = ""

    @field_validator("communicator", mode="before")
    @classmethod
    def _no_winrm(cls, value: Any) -> Any:
        if value == "winrm":
            raise ValueError("communicator \"winrm\" is not supported by Bakehouse: there is no WinRM "
                             "communicator (Linux machines over SSH only); use \"ssh\" or \"none\"")
        return value

    @field_validator("ssh_timeout", "ssh_wait_timeout", "pause_before_connecting", "ssh_keep_alive_interval",
                     "ssh_read_write_timeout")
    @classmethod
    def _valid_duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @model_validator(mode="after")
    def _wait_timeout_is_the_old_name(self) -> SSHConfig:
        if self.ssh_wait_timeout and "ssh_timeout" not in self.model_fields_set:
            self.ssh_timeout = self.ssh_wait_timeout
        return self

    @field_validator("ssh_port", "ssh_bastion_port", "ssh_proxy_port")
    @classmethod
    def _valid_port(cls, value: int, info: ValidationInfo) -> int:
        if not 0 < value < 65536:
            raise ValueError(f"{info.field_name} must be between 1 and 65535, got {value}")
        return value

    @field_validator("ssh_handshake_attempts")
    @classmethod
    def _valid_attempts(cls, value: int) -> int:
        if value < 1:
            raise ValueError("ssh_handshake_attempts must be at least 1")
        return value

    @field_validator("ssh_ciphers", "ssh_key_exchange_algorithms")
    @classmethod
    def _known_algorithms(cls, value: list[str], info: ValidationInfo) -> list[str]:
        known = supported_ciphers() if info.field_name == "ssh_ciphers" else supported_key_exchanges()
        if value and not any(name in known for name in value):
            raise ValueError(f"{info.field_name}: none of {', '.join(value)} is available "
                             f"(Bakehouse's SSH library has {', '.join(known)})")
        return value

    @field_validator("ssh_local_tunnels", "ssh_remote_tunnels")
    @classmethod
    def _valid_tunnels(cls, value: list[str], info: ValidationInfo) -> list[str]:
        from bakehouse.sdk._ssh_net import TunnelSpec

        for text in value:
            try:
                TunnelSpec.parse(text)
            except ValueError as exc:
                raise ValueError(f"{info.field_name}: {exc}") from None
        return value

    @field_validator("ssh_private_key_file", "ssh_certificate_file",
                     "ssh_bastion_private_key_file", "ssh_bastion_certificate_file")
    @classmethod
    def _file_exists(cls, value: str, info: ValidationInfo) -> str:
        if value and not os.path.isfile(os.path.expanduser(value)):
            raise ValueError(f"The file {value!r} given as {info.field_name} does not exist")
        return value

    @field_validator("ssh_certificate_file", "ssh_bastion_certificate_file")
    @classmethod
    def _certificate_needs_its_key(cls, value: str, info: ValidationInfo) -> str:
        key_field = info.field_name.replace("certificate_file", "private_key_file") if info.field_name else ""
        if value and not info.data.get(key_field):
            raise ValueError(f"A certificate ({info.field_name}) needs {key_field}: the key it certifies")
        return value

    @field_validator("ssh_bastion_host")
    @classmethod
    def _bastion_credentials(cls, value: str, info: ValidationInfo) -> str:
        data = info.data
        if value and not (data.get("ssh_bastion_agent_auth") or data.get("ssh_bastion_password")
                          or data.get("ssh_bastion_private_key_file")):
            raise ValueError("A bastion (ssh_bastion_host) needs ssh_bastion_password, "
                             "ssh_bastion_private_key_file or ssh_bastion_agent_auth")
        return value

    @property
    def ssh_timeout_seconds(self) -> float:
        return parse_duration(self.ssh_timeout)

    @property
    def pause_before_connecting_seconds(self) -> float:
        return parse_duration(self.pause_before_connecting)

    @property
    def keep_alive_seconds(self) -> float:
        return parse_duration(self.ssh_keep_alive_interval)

    @property
    def read_write_timeout_seconds(self) -> float:
        return parse_duration(self.ssh_read_write_timeout)
