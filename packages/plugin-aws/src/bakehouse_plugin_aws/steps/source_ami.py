"""Find the source AMI."""

from __future__ import annotations

from bakehouse.sdk import (
    CONTINUE,
    Action,
    StateBag,
    Step,
)

from bakehouse_plugin_aws.images import (
    find_image,
)
from bakehouse_plugin_aws.steps._common import (
    config_of,
)


class StepSourceAMIInfo(Step):
    """Find the source AMI (``source_ami`` and/or ``source_ami_filter``)."""

    name = "source AMI"

    def run(self, state: StateBag) -> Action:
        config = config_of(state)
        state.ui.say("Inspecting the source AMI...")
        image = find_image(state["ec2"], config.source_ami_filter, config.source_ami)
        state.ui.message(f"Found Image ID: {image['ImageId']}")
        state["source_image"] = image
        state["generated"].update(
            SourceAMI=image["ImageId"],
            SourceAMIName=image.get("Name", ""),
            SourceAMIDescription=image.get("Description", ""),
            SourceAMIOwner=image.get("OwnerId", ""),
            SourceAMIOwnerName=image.get("ImageOwnerAlias", ""),
            SourceAMICreationDate=image.get("CreationDate", ""),
        )
        return CONTINUE
