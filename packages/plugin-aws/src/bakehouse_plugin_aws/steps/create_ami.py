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
    tag_list,
)
from bakehouse_plugin_aws.images import (
    describe_image,
    image_snapshots,
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
        self._tag_snapshots_with_run_tags(state, image_id)
        return CONTINUE

    @staticmethod
    def _tag_snapshots_with_run_tags(state: StateBag, image_id: str) -> None:
        """Packer gives the new AMI's snapshots the run tags (CreateImage's
        snapshot TagSpecification) unless ``skip_ami_run_tags``; they are tagged
        right after instead, as EC2 emulators refuse that TagSpecification. The
        AMI's own run tags come with ``tags`` (StepCreateTags); copies in other
        regions keep the AMI's tags but their snapshots get none, as in Packer."""
        config = config_of(state)
        run_tags = config.merged_tags("run")
        if config.skip_ami_run_tags or not run_tags:
            return
        ec2 = state["ec2"]
        image = describe_image(ec2, image_id)
        snapshots = image_snapshots(image) if image else []
        if snapshots:
            state.ui.say("Attaching run tags to the AMI's snapshots...")
            call(f"tagging snapshots {', '.join(snapshots)} of AMI {image_id}", ec2.create_tags,
                 Resources=snapshots, Tags=tag_list(run_tags))

    def cleanup(self, state: StateBag) -> None:
        self.tracker.cleanup(state, "created")
