"""Replace the AMI by an encrypted copy (encrypt_boot)."""

from __future__ import annotations

from typing import Any

from bakehouse.sdk import (
    CONTINUE,
    Action,
    StateBag,
    Step,
)

from bakehouse_plugin_aws.ec2 import (
    call,
)
from bakehouse_plugin_aws.images import (
    delete_image,
)
from bakehouse_plugin_aws.steps._common import (
    ImageTracker,
    config_of,
    wait_image,
)


class StepEncryptedCopy(Step):
    """With ``encrypt_boot``: replace the AMI by an encrypted copy in the build region."""

    name = "encrypted copy"

    def __init__(self) -> None:
        self.tracker = ImageTracker()

    def run(self, state: StateBag) -> Action:
        config = config_of(state)
        if not config.encrypt_boot:
            return CONTINUE
        ec2 = state["ec2"]
        region = config.region
        source = state["amis"][region]
        state.ui.say(f"Creating an encrypted copy of AMI {source}...")
        params: dict[str, Any] = {"SourceRegion": region, "SourceImageId": source,
                                  "Name": config.ami_name, "Encrypted": True}
        kms = config.region_kms_key_ids.get(region) or config.kms_key_id
        if kms:
            params["KmsKeyId"] = kms
        if config.ami_description:
            params["Description"] = config.ami_description
        self.tracker.before(state, region)
        copy_id = call(f"copying AMI {source} encrypted", ec2.copy_image, **params)["ImageId"]
        self.tracker.after(state, region, copy_id, copied_with=ec2)
        wait_image(state, ec2, copy_id, region)
        state.ui.say(f"Deregistering unencrypted AMI {source}")
        delete_image(ec2, source)
        state["amis"] = {region: copy_id}
        return CONTINUE

    def cleanup(self, state: StateBag) -> None:
        self.tracker.cleanup(state, "encrypted")
