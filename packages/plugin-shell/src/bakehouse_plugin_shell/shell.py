"""``shell``: run scripts on the machine being built, through its communicator.

For each script (or the ``inline`` commands, made into a script in memory
with ``inline_shebang``): upload it to ``remote_path`` (default
``/tmp/script_<n>.sh``), run ``execute_command`` (default ``chmod +x
{{.Path}}; {{.Vars}} {{.Path}}``) with the output streamed to the Ui, check
the exit status against ``valid_exit_codes``, and remove the script unless
``skip_clean``. Upload and start are retried for ``start_retry_timeout`` (the
machine may still be booting or rebooting). ``pause_before``, ``max_retries``
and ``timeout`` are applied by the core around :meth:`ShellProvisioner.provision`.
"""

from __future__ import annotations

import functools
import io
import logging
import os
import random
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from bakehouse.sdk.communicator import EXIT_DISCONNECTED, Communicator, FileInfo
from bakehouse.sdk.components import BuildInfo, Provisioner
from bakehouse.sdk.context import Cancelled, Context
from bakehouse.sdk.plain import options_model, parse_plain
from bakehouse.sdk.problems import ConfigError, is_permanent, parse_duration
from bakehouse.sdk.ui import Ui

from bakehouse_plugin_shell import _checks
from bakehouse_plugin_shell._text import (
    LineSplitter,
    build_env,
    flatten_env,
    inline_script,
    render_placeholders,
    to_unix_newlines,
)

if TYPE_CHECKING:
    from bakehouse.sdk.config import Config

log = logging.getLogger("bakehouse_plugin_shell.shell")

DEFAULT_EXECUTE_COMMAND = "chmod +x {{.Path}}; {{.Vars}} {{.Path}}"
DEFAULT_ENV_FILE_EXECUTE_COMMAND = "chmod +x {{.Path}}; . {{.EnvVarFile}} && {{.Path}}"
DEFAULT_ENV_VAR_FORMAT = "%s='%s' "
ENV_FILE_VAR_FORMAT = "export %s='%s'\n"
_PLACEHOLDERS = ("Vars", "Path", "EnvVarFile")
#: Connection types whose communicator runs a command with ``/bin/sh -c`` on
#: the machine (the docker communicator's exec). An SSH command goes to the
#: user's login shell, which need not be a POSIX shell: not listed.
_POSIX_SH_CONNECTIONS = frozenset({"docker"})

T = TypeVar("T")


def duration(value: Any) -> float:
    """Seconds from a Go duration (``"5m"``) or a number, for ``start_retry_timeout`` and ``pause_after``."""
    if isinstance(value, (int, float, str)):
        return parse_duration(value)
    raise ValueError("expected a duration such as 30s, 5m or 1h30m")


@dataclass
class ShellOptions:
    """Options of the ``shell`` provisioner (Packer's names and defaults),
    checked without pydantic when they are plainly valid (see
    :mod:`bakehouse.sdk.plain`): the plugin prepares it while a docker build's
    plugin imports the Docker SDK, on the same CPUs. Their model
    (:func:`_documented`) documents them and reports mistakes; defaults that
    depend on other options are filled by :meth:`fill_defaults` either way."""

    inline: list[str] | None = None
    inline_shebang: str = "/bin/sh -e"
    script: str | None = None
    scripts: list[str] = field(default_factory=list)
    environment_vars: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
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
    valid_exit_codes: list[int] = field(default_factory=lambda: [0])
    #: seconds; how long to keep retrying upload and start (Packer default 5m)
    start_retry_timeout: float = 300.0
    #: seconds to wait after the last script
    pause_after: float = 0.0

    def fill_defaults(self) -> ShellOptions:
        """Defaults that depend on other options, as Packer computes them."""
        if not self.remote_file:
            self.remote_file = f"script_{random.randrange(10000)}.sh"
        if not self.remote_path:
            self.remote_path = _join_remote(self.remote_folder, self.remote_file)
        if self.use_env_var_file and not self.remote_env_var_path:
            self.remote_env_var_path = _join_remote(
                self.remote_folder, f"varfile_{random.randrange(10000)}.sh"
            )
        if not self.env_var_format:
            self.env_var_format = ENV_FILE_VAR_FORMAT if self.use_env_var_file else DEFAULT_ENV_VAR_FORMAT
        if not self.execute_command:
            self.execute_command = (
                DEFAULT_ENV_FILE_EXECUTE_COMMAND if self.use_env_var_file else DEFAULT_EXECUTE_COMMAND
            )
        return self


