"""The SDK :class:`~bakehouse.sdk.ui.Ui` of one build, handed to its components."""

from __future__ import annotations

import sys

from bakehouse import log
from bakehouse.sdk.ui import Ui
from bakehouse.ui.format import RED, colorize, machine_line
from bakehouse.ui.terminal import RootUi


class BuildUi(Ui):
    """The SDK :class:`Ui` of one build: ``==> name: msg`` in the build's colour."""

    def __init__(self, root: RootUi, name: str, color: int, label: str | None = None) -> None:
        self.root = root
        self.name = name
        self.color = color
        self.label = label or name

    def child(self, label: str) -> BuildUi:
        """Same build and colour, another prefix (``name (manifest)`` for post-processors)."""
        return BuildUi(self.root, self.name, self.color, label)

    def _lines(self, kind: str, message: str, prefix: str, color: int, bold: bool) -> None:
        root = self.root
        text = message.rstrip("\n") if message.endswith("\n") else message
        if root.machine_readable:
            body = "\n".join(prefix + line for line in text.split("\n"))
            root.write_line(machine_line("", "ui", [kind, log.redact(body)]))
            return
        for line in text.split("\n"):
            line = prefix + line
            line = root._stamp(line)
            if root.color:
                line = colorize(line, color, bold)
            root.write_line(line)

    def say(self, message: str) -> None:
        self._lines("say", message, f"==> {self.label}: ", self.color, True)

    def message(self, message: str) -> None:
        self._lines("message", message, f"    {self.label}: ", self.color, False)

    def error(self, message: str) -> None:
        self._lines("error", message, f"==> {self.label}: ", RED, True)

    def machine(self, category: str, *args: str) -> None:
        self.root.machine(self.name, category, *args)

    def progress(self, task: str, done: int, total: int = 0) -> None:
        self.root.progress(f"{self.label}: {task}", done, total)

    def ask(self, question: str) -> str:
        if self.root.machine_readable or not sys.stdin.isatty():
            raise RuntimeError("no available tty")
        self.say(question)
        with self.root._lock:
            answer = sys.stdin.readline()
        return answer.rstrip("\n")
