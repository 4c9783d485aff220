"""Builders as a list of small steps, each cleaning up what it created.

A step's ``run`` returns :data:`CONTINUE` or :data:`HALT`; to halt with an
error it stores the exception under ``state["error"]`` (or simply raises).
When the run halts, fails or is cancelled, the runner calls ``cleanup`` of
every step that ran, in reverse order. With ``on_error="abort"`` a failed
build keeps its resources for inspection: cleanups are skipped, and each
skipped step is reported.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from enum import Enum
from typing import Any

from bakehouse.sdk.context import Cancelled, Context
from bakehouse.sdk.ui import Ui

log = logging.getLogger("bakehouse.sdk.multistep")


class Action(Enum):
    CONTINUE = "continue"
    HALT = "halt"


CONTINUE = Action.CONTINUE
HALT = Action.HALT


class StateBag(dict[str, Any]):
    """The state steps share. Well-known keys: ``ui``, ``hook``, ``ctx``,
    ``config``, ``build``, ``error`` (the exception that halted the run),
    ``cancelled`` and ``halted``."""

    @property
    def ui(self) -> Ui:
        ui: Ui = self["ui"]
        return ui

    @property
    def ctx(self) -> Context:
        ctx: Context = self["ctx"]
        return ctx


class Step:
    """One action of a build and its undo."""

    #: Name shown in messages; defaults to the class name.
    name: str = ""

    def run(self, state: StateBag) -> Action:
        raise NotImplementedError

    def cleanup(self, state: StateBag) -> None:
        """Undo what ``run`` created. Called even when ``run`` halted or raised."""

    def display_name(self) -> str:
        return self.name or type(self).__name__


class Runner:
    """Runs steps in order and their cleanups in reverse."""

    def __init__(self, steps: Sequence[Step], on_error: str = "cleanup") -> None:
        self.steps = list(steps)
        self.on_error = on_error

    def run(self, state: StateBag) -> None:
        """Run every step. Afterwards ``state.get("error")`` holds what failed,
        ``state["cancelled"]`` tells whether the context was cancelled."""
        ctx: Context = state["ctx"]
        ui: Ui = state["ui"]
        ran: list[Step] = []
        state.setdefault("cancelled", False)
        state.setdefault("halted", False)
        failed_step: Step | None = None
        try:
            for step in self.steps:
                if ctx.cancelled:
                    state["cancelled"] = True
                    break
                ran.append(step)
                try:
                    action = step.run(state)
                except Cancelled:
                    state["cancelled"] = True
                    break
                except Exception as exc:  # a step failed: record, then clean up
                    log.debug("step %s raised", step.display_name(), exc_info=True)
                    state["error"] = exc
                    action = HALT
                if ctx.cancelled:
                    state["cancelled"] = True
                    break
                if action is HALT:
                    state["halted"] = True
                    failed_step = step
                    break
        finally:
            self._cleanup(ran, state, ui, failed_step)

    def _cleanup(
        self, ran: list[Step], state: StateBag, ui: Ui, failed_step: Step | None
    ) -> None:
        failed = state.get("error") is not None or state["halted"]
        if self.on_error == "abort" and (failed or state["cancelled"]):
            if failed_step is not None:
                ui.error(f'Step "{failed_step.display_name()}" failed, aborting...')
            elif state["cancelled"]:
                ui.error("Interrupted, aborting...")
            for step in reversed(ran):
                ui.error(f"aborted: skipping cleanup of step {step.display_name()!r}")
            return
        for step in reversed(ran):
            try:
                step.cleanup(state)
            except Exception as exc:  # keep cleaning the rest
                log.debug("cleanup of %s raised", step.display_name(), exc_info=True)
                ui.error(f"Error cleaning up {step.display_name()}: {exc}")