def _join_remote(folder: str, name: str) -> str:
    # Remote paths are POSIX whatever this machine is.
    return folder.rstrip("/") + "/" + name if folder not in ("", "/") else "/" + name


@functools.cache
def _documented() -> type[Config]:
    return options_model(ShellOptions, checks={"start_retry_timeout": duration, "pause_after": duration})


def parse_shell(raw: dict[str, Any]) -> ShellOptions:
    """The options of a ``shell`` block as given (defaults that depend on
    other options not filled yet); :class:`ConfigError` for mistakes."""
    return parse_plain(ShellOptions, raw, _documented)


class ShellProvisioner(Provisioner):
    """``provisioner "shell"``: upload and run scripts over the builder's communicator."""

    config: ShellOptions

    #: First and longest pause between start attempts, in seconds.
    RETRY_FIRST_DELAY = 1.0
    RETRY_MAX_DELAY = 10.0

    @classmethod
    def documented_schema(cls) -> type[Config]:
        return _documented()

    def _parse(self, raw: dict[str, Any]) -> ShellOptions:
        self.config = parse_shell(raw).fill_defaults()
        return self.config

    def prepare(self, config: dict[str, Any], build: BuildInfo) -> None:
        super().prepare(config, build)
        self._scripts = _validate(self.config)

    def provision(
        self,
        ui: Ui,
        communicator: Communicator | None,
        generated: dict[str, Any],
        ctx: Context,
    ) -> None:
        if communicator is None:
            raise RuntimeError(
                "the shell provisioner needs a communicator, but this build has none "
                '(communicator = "none"); use shell-local to run commands on this machine'
            )
        config = self.config
        variables = build_env(
            build_name=self.build.name,
            builder_type=self.build.builder_type,
            environment_vars=config.environment_vars,
            env=config.env,
            generated=generated,
        )
        flattened = flatten_env(variables, config.env_var_format)
        # Inline commands become a script in memory: nothing local to clean up.
        scripts: list[tuple[str, bytes | None]] = [(path, None) for path in self._scripts] or [
            ("inline commands", inline_script(config.inline or [], config.inline_shebang))
        ]
        remove_in_command = not config.skip_clean and generated.get("ConnType") in _POSIX_SH_CONNECTIONS
        for name, content in scripts:
            ctx.check()
            self._run_script(ui, communicator, name, content, flattened, ctx, remove_in_command)
        if config.pause_after > 0:
            ui.say(f"Pausing {_format_seconds(config.pause_after)} after this provisioner...")
            if ctx.wait(config.pause_after):
                raise Cancelled(ctx.reason or "context canceled")

    def _run_script(
        self,
        ui: Ui,
        comm: Communicator,
        script: str,
        content: bytes | None,
        flattened: str,
        ctx: Context,
        remove_in_command: bool = False,
    ) -> None:
        """Run one script: ``content`` is None for a local file named ``script``."""
        config = self.config
        ui.say(f"Provisioning with shell script: {script}")
        if content is None:
            with open(script, "rb") as fh:
                content = fh.read()
        if not config.binary:
            content = to_unix_newlines(content)

        env_file = ""
        if config.use_env_var_file:
            env_file = config.remote_env_var_path
            env_content = flattened.encode("utf-8")
            self._retry(
                ctx,
                lambda: comm.upload(env_file, io.BytesIO(env_content), FileInfo(len(env_content), 0o644)),
                "uploading the environment variable file",
            )
        command = render_placeholders(
            config.execute_command,
            {"Vars": flattened, "Path": config.remote_path, "EnvVarFile": env_file},
        )
        temporary = [path for path in (config.remote_path, env_file) if path]
        removed = _RemovalMarker(command, temporary, config.valid_exit_codes, remove_in_command)

        output_seen = False

        def upload_and_start() -> int:
            nonlocal output_seen
            comm.upload(config.remote_path, io.BytesIO(content), FileInfo(len(content), 0o755))

            def on_output(splitter: LineSplitter) -> Callable[[bytes], None]:
                def feed(chunk: bytes) -> None:
                    nonlocal output_seen
                    output_seen = True
                    splitter.feed(chunk)

                return feed

            stdout, stderr = LineSplitter(ui.message), LineSplitter(ui.error)
            try:
                status: int = comm.execute(
                    removed.command, on_stdout=removed.filter(on_output(stdout)), on_stderr=on_output(stderr),
                    ctx=ctx,
                )
                return status
            except Cancelled:
                raise
            except Exception as exc:
                # A connection that breaks while the script runs (a reboot) is
                # what expect_disconnect is for, however the communicator says it.
                if config.expect_disconnect and output_seen and not ctx.cancelled:
                    log.debug("connection lost while the script ran (%s): expected", exc)
                    return EXIT_DISCONNECTED
                raise
            finally:
                removed.flush()
                stdout.close()
                stderr.close()

        # Output already shown means the command ran: running it again would
        # repeat its side effects, so only failures before that are retried.
        status = self._retry(ctx, upload_and_start, "running the script", lambda: not output_seen)

        if status == EXIT_DISCONNECTED and (
            config.expect_disconnect or EXIT_DISCONNECTED in config.valid_exit_codes
        ):
            log.debug("script %s disconnected, as expected", script)
        elif status == EXIT_DISCONNECTED:
            raise RuntimeError(
                "Script disconnected unexpectedly. If the script is meant to drop the "
                "connection (a reboot, for instance), set expect_disconnect = true or add "
                f"{EXIT_DISCONNECTED} to valid_exit_codes."
            )
        elif status not in config.valid_exit_codes:
            raise RuntimeError(
                f"Script exited with non-zero exit status: {status}. "
                f"Allowed exit codes are: {config.valid_exit_codes}"
            )

        if not config.skip_clean and not removed.seen:
            for path in temporary:
                self._remove_remote(comm, path, ctx)

    def _remove_remote(self, comm: Communicator, path: str, ctx: Context) -> None:
        def remove() -> int:
            status: int = comm.execute(
                f"rm -f {shlex.quote(path)}",
                on_stdout=lambda _chunk: None,
                on_stderr=lambda _chunk: None,
                ctx=ctx,
            )
            return status

        status = self._retry(ctx, remove, f"removing {path}")
        if status != 0:
            raise RuntimeError(f"Error removing temporary script at {path}: exit status {status}")

    def _retry(
        self,
        ctx: Context,
        attempt: Callable[[], T],
        what: str,
        retry_allowed: Callable[[], bool] = lambda: True,
    ) -> T:
        """Call ``attempt`` until it succeeds or ``start_retry_timeout`` passes."""
        deadline = time.monotonic() + self.config.start_retry_timeout
        delay = self.RETRY_FIRST_DELAY
        while True:
            ctx.check()
            try:
                return attempt()
            except Cancelled:
                raise
            except Exception as exc:
                if ctx.cancelled:
                    raise Cancelled(ctx.reason or "context canceled") from None
                remaining = deadline - time.monotonic()
                # A permanent error (unknown user, missing file) fails as it would
                # on the last attempt, without minutes of silent retries.
                if remaining <= 0 or not retry_allowed() or is_permanent(exc):
                    raise RuntimeError(f"Error {what}: {exc}") from None
                log.debug("%s failed (%s); retrying in %.1fs", what, exc, delay)
                if ctx.wait(min(delay, remaining)):
                    raise Cancelled(ctx.reason or "context canceled") from None
                delay = min(delay * 2, self.RETRY_MAX_DELAY)


