"""Create the AMI from the instance."""

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
from bakehouse_plugin_aws.resources import (
    tag_specification,
)
from bakehouse_plugin_aws.steps._common import (
    ImageTracker,
    config_of,
    run_id_of,
    wait_image,
)


class StepCreateAMI(Step):
    """Create the AMI from the instance and wait until it is available."""

    name = "create AMI"

    def __init__(self) -> None:
        self.tracker = ImageTracker()

    def run(self, state: StateBag) -> Action:
        config = config_of(state)
        ec2 = state["ec2"]
        instance_id = state["instance"]["InstanceId"]
        state.ui.say(f"Creating AMI {config.ami_name} from instance {instance_id}")
        params: dict[str, Any] = {
            "InstanceId": instance_id, "Name": config.ami_name,
            "TagSpecifications": [tag_specification("image", run_id_of(state))],
        }
        if config.ami_description:
            params["Description"] = config.ami_description
        if config.ami_block_device_mappings:
            params["BlockDeviceMappings"] = [m.to_api() for m in config.ami_block_device_mappings]
        self.tracker.before(state, config.region)
        image_id = call(f"creating AMI {config.ami_name!r} from instance {instance_id}",
                        ec2.create_image, **params)["ImageId"]
        self.tracker.after(state, config.region, image_id)
        state.ui.message(f"AMI: {image_id}")
        state.ui.say("Waiting for AMI to become ready...")
        wait_image(state, ec2, image_id, config.region)
        state["amis"] = {config.region: image_id}
        return CONTINUE

    def cleanup(self, state: StateBag) -> None:
        self.tracker.cleanup(state, "created")
