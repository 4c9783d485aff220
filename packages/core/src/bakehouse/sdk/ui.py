"""What components use to talk to the user."""

from __future__ import annotations

from abc import ABC, abstractmethod


class Ui(ABC):
    """Output channel of one build.

    The core prefixes every line with the build name (``==> name: ...``),
    colours it, redacts sensitive values and, with ``-machine-readable``,
    turns it into machine-readable lines. Components only say what happened.
    """

    @abstractmethod
    def say(self, message: str) -> None:
        """A step of progress (``==> name: message``)."""

    @abstractmethod
    def message(self, message: str) -> None:
        """Output of something that runs (indented under the build name)."""

    @abstractmethod
    def error(self, message: str) -> None:
        """An error or stderr line (red)."""

    def machine(self, category: str, *args: str) -> None:
        """A machine-readable event; ignored unless ``-machine-readable``."""
        return None

    def ask(self, question: str) -> str:
        """Ask the user; raises RuntimeError when no terminal is attached."""
        raise RuntimeError("no available tty")

    def progress(self, task: str, done: int, total: int = 0) -> None:
        """Byte progress of a transfer named ``task``: ``done`` of ``total``
        bytes (0: unknown). Drawn as a bar on a terminal, ignored elsewhere;
        call it a few times a second at most (see :mod:`bakehouse.sdk.progress`)."""
        return None


class NullUi(Ui):
    """A Ui that drops everything (for tests and library use)."""

    def say(self, message: str) -> None:
        pass

    def message(self, message: str) -> None:
        pass

    def error(self, message: str) -> None:
        pass
