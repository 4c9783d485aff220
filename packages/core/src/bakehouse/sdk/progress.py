"""Report the progress of a byte stream to the Ui (see :meth:`Ui.progress`).

``ProgressReader(src, ui, "Uploading app.tar", total=size)`` reads through
``src`` and tells the Ui how far it got, a few times a second and once at the
end; ``ProgressWriter`` does the same for a destination stream, and
:class:`Throttle` for transfers that are not streams (image pulls, pushes).
"""

from __future__ import annotations

import time
from typing import Any, BinaryIO

from bakehouse.sdk.ui import Ui

#: Seconds between two updates of one transfer.
INTERVAL = 0.2


class Throttle:
    """Calls ``ui.progress`` at most every :data:`INTERVAL` seconds, and always
    for the final update (``done >= total``)."""

    def __init__(self, ui: Ui, task: str, total: int = 0) -> None:
        self.ui, self.task, self.total = ui, task, total
        self._last = 0.0

    def __call__(self, done: int, total: int | None = None, final: bool = False) -> None:
        if total is not None:
            self.total = total
        now = time.monotonic()
        complete = final or (self.total > 0 and done >= self.total)
        if complete or now - self._last >= INTERVAL:
            self._last = now
            self.ui.progress(self.task, done, self.total if not final else max(self.total, done))


class ProgressReader:
    """A readable stream that reports the bytes read from ``src``."""

    def __init__(self, src: BinaryIO, ui: Ui, task: str, total: int = 0) -> None:
        self._src = src
        self._done = 0
        self._report = Throttle(ui, task, total)

    def read(self, size: int = -1) -> bytes:
        data = self._src.read(size)
        self._done += len(data)
        self._report(self._done, final=not data or (size is not None and size < 0))
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._src, name)


class ProgressWriter:
    """A writable stream that reports the bytes written to ``dst``."""

    def __init__(self, dst: BinaryIO, ui: Ui, task: str, total: int = 0) -> None:
        self._dst = dst
        self._done = 0
        self._report = Throttle(ui, task, total)

    def write(self, data: bytes) -> int:
        written = self._dst.write(data)
        self._done += len(data)
        self._report(self._done)
        return written

    def finish(self) -> None:
        """The transfer is over: the bar goes away."""
        self._report(self._done, final=True)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._dst, name)
