"""Tags on the AMIs and their snapshots."""

from __future__ import annotations

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
from bakehouse_plugin_aws.steps._common import (
    client_for,
    config_of,
)


class StepCreateTags(Step):
    """``tags`` on the AMIs, ``snapshot_tags`` on their snapshots, every region."""

    name = "create tags"

    def run(self, state: StateBag) -> Action:
        config = config_of(state)
        ami_tags, snapshot_tags = config.ami_tags(), config.merged_tags("snapshot")
        if not (ami_tags or snapshot_tags):
            return CONTINUE
        for region, image_id in sorted(state["amis"].items()):
            ec2 = client_for(state, region)
            if ami_tags:
                state.ui.say(f"Adding tags to AMI ({image_id}) in {region}...")
                call(f"tagging AMI {image_id} ({region})", ec2.create_tags,
                     Resources=[image_id], Tags=tag_list(ami_tags))
            snapshots = state["snapshots"].get(region, [])
            if snapshot_tags and snapshots:
                state.ui.say(f"Tagging snapshots in {region}: {', '.join(snapshots)}")
                call(f"tagging snapshots {', '.join(snapshots)} ({region})", ec2.create_tags,
                     Resources=snapshots, Tags=tag_list(snapshot_tags))
        return CONTINUE
