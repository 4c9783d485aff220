"""The ``shell`` provisioner's options as a config model: for ``bakehouse plugins
docs`` and to report mistakes. The provisioner runs with
:class:`~bakehouse_plugin_shell.shell.ShellOptions`, which takes plainly valid
arguments without importing pydantic; the two must stay in step (``tests``
compare them with :func:`bakehouse.sdk.plain.plain_mismatches`). Defaults that
depend on other options (``remote_path``, ``execute_command``, ...) are filled
by :meth:`ShellOptions.fill_defaults` whichever way the options came.
"""

from __future__ import annotations

from typing import Any

from bakehouse.sdk.config import Config
from pydantic import Field, field_validator

from bakehouse_plugin_shell.shell import duration


class ShellConfig(Config):
    """Options of the ``shell`` provisioner (Packer's names and defaults)."""

    inline: list[str] | None = None
    inline_shebang: str = "/bin/sh -e"
    script: str | None = None
    scripts: list[str] = Field(default_factory=list)
    environment_vars: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    env_var_format: str = ""
    use_env_var_file: bool = False
    execute_command: str = ""
    remote_folder: str = "/tmp"
    remote_file: str = ""
    remote_path: str = ""
    remote_env_var_path: str = ""
    skip_clean: bool = False
    expect_disconnect: bool = False
    binary: bool = False
    valid_exit_codes: list[int] = Field(default_factory=lambda: [0])
    #: seconds; how long to keep retrying upload and start (Packer default 5m)
    start_retry_timeout: float = 300.0
    #: seconds to wait after the last script
    pause_after: float = 0.0

    @field_validator("start_retry_timeout", "pause_after", mode="before")
    @classmethod
    def _parse_durations(cls, value: Any) -> float:
        return duration(value)
