"""Learn the snapshots behind every AMI."""

from __future__ import annotations

from bakehouse.sdk import (
    CONTINUE,
    Action,
    StateBag,
    Step,
)

from bakehouse_plugin_aws.images import (
    describe_image,
    image_snapshots,
)
from bakehouse_plugin_aws.steps._common import (
    client_for,
)


class StepSnapshotInfo(Step):
    """Learn the snapshots behind every AMI (for tags and permissions)."""

    name = "snapshot info"

    def run(self, state: StateBag) -> Action:
        snapshots: dict[str, list[str]] = {}
        for region, image_id in state["amis"].items():
            ec2 = client_for(state, region)
            image = describe_image(ec2, image_id)
            snapshots[region] = image_snapshots(image) if image else []
        state["snapshots"] = snapshots
        return CONTINUE