class _RemovalMarker:
    """The script's command with its removal appended, for a ``/bin/sh -c`` communicator.

    Packer removes the script with a second command (``rm -f PATH``) once the
    first exited with a valid status. Where the command is known to run under
    ``/bin/sh -c``, the same removal runs at the end of the first command
    instead, which saves a whole exec (about 50 ms of the engine's time per
    script): the command runs in a subshell (an ``exit`` in it still ends
    only the command), and after it, for a valid status only, ``rm -f`` the
    temporary files; a success prints a random marker line on stdout, which is
    taken out of the output. The command's exit status is passed on unchanged.
    Without the marker (the removal failed, the connection dropped, any other
    status) the provisioner removes the files as before, with its own errors.
    """

    def __init__(self, command: str, paths: list[str], valid_exit_codes: list[int], enabled: bool) -> None:
        codes = sorted({code for code in valid_exit_codes if 0 <= code <= 255})
        self.seen = False
        self.command = command
        self._line = b""
        self._held = b""
        self._feed: Callable[[bytes], None] = lambda _chunk: None
        if enabled and codes and paths:
            marker = f"bakehouse-removed-{os.urandom(16).hex()}"
            self._line = marker.encode() + b"\n"
            self.command = _remove_after(command, paths, codes, marker)

    def filter(self, feed: Callable[[bytes], None]) -> Callable[[bytes], None]:
        """``feed`` without the marker line (noted in :attr:`seen`), whatever the
        chunking; :meth:`flush` passes on what was held back once output ends."""
        self.seen = False
        self._held = b""
        self._feed = feed
        return feed if not self._line else self._on_chunk

    def _on_chunk(self, chunk: bytes) -> None:
        data = self._held + chunk
        if self._line in data:
            self.seen = True
            data = data.replace(self._line, b"", 1)
        # Hold back only a tail that may be the start of the marker line:
        # ordinary output is passed on at once.
        keep = next((n for n in range(min(len(data), len(self._line) - 1), 0, -1)
                     if self._line.startswith(data[-n:])), 0)
        self._held = data[len(data) - keep:]
        if len(data) > keep:
            self._feed(data[:len(data) - keep])

    def flush(self) -> None:
        held, self._held = self._held, b""
        if held:
            self._feed(held)


