"""Run the provisioners."""

from __future__ import annotations

from bakehouse.sdk import (
    CONTINUE,
    HOOK_CLEANUP_PROVISION,
    HOOK_PROVISION,
    Action,
    Context,
    Hook,
    StateBag,
    Step,
)


class StepProvision(Step):
    """Run the provisioners through the core's hook."""

    name = "provision"
    provisioning = True

    def __init__(self) -> None:
        self.ran = False

    def run(self, state: StateBag) -> Action:
        hook: Hook = state["hook"]
        state.ui.say("Provisioning with the provision hook...")
        self.ran = True
        hook.run(HOOK_PROVISION, state.ui, state.get("communicator"), dict(state["generated"]), state.ctx)
        return CONTINUE

    def cleanup(self, state: StateBag) -> None:
        # Packer runs the error-cleanup-provisioner only when the build failed.
        if not self.ran or not (state.get("error") is not None or state.get("halted")):
            return
        hook: Hook = state["hook"]
        try:
            hook.run(HOOK_CLEANUP_PROVISION, state.ui, state.get("communicator"),
                     dict(state["generated"]), Context())
        except Exception as exc:  # the build already failed; report, keep cleaning
            state.ui.error(f"error-cleanup-provisioner failed: {exc}")
