"""``shell-local``: run commands on the machine running Bakehouse.

Both the provisioner and the post-processor take Packer's options: exactly
one of ``command``, ``inline``, ``script`` or ``scripts``; the script runs
through ``execute_command`` (default ``["/bin/sh", "-c", "{{.Vars}}
{{.Script}}"]``) with ``PACKER_BUILD_NAME``, ``PACKER_BUILDER_TYPE``,
``environment_vars`` and ``env`` in ``{{.Vars}}``. The post-processor hands
its input artifact on, kept, as Packer's does.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bakehouse.sdk.artifact import Artifact
from bakehouse.sdk.communicator import Communicator
from bakehouse.sdk.components import BuildInfo, PostProcessor, Provisioner
from bakehouse.sdk.context import Context
from bakehouse.sdk.plain import options_model, parse_plain
from bakehouse.sdk.problems import ConfigError, ConfigProblem
from bakehouse.sdk.ui import Ui

from bakehouse_plugin_shell import _checks
from bakehouse_plugin_shell._local_process import CommandStartError, run_local_command
from bakehouse_plugin_shell._tempscript import temporary_script
from bakehouse_plugin_shell._text import (
    LineSplitter,
    build_env,
    flatten_env,
    inline_script,
    render_placeholders,
)

if TYPE_CHECKING:
    from bakehouse.sdk.config import Config

DEFAULT_EXECUTE_COMMAND = ["/bin/sh", "-c", "{{.Vars}} {{.Script}}"]
DEFAULT_ENV_VAR_FORMAT = "%s='%s' "
#: Placeholders ``execute_command`` may use (``Command`` is Packer's old name for ``Script``).
_PLACEHOLDERS = ("Vars", "Script", "Command", "WinRMPassword")

#: Packer's operating-system names (Go's GOOS) for ``only_on``.
_GOOS = {"linux": "linux", "darwin": "darwin", "win32": "windows", "cygwin": "windows"}


def current_os() -> str:
    """This machine's OS under the name Packer templates use in ``only_on``."""
    for prefix, name in _GOOS.items():
        if sys.platform.startswith(prefix):
            return name
    return sys.platform.rstrip("0123456789")


@dataclass
class ShellLocalOptions:
    """Options shared by the ``shell-local`` provisioner and post-processor,
    checked without pydantic when they are plainly valid (see
    :mod:`bakehouse.sdk.plain`): a null build with one ``shell-local`` is the
    commonest quick test. Their model (:func:`_documented`) documents them and
    reports mistakes."""

    command: str | None = None
    inline: list[str] | None = None
    script: str | None = None
    scripts: list[str] = field(default_factory=list)
    environment_vars: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    env_var_format: str = DEFAULT_ENV_VAR_FORMAT
    execute_command: list[str] = field(default_factory=lambda: list(DEFAULT_EXECUTE_COMMAND))
    inline_shebang: str = "/bin/sh -e"
    tempfile_extension: str = ""
    valid_exit_codes: list[int] = field(default_factory=lambda: [0])
    only_on: list[str] = field(default_factory=list)
    #: Windows Subsystem for Linux path translation; accepted, nothing to translate on POSIX.
    use_linux_pathing: bool = False


def _command_list(value: Any) -> Any:
    if isinstance(value, str):
        raise ValueError('execute_command must be a list of strings, e.g. ["/bin/sh", "-c", "{{.Vars}} {{.Script}}"]')
    return value


@functools.cache
def _documented() -> type[Config]:
    return options_model(ShellLocalOptions, checks={"execute_command": _command_list})


def parse_shell_local(raw: dict[str, Any]) -> ShellLocalOptions:
    """The options of a ``shell-local`` block; :class:`ConfigError` for mistakes."""
    return parse_plain(ShellLocalOptions, raw, _documented)


def validate_shell_local(config: ShellLocalOptions) -> list[str]:
    """Check what the schema cannot; return the script paths to run (absolute).

    Inline commands are not a path yet: the returned list is empty for them.
    """
    problems = _checks.exactly_one(
        [
            ("command", config.command is not None),
            ("inline", config.inline is not None),
            ("script", config.script is not None),
            ("scripts", bool(config.scripts)),
        ],
        "One of command, inline, script or scripts must be set.",
        "Only one of command, inline, script or scripts may be set",
    )
    scripts, script_problems = _checks.script_paths(config.script, config.scripts)
    problems += script_problems
    problems += _checks.environment(config.environment_vars, config.env_var_format, config.env)
    if not config.execute_command:
        problems.append(ConfigProblem(("execute_command",), "execute_command must not be empty."))
    for index, part in enumerate(config.execute_command):
        problems += _checks.command_template(("execute_command", index), part, _PLACEHOLDERS)
    if problems:
        raise ConfigError(problems)
    return scripts


