"""Text helpers shared by the shell components: command templates, environment
variables, inline scripts and line-by-line output.

Packer's shell components describe commands as Go templates with a handful of
fields (``{{.Vars}}``, ``{{.Script}}``, ``{{.Path}}``, ``{{.EnvVarFile}}``).
Nothing else of Go's template language is meaningful there, so a placeholder
substitution is all that is needed; anything else between ``{{`` and ``}}`` is
reported as a mistake instead of being passed to the shell verbatim.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterable, Mapping, Sequence

_PLACEHOLDER = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}")
_FIELD = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)")

#: Go's ``%s``/``%v`` verbs (and ``%%``), the only ones ``env_var_format`` may use.
_FORMAT_VERB = re.compile(r"%(.)")


class TemplateError(ValueError):
    """A command template uses a placeholder the component does not provide."""


def render_placeholders(template: str, values: Mapping[str, str]) -> str:
    """Replace ``{{.Name}}`` (spaces allowed: ``{{ .Name }}``) with ``values[Name]``.

    Raises :class:`TemplateError` for an unknown name or any other template
    construct, naming what is available.
    """

    def substitute(match: re.Match[str]) -> str:
        inner = match.group(1)
        field = _FIELD.fullmatch(inner)
        if field is None or field.group(1) not in values:
            available = ", ".join("{{." + name + "}}" for name in values)
            raise TemplateError(
                f"unknown placeholder {match.group(0)!s} in {template!r}; available: {available}"
            )
        return values[field.group(1)]

    return _PLACEHOLDER.sub(substitute, template)


def check_env_var_format(fmt: str) -> None:
    """``env_var_format`` is a Go format string taking the name then the value."""
    verbs = [m.group(1) for m in _FORMAT_VERB.finditer(fmt) if m.group(1) != "%"]
    if len(verbs) != 2 or any(verb not in ("s", "v") for verb in verbs):
        raise ValueError(
            f"env_var_format {fmt!r} must contain exactly two %s: the name, then the value"
        )


def format_env_var(fmt: str, name: str, value: str) -> str:
    """Apply a Go-style ``env_var_format`` (``%s='%s' ``) to one variable."""
    pieces = iter((name, value))

    def substitute(match: re.Match[str]) -> str:
        if match.group(1) == "%":
            return "%"
        return next(pieces)

    return _FORMAT_VERB.sub(substitute, fmt)


def quote_for_single_quotes(value: str) -> str:
    """Make ``value`` safe inside ``'...'`` in a POSIX shell (``'`` -> ``'"'"'``),
    as Packer does for environment variable values."""
    return value.replace("'", "'\"'\"'")


#: A POSIX shell variable name.
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def is_env_name(name: str) -> bool:
    """True for a name that is safe unquoted in a shell command line.

    ``env_var_format`` writes names as they are into the command that runs the
    script, so anything but an identifier would run as shell code.
    """
    return _ENV_NAME.fullmatch(name) is not None


def env_name_message(name: str) -> str:
    return (
        f"Environment variable name {name!r} is not valid: a name is letters, "
        "digits and underscores, not starting with a digit."
    )


def parse_environment_vars(pairs: Sequence[str]) -> list[tuple[str, str]]:
    """Split ``KEY=value`` strings; raise ValueError (with the index) for a bad one."""
    parsed: list[tuple[str, str]] = []
    for index, pair in enumerate(pairs):
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise IndexedValueError(
                index, f"Environment variable not in format 'key=value': {pair!r}"
            )
        if not is_env_name(name):
            raise IndexedValueError(index, env_name_message(name))
        parsed.append((name, value))
    return parsed


class IndexedValueError(ValueError):
    """A ValueError about element ``index`` of a list option."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index


def build_env(
    *,
    build_name: str,
    builder_type: str,
    environment_vars: Sequence[str],
    env: Mapping[str, str],
    generated: Mapping[str, object] | None = None,
) -> dict[str, str]:
    """The variables a shell script sees, as Packer composes them.

    ``PACKER_BUILD_NAME`` and ``PACKER_BUILDER_TYPE`` always; the HTTP server
    address when the builder generated one; then ``environment_vars`` and
    finally ``env`` (later ones win).
    """
    variables: dict[str, str] = {
        "PACKER_BUILD_NAME": build_name,
        "PACKER_BUILDER_TYPE": builder_type,
    }
    for generated_key, env_name in (
        ("PackerHTTPAddr", "PACKER_HTTP_ADDR"),
        ("PackerHTTPIP", "PACKER_HTTP_IP"),
        ("PackerHTTPPort", "PACKER_HTTP_PORT"),
    ):
        value = (generated or {}).get(generated_key)
        if value not in (None, "", "<unknown>"):
            variables[env_name] = str(value)
    for name, value in parse_environment_vars(environment_vars):
        variables[name] = value
    variables.update(env)
    return variables


def flatten_env(variables: Mapping[str, str], fmt: str) -> str:
    """Variables sorted by name, each through ``fmt`` with its value quoted."""
    return "".join(
        format_env_var(fmt, name, quote_for_single_quotes(variables[name]))
        for name in sorted(variables)
    )


def inline_script(commands: Iterable[str], shebang: str) -> bytes:
    """The script Packer writes for ``inline``: a shebang line, then one command a line.

    As in Packer 1.13+, a first command starting with ``#!`` is the script's
    shebang and replaces ``inline_shebang``.
    """
    commands = list(commands)
    own_shebang = bool(commands) and commands[0].startswith("#!")
    lines = [f"#!{shebang}"] if shebang and not own_shebang else []
    lines.extend(commands)
    return ("\n".join(lines) + "\n").encode("utf-8")


def to_unix_newlines(data: bytes) -> bytes:
    """Scripts written on Windows still run: CRLF line ends become LF."""
    return data.replace(b"\r\n", b"\n")


class LineSplitter:
    """Turns output chunks into whole lines for the Ui.

    Bytes are decoded as UTF-8 (invalid sequences replaced); a line ends at
    ``\\n``; within a line, text before the last ``\\r`` is dropped so that
    progress bars show their final state, as Packer does. The lines completed
    by one chunk go out together in one multi-line Ui call (the Ui prefixes
    every line), so a chatty command costs one call per chunk, not per line.
    """

    def __init__(self, emit: Callable[[str], None]) -> None:
        self._emit = emit
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""

    def feed(self, chunk: bytes) -> None:
        text = self._pending + self._decoder.decode(chunk)
        *complete, self._pending = text.split("\n")
        self._send([_clean_line(line) for line in complete])

    def close(self) -> None:
        text = self._pending + self._decoder.decode(b"", final=True)
        self._pending = ""
        if text:
            self._send([_clean_line(text)])

    def _send(self, lines: list[str]) -> None:
        # A Ui drops trailing newlines of a message: trailing empty lines go one by one.
        trailing_empty = 0
        while lines and lines[-1] == "":
            lines.pop()
            trailing_empty += 1
        if lines:
            self._emit("\n".join(lines))
        for _ in range(trailing_empty):
            self._emit("")


def _clean_line(line: str) -> str:
    line = line.rstrip("\r")
    if "\r" in line:
        line = line.rsplit("\r", 1)[1]
    return line
