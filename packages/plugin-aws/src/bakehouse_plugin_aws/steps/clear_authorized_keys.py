"""``ssh_clear_authorized_keys``: take the temporary key out of the image."""

from __future__ import annotations

from bakehouse.sdk import CONTINUE, Action, StateBag, Step
from bakehouse.sdk.ssh import clear_authorized_keys

from bakehouse_plugin_aws.steps._common import config_of


class StepCleanupTempKeys(Step):
    """After provisioning, remove the temporary key pair's public key from the
    instance's ``authorized_keys`` files (Packer's step of the same name): the
    AMI then does not accept a key that only this build ever held. Nothing to
    undo, so no cleanup."""

    name = "clean up temporary keys"

    def run(self, state: StateBag) -> Action:
        config = config_of(state)
        communicator = state.get("communicator")
        if not config.ssh_clear_authorized_keys or communicator is None or not config.temporary_key_pair_wanted():
            return CONTINUE
        public_key = state["generated"].get("SSHPublicKey", "")
        clear_authorized_keys(communicator, public_key, state.ctx, state.ui)
        return CONTINUE