class LocalShellRunner:
    """Runs validated :class:`ShellLocalOptions` the way Packer's shell-local does."""

    def __init__(self, config: ShellLocalOptions, scripts: list[str], build: BuildInfo) -> None:
        self.config = config
        self.scripts = scripts
        self.build = build

    def run(self, ui: Ui, generated: dict[str, Any], ctx: Context) -> None:
        """Run every script in order; raise RuntimeError on the first failure."""
        config = self.config
        if config.only_on and current_os() not in config.only_on:
            ui.say("Skipping shell-local due to runtime OS")
            return
        variables = build_env(
            build_name=self.build.name,
            builder_type=self.build.builder_type,
            environment_vars=config.environment_vars,
            env=config.env,
            generated=generated,
        )
        flattened = flatten_env(variables, config.env_var_format)
        if self.scripts:
            for script in self.scripts:
                ctx.check()
                self._run_script(ui, script, flattened, ctx)
            return
        commands = [config.command] if config.command is not None else config.inline
        content = inline_script(commands or [], config.inline_shebang)
        suffix = "." + config.tempfile_extension if config.tempfile_extension else ""
        with temporary_script(content, self.build, suffix=suffix) as temp:
            self._run_script(ui, temp.path, flattened, ctx, orphan_files=temp.orphan_files)

    def _run_script(
        self, ui: Ui, script: str, flattened_env: str, ctx: Context, orphan_files: Sequence[str] = ()
    ) -> None:
        values = {"Vars": flattened_env, "Script": script, "Command": script, "WinRMPassword": ""}
        argv = [render_placeholders(part, values) for part in self.config.execute_command]
        ui.say(f"Running local shell script: {script}")
        stdout = LineSplitter(ui.message)
        stderr = LineSplitter(ui.error)
        try:
            status = run_local_command(
                argv, on_stdout=stdout.feed, on_stderr=stderr.feed, ctx=ctx, orphan_files=orphan_files
            )
        except CommandStartError as exc:
            raise RuntimeError(f"Error executing script: {script}: {exc}") from None
        finally:
            stdout.close()
            stderr.close()
        if status not in self.config.valid_exit_codes:
            raise RuntimeError(
                f"Script exited with non-zero exit status: {status}. "
                f"Allowed exit codes are: {self.config.valid_exit_codes}"
            )


class _ShellLocalComponent:
    """What the provisioner and the post-processor share: the options, checked
    without pydantic when plainly valid, and the runner made at prepare."""

    config: ShellLocalOptions

    @classmethod
    def documented_schema(cls) -> type[Config]:
        return _documented()

    def _parse(self, raw: dict[str, Any]) -> ShellLocalOptions:
        self.config = parse_shell_local(raw)
        return self.config

    def prepare(self, config: dict[str, Any], build: BuildInfo) -> None:
        super().prepare(config, build)  # type: ignore[misc]  # Provisioner's or PostProcessor's, next in the MRO
        self._runner = LocalShellRunner(self.config, validate_shell_local(self.config), build)


class ShellLocalProvisioner(_ShellLocalComponent, Provisioner):
    """``provisioner "shell-local"``: run a script on this machine during the build."""

    def provision(
        self,
        ui: Ui,
        communicator: Communicator | None,
        generated: dict[str, Any],
        ctx: Context,
    ) -> None:
        self._runner.run(ui, generated, ctx)


class ShellLocalPostProcessor(_ShellLocalComponent, PostProcessor):
    """``post-processor "shell-local"``: run a script after the build; the
    artifact passes through unchanged and is kept."""

    def post_process(
        self, ui: Ui, artifact: Artifact, ctx: Context
    ) -> tuple[Artifact | None, bool, bool]:
        generated = artifact.state("generated_data") or {}
        self._runner.run(ui, dict(generated) if isinstance(generated, dict) else {}, ctx)
        return artifact, True, True