def _remove_after(command: str, paths: list[str], codes: list[int], marker: str) -> str:
    """``command``, then ``rm -f PATHS`` when its status is one of ``codes``;
    the exit status stays the command's. The newline before ``)`` ends a
    comment the command may finish with."""
    quoted = " ".join(shlex.quote(path) for path in paths)
    pattern = "|".join(str(code) for code in codes)
    return (
        f"(\n{command}\n); s=$?; case $s in {pattern}) rm -f {quoted} 2>/dev/null && echo {marker};; esac; exit $s"
    )


def _validate(config: ShellOptions) -> list[str]:
    """Cross-option checks; return the local script paths (empty for inline)."""
    problems = _checks.exactly_one(
        [
            ("inline", config.inline is not None),
            ("script", config.script is not None),
            ("scripts", bool(config.scripts)),
        ],
        "Either a script file or inline script must be specified.",
        "Only one of inline, script or scripts can be specified",
    )
    scripts, script_problems = _checks.script_paths(config.script, config.scripts)
    problems += script_problems
    problems += _checks.environment(config.environment_vars, config.env_var_format, config.env)
    problems += _checks.command_template(("execute_command",), config.execute_command, _PLACEHOLDERS)
    if problems:
        raise ConfigError(problems)
    return scripts


def _format_seconds(seconds: float) -> str:
    """Go's duration notation (``1m30s``), as Packer prints it."""
    whole = int(seconds)
    if whole != seconds or seconds < 1:
        return f"{seconds:g}s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    text = ""
    if hours:
        text += f"{hours}h"
    if hours or minutes:
        text += f"{minutes}m"
    return text + f"{secs}s"
