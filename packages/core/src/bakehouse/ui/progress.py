"""Byte progress bars of transfers, drawn with rich on a terminal.

:class:`~bakehouse.ui.terminal.RootUi` creates a :class:`TransferBars` on the
first progress update and closes it once no transfer is left; while it is
open, UI lines are printed above the bars. rich is imported only here, only
when a transfer is shown on a terminal.
"""

from __future__ import annotations

from typing import Any, TextIO


class TransferBars:
    """One bar per transfer (task name), with bytes, total, speed."""

    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TransferSpeedColumn,
        )

        self.console = Console(file=stream, force_terminal=True, highlight=False, soft_wrap=True)
        self.progress = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=self.console,
            transient=True,
            auto_refresh=False,
        )
        self.progress.start()
        self.tasks: dict[str, Any] = {}

    @property
    def idle(self) -> bool:
        return not self.tasks

    def update(self, name: str, done: int, total: int) -> None:
        task = self.tasks.get(name)
        if task is None:
            task = self.tasks[name] = self.progress.add_task(name, total=total or None)
        self.progress.update(task, completed=done, total=total or None)
        if total and done >= total:
            self.progress.remove_task(task)
            del self.tasks[name]
        self.progress.refresh()

    def print_line(self, line: str) -> None:
        from rich.text import Text

        self.console.print(Text.from_ansi(line))

    def close(self) -> None:
        self.progress.stop()
