"""Cancellation shared by the core and plugins.

A :class:`Context` is handed to every long-running component call
(``Builder.run``, ``Provisioner.provision``, ``PostProcessor.post_process``,
``Communicator.execute``). When the user presses Ctrl-C, or the core dies, the
context is cancelled on the plugin's side of the pipe and the component is
expected to stop what it is doing and let its cleanups run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class Cancelled(Exception):
    """Raised by :meth:`Context.check` once the context is cancelled."""

    def __init__(self, reason: str = "context canceled") -> None:
        super().__init__(reason)
        self.reason = reason


class Context:
    """A cancellation flag with callbacks, safe to use from any thread."""

    def __init__(self, parent: Context | None = None) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []
        self.reason = ""
        if parent is not None:
            parent.on_cancel(lambda: self.cancel(parent.reason))

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self, reason: str = "context canceled") -> None:
        """Cancel the context; callbacks run once, on the calling thread."""
        with self._lock:
            if self._event.is_set():
                return
            self.reason = reason
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def on_cancel(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` when the context is cancelled (now, if it already is)."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return
        callback()

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep up to ``timeout`` seconds; return True if cancelled meanwhile."""
        return self._event.wait(timeout)

    def check(self) -> None:
        """Raise :class:`Cancelled` if the context is cancelled."""
        if self._event.is_set():
            raise Cancelled(self.reason or "context canceled")

    def child(self) -> Context:
        """A new context cancelled together with this one (but not vice versa)."""
        return Context(parent=self)


def background() -> Context:
    """A context that is never cancelled unless someone calls ``cancel``."""
    return Context()
