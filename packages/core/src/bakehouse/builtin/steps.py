"""Steps shared by the built-in builders."""

from __future__ import annotations

from typing import Any

from bakehouse.sdk.communicator import Communicator
from bakehouse.sdk.components import HOOK_CLEANUP_PROVISION, HOOK_PROVISION, Hook
from bakehouse.sdk.context import Context
from bakehouse.sdk.multistep import CONTINUE, Action, StateBag, Step


class StepProvision(Step):
    """Run the provisioners through the hook; on a recorded error, the cleanup provisioner.

    Reads ``hook``, ``ui``, ``ctx``, optional ``communicator`` and
    ``generated_data`` from the state.
    """

    name = "StepProvision"
    provisioning = True

    def run(self, state: StateBag) -> Action:
        hook: Hook = state["hook"]
        communicator: Communicator | None = state.get("communicator")
        data: dict[str, Any] = dict(state.get("generated_data") or {})
        hook.run(HOOK_PROVISION, state.ui, communicator, data, state.ctx)
        return CONTINUE

    def cleanup(self, state: StateBag) -> None:
        if state.get("error") is None:
            return
        state.ui.say("Provisioning step had errors: Running the cleanup provisioner, if present...")
        hook: Hook = state["hook"]
        # A fresh context: the build's one may be cancelled, the cleanup must still run.
        try:
            hook.run(
                HOOK_CLEANUP_PROVISION,
                state.ui,
                state.get("communicator"),
                dict(state.get("generated_data") or {}),
                Context(),
            )
        except Exception as exc:
            original = state["error"]
            state["error"] = RuntimeError(
                f"Cleanup failed: {exc}. Original Provisioning error: {original}"
            )
