"""Builders as a list of small steps, each cleaning up what it created.

A step's ``run`` returns :data:`CONTINUE` or :data:`HALT`; to halt with an
error it stores the exception under ``state["error"]`` (or simply raises).
When the run halts, fails or is cancelled, the runner calls ``cleanup`` of
every step that ran, in reverse order.

``on_error`` follows Packer's ``-on-error``:

- ``cleanup`` (default): run the cleanups;
- ``abort``: a failed build keeps its resources for inspection: cleanups are
  skipped, and each skipped step is reported;
- ``ask``: after a failed step, ask ``[c]`` clean up, ``[a]`` abort or ``[r]``
  retry the step; without a terminal (the question cannot be asked) clean up;
- ``run-cleanup-provisioner``: as ``abort``, but the cleanup of the
  provisioning step (a step with ``provisioning = True``) still runs, so the
  error-cleanup provisioner does.

With the build's ``debug`` flag (``bakehouse build -debug``) the runner pauses
after each step that succeeded and before that step's cleanup until the user
presses enter, as Packer's debug runner does (a failed step is cleaned up
without a pause).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from enum import Enum
from typing import Any

from bakehouse.sdk import events
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
    #: True for the step that runs the provision hook: with
    #: ``on_error="run-cleanup-provisioner"`` its cleanup (which runs the
    #: error-cleanup provisioner) still runs while the others are skipped.
    provisioning: bool = False

    def run(self, state: StateBag) -> Action:
        raise NotImplementedError

    def cleanup(self, state: StateBag) -> None:
        """Undo what ``run`` created. Called even when ``run`` halted or raised."""

    def display_name(self) -> str:
        return self.name or type(self).__name__


ON_ERROR_MODES = ("cleanup", "abort", "ask", "run-cleanup-provisioner")

ASK_QUESTION = (
    "[c] Clean up and exit, [a] abort without cleanup, or [r] retry step "
    "(build may fail even if retry succeeds)?"
)


class Runner:
    """Runs steps in order and their cleanups in reverse.

    ``debug`` defaults to the ``debug`` flag of ``state["build"]`` when the
    state holds a :class:`~bakehouse.sdk.components.BuildInfo`.
    """

    def __init__(
        self, steps: Sequence[Step], on_error: str = "cleanup", debug: bool | None = None
    ) -> None:
        if on_error not in ON_ERROR_MODES:
            raise ValueError(f"unknown on_error {on_error!r} (one of {', '.join(ON_ERROR_MODES)})")
        self.steps = list(steps)
        self.on_error = on_error
        self.debug = debug

    def run(self, state: StateBag) -> None:
        """Run every step. Afterwards ``state.get("error")`` holds what failed,
        ``state["cancelled"]`` tells whether the context was cancelled."""
        ctx: Context = state["ctx"]
        ui: Ui = state["ui"]
        debug = self.debug
        if debug is None:
            debug = bool(getattr(state.get("build"), "debug", False))
        ran: list[Step] = []
        # As Packer's debug runner (a pause step after each step): only a step
        # that was followed by its "after run" pause gets a pause before its
        # cleanup, so a failed or cancelled step is cleaned up without one.
        paused: set[int] = set()  # id() of each such step
        state.setdefault("cancelled", False)
        state.setdefault("halted", False)
        failed_step: Step | None = None
        mode = self.on_error
        try:
            for step in self.steps:
                if ctx.cancelled:
                    state["cancelled"] = True
                    break
                ran.append(step)
                while True:
                    action = self._run_step(step, state)
                    if action is CONTINUE or state["cancelled"] or self.on_error != "ask":
                        break
                    answer = self._ask(step, state, ui)
                    if answer == "r":
                        state.pop("error", None)
                        state["halted"] = False
                        continue
                    mode = "abort" if answer == "a" else "cleanup"
                    break
                if state["cancelled"]:
                    break
                if action is HALT:
                    state["halted"] = True
                    failed_step = step
                    break
                if debug:
                    _pause(ui, f"Pausing after run of step '{step.display_name()}'. Press enter to continue.")
                    paused.add(id(step))
        finally:
            self._cleanup(ran, state, ui, failed_step, mode, paused)

    @staticmethod
    def _run_step(step: Step, state: StateBag) -> Action:
        started = time.monotonic()
        action = Runner._run_step_body(step, state)
        status = "cancelled" if state["cancelled"] else ("failed" if action is HALT else "ok")
        events.emit(
            "step",
            build=getattr(state.get("build"), "build_name", ""),
            step=step.display_name(),
            status=status,
            duration=round(time.monotonic() - started, 6),
        )
        return action

    @staticmethod
    def _run_step_body(step: Step, state: StateBag) -> Action:
        ctx: Context = state["ctx"]
        try:
            action = step.run(state)
        except Cancelled:
            state["cancelled"] = True
            return HALT
        except Exception as exc:  # a step failed: record, then clean up
            log.debug("step %s raised", step.display_name(), exc_info=True)
            state["error"] = exc
            action = HALT
        if ctx.cancelled:
            state["cancelled"] = True
        return action

    @staticmethod
    def _ask(step: Step, state: StateBag, ui: Ui) -> str:
        """``c``, ``a`` or ``r``; ``c`` when the question cannot be asked."""
        error = state.get("error")
        if error is not None:
            ui.error(str(error))
        ui.say(f'Step "{step.display_name()}" failed')
        while True:
            try:
                line = ui.ask(ASK_QUESTION)
            except Exception as exc:  # no terminal (or it went away): clean up, as Packer
                log.debug("cannot ask what to do on error: %s", exc)
                return "c"
            choice = (line.strip().lower() + "c")[0]
            if choice in "car":
                return choice
            ui.say(f"Incorrect input: {json.dumps(line)}")  # Go's %#v of a string

    def _cleanup(
        self,
        ran: list[Step],
        state: StateBag,
        ui: Ui,
        failed_step: Step | None,
        mode: str,
        paused: set[int],
    ) -> None:
        failed = state.get("error") is not None or state["halted"]
        keep = mode in ("abort", "run-cleanup-provisioner") and (failed or state["cancelled"])
        # Builders read this to list what was kept and how to remove it.
        state["kept_for_inspection"] = keep
        if keep:
            if failed_step is not None:
                ui.error(f'Step "{failed_step.display_name()}" failed, aborting...')
            elif state["cancelled"]:
                ui.error("Interrupted, aborting...")
        for step in reversed(ran):
            if keep and not (mode == "run-cleanup-provisioner" and step.provisioning):
                ui.error(f"aborted: skipping cleanup of step {step.display_name()!r}")
                continue
            if id(step) in paused:
                _pause(ui, f"Pausing before cleanup of step '{step.display_name()}'. Press enter to continue.")
            try:
                step.cleanup(state)
            except Exception as exc:  # keep cleaning the rest
                log.debug("cleanup of %s raised", step.display_name(), exc_info=True)
                ui.error(f"Error cleaning up {step.display_name()}: {exc}")


def _pause(ui: Ui, message: str) -> None:
    """``-debug``: wait for enter; without a terminal, go on (as Packer)."""
    try:
        ui.ask(message)
    except Exception as exc:
        log.debug("debug pause skipped: %s", exc)
