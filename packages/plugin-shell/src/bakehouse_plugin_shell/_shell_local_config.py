"""The ``shell-local`` options as a config model: for ``bakehouse plugins docs``
and to report mistakes. The provisioner and post-processor run with
:class:`~bakehouse_plugin_shell.shell_local.ShellLocalOptions`, which takes
plainly valid arguments without importing pydantic; the two must stay in step
(``tests`` compare them with :func:`bakehouse.sdk.plain.plain_mismatches`).
"""

from __future__ import annotations

from typing import Any

from bakehouse.sdk.config import Config
from pydantic import Field, field_validator

from bakehouse_plugin_shell.shell_local import DEFAULT_ENV_VAR_FORMAT, DEFAULT_EXECUTE_COMMAND


class ShellLocalConfig(Config):
    """Options shared by the ``shell-local`` provisioner and post-processor."""

    command: str | None = None
    inline: list[str] | None = None
    script: str | None = None
    scripts: list[str] = Field(default_factory=list)
    environment_vars: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    env_var_format: str = DEFAULT_ENV_VAR_FORMAT
    execute_command: list[str] = Field(default_factory=lambda: list(DEFAULT_EXECUTE_COMMAND))
    inline_shebang: str = "/bin/sh -e"
    tempfile_extension: str = ""
    valid_exit_codes: list[int] = Field(default_factory=lambda: [0])
    only_on: list[str] = Field(default_factory=list)
    #: Windows Subsystem for Linux path translation; accepted, nothing to translate on POSIX.
    use_linux_pathing: bool = False

    @field_validator("execute_command", mode="before")
    @classmethod
    def _command_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            raise ValueError(
                'execute_command must be a list of strings, e.g. ["/bin/sh", "-c", "{{.Vars}} {{.Script}}"]'
            )
        return value

