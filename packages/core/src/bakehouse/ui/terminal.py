"""The root UI of a command.

Kept free of SDK imports (pydantic) so that light commands (``version``,
``fmt``) start fast; the per-build UI lives in :mod:`bakehouse.ui.build`.
"""

from __future__ import annotations

import datetime
import os
import sys
import threading
from typing import TYPE_CHECKING, Any, TextIO

from bakehouse import log
from bakehouse.ui.format import COLORS, RED, YELLOW, colorize, machine_line

if TYPE_CHECKING:
    from bakehouse.ui.build import BuildUi


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _rfc3339_now() -> str:
    return datetime.datetime.now(datetime.UTC).astimezone().isoformat(timespec="seconds")


class RootUi:
    """Writes lines to one stream (stdout), thread-safe, redacting everything."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        color: bool = False,
        timestamps: bool = False,
        machine_readable: bool = False,
    ) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.color = color and not machine_readable
        self.timestamps = timestamps
        self.machine_readable = machine_readable
        self._lock = threading.Lock()
        self._next_color = 0
        self._progress: Any = None
        #: Progress bars are drawn only on a terminal (BAKEHOUSE_FORCE_TERMINAL=1 forces it).
        self.terminal = os.environ.get("BAKEHOUSE_FORCE_TERMINAL") == "1" or _isatty(self.stream)

    # -- raw output -------------------------------------------------------------------

    def write_line(self, text: str) -> None:
        """Write one already formatted line (redacted here, the single choke point)."""
        line = log.redact(text)
        with self._lock:
            try:
                if self._progress is not None:
                    # printed above the live progress bars, which stay at the bottom
                    self._progress.print_line(line)
                    return
                self.stream.write(line + "\n")
                self.stream.flush()
            except (BrokenPipeError, ValueError):
                # stdout closed (e.g. piped into `head`): keep building, as Packer does.
                pass

    # -- transfers -------------------------------------------------------------------

    def progress(self, task: str, done: int, total: int = 0) -> None:
        """Byte progress of a transfer: a rich progress bar on a terminal (never
        with -machine-readable, never in a pipe); removed once complete."""
        if self.machine_readable or not self.terminal:
            return
        with self._lock:
            if self._progress is None:
                from bakehouse.ui.progress import TransferBars

                self._progress = TransferBars(self.stream)
            self._progress.update(log.redact(task), done, total)
            if self._progress.idle:
                self._progress.close()
                self._progress = None

    def close_progress(self) -> None:
        """Remove any bar still drawn (a transfer that failed half-way)."""
        with self._lock:
            if self._progress is not None:
                self._progress.close()
                self._progress = None

    def _stamp(self, text: str) -> str:
        return f"{_rfc3339_now()}: {text}" if self.timestamps and text else text

    def _emit(self, kind: str, text: str, color: int | None, bold: bool) -> None:
        if self.machine_readable:
            self.write_line(machine_line("", "ui", [kind, log.redact(text)]))
            return
        for line in text.split("\n") if text else [""]:
            line = self._stamp(line)
            if self.color and color is not None:
                line = colorize(line, color, bold)
            self.write_line(line)

    # -- root-level messages ---------------------------------------------------------

    def say(self, message: str) -> None:
        self._emit("say", message, None, False)

    def message(self, message: str) -> None:
        self._emit("message", message, None, False)

    def error(self, message: str) -> None:
        self._emit("error", message, RED, True)

    def warn(self, message: str) -> None:
        """Warnings (diagnostics): yellow, but a plain ``say`` for machines."""
        self._emit("say", message, YELLOW, True)

    def machine(self, target: str, kind: str, *args: str) -> None:
        """A machine-readable event; only printed with ``-machine-readable``."""
        if self.machine_readable:
            self.write_line(machine_line(target, kind, [log.redact(str(a)) for a in args]))

    # -- builds ----------------------------------------------------------------------

    def build_ui(self, name: str) -> BuildUi:
        """A UI for build ``name`` with the next colour of the cycle."""
        from bakehouse.ui.build import BuildUi

        color = COLORS[self._next_color % len(COLORS)]
        self._next_color += 1
        return BuildUi(self, name, color)

    def announce(self, builds: list[BuildUi]) -> None:
        """``<name>: output will be in this color.`` for each build, then a blank line."""
        if not self.color:
            return
        for build in builds:
            self.write_line(
                colorize(f"{build.name}: output will be in this color.", build.color, True)
            )
        self.write_line("")
