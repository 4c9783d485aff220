"""Configuration checks shared by ``shell`` and ``shell-local``: what a pydantic
schema cannot express, reported as :class:`ConfigProblem` with the option's path."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from bakehouse.sdk import ConfigProblem

from bakehouse_plugin_shell._text import (
    IndexedValueError,
    TemplateError,
    check_env_var_format,
    env_name_message,
    is_env_name,
    parse_environment_vars,
    render_placeholders,
)


def exactly_one(options: Sequence[tuple[str, bool]], none_message: str, many_message: str) -> list[ConfigProblem]:
    """``options`` are (name, given) pairs, of which exactly one must be given."""
    given = [name for name, present in options if present]
    if not given:
        return [ConfigProblem((), none_message)]
    if len(given) > 1:
        return [ConfigProblem((given[1],), f"{many_message} (found {', '.join(given)}).")]
    return []


def script_paths(script: str | None, scripts: Sequence[str]) -> tuple[list[str], list[ConfigProblem]]:
    """The local scripts to run, made absolute (relative paths are relative to the
    current directory, as in Packer), and the ones that do not exist."""
    problems: list[ConfigProblem] = []
    paths = [script] if script is not None else list(scripts)
    for index, path in enumerate(paths):
        where: tuple[str | int, ...] = ("script",) if script is not None else ("scripts", index)
        # Paths built from build.* values are unknown until the provisioner runs.
        if "<unknown>" not in path and not os.path.isfile(path):
            problems.append(ConfigProblem(where, f"Bad script {path!r}: no such file."))
    return [os.path.abspath(path) for path in paths], problems


def environment(
    environment_vars: Sequence[str], env_var_format: str, env: Mapping[str, str] | None = None
) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    try:
        parse_environment_vars(environment_vars)
    except IndexedValueError as exc:
        problems.append(ConfigProblem(("environment_vars", exc.index), str(exc)))
    for name in env or {}:
        if not is_env_name(name):
            problems.append(ConfigProblem(("env", name), env_name_message(name)))
    try:
        check_env_var_format(env_var_format)
    except ValueError as exc:
        problems.append(ConfigProblem(("env_var_format",), str(exc)))
    return problems


def command_template(path: tuple[str | int, ...], template: str, placeholders: Sequence[str]) -> list[ConfigProblem]:
    try:
        render_placeholders(template, {name: "" for name in placeholders})
    except TemplateError as exc:
        return [ConfigProblem(path, str(exc))]
    return []
