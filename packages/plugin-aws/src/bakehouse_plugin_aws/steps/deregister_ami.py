"""Replace AMIs of the same name (force_deregister)."""

from __future__ import annotations

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
    client_for,
    config_of,
)


class StepDeregisterAMI(Step):
    """With ``force_deregister``: remove existing AMIs of the same name
    (and their snapshots with ``force_delete_snapshot``) in every target region."""

    name = "deregister old AMI"

    def run(self, state: StateBag) -> Action:
        config = config_of(state)
        if not config.force_deregister:
            return CONTINUE
        for region in [config.region, *config.ami_regions]:
            ec2 = client_for(state, region)
            images = call(f"looking up AMIs named {config.ami_name!r} in {region}", ec2.describe_images,
                          Owners=["self"], Filters=[{"Name": "name", "Values": [config.ami_name]}]
                          ).get("Images", [])
            for image in images:
                state.ui.say(f"Deregistered AMI id: {image['ImageId']} ({region})")
                snapshots = delete_image(ec2, image["ImageId"], delete_snapshots=config.force_delete_snapshot)
                if config.force_delete_snapshot:
                    for snapshot in snapshots:
                        state.ui.say(f"Deleted snapshot: {snapshot}")
        return CONTINUE
