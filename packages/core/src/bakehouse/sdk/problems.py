"""Configuration mistakes, without pydantic.

:class:`ConfigProblem` and :class:`ConfigError` cross the RPC boundary, so the
protocol (and a plugin's start-up path) needs them; keeping them apart from
:mod:`bakehouse.sdk.config` lets a plugin answer its handshake before it
imports pydantic. :mod:`bakehouse.sdk.config` re-exports both, and
:func:`parse_duration`, which the core needs for every provisioner's
``timeout`` and ``pause_before`` without importing pydantic either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class ConfigProblem:
    """One mistake in a component's configuration.

    ``path`` is the attribute path inside the component block, e.g.
    ``("changes", 2)`` or ``("image",)``; empty for whole-block problems.
    """

    path: tuple[str | int, ...]
    message: str


@dataclass
class ConfigError(Exception):
    """Raised by ``prepare``/``configure`` when the configuration is invalid."""

    problems: list[ConfigProblem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return "; ".join(
            (".".join(str(p) for p in problem.path) + ": " if problem.path else "") + problem.message
            for problem in self.problems
        )

    @classmethod
    def single(cls, message: str, *path: str | int) -> ConfigError:
        return cls([ConfigProblem(tuple(path), message)])


class PermanentError(Exception):
    """An error that trying again cannot fix: an unknown user, a missing
    executable or file, an image that does not exist, a bad option.

    Raise it (or a subclass) from a communicator or step when the cause is in the
    configuration or the machine, not in timing. Code that retries transient
    failures (the ``shell`` provisioner's ``start_retry_timeout``) stops at once
    and reports the message. The mark survives the pipe: see :func:`is_permanent`.
    """

    permanent = True


def is_permanent(exc: BaseException) -> bool:
    """True for a :class:`PermanentError`, here or raised in another process."""
    return bool(getattr(exc, "permanent", False))


def parse_duration(text: str | int | float) -> float:
    """Parse a Go duration (``"1m30s"``, ``"500ms"``) or a number of seconds."""
    if isinstance(text, (int, float)):
        return float(text)
    value = text.strip()
    if value in ("", "0"):
        return 0.0
    total, pos = 0.0, 0
    for match in _DURATION.finditer(value):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(value) or pos == 0:
        raise ValueError(f"invalid duration {text!r} (examples: 30s, 5m, 1h30m, 500ms)")
    return total
