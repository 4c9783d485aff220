"""Stop the instance before imaging."""

from __future__ import annotations

from bakehouse.sdk import (
    CONTINUE,
    Action,
    StateBag,
    Step,
)

from bakehouse_plugin_aws.ec2 import (
    call,
    wait_until,
)
from bakehouse_plugin_aws.steps._common import (
    config_of,
    describe_instance,
)


class StepStopInstance(Step):
    """Stop the instance before imaging (unless ``disable_stop_instance``)."""

    name = "stop instance"

    def run(self, state: StateBag) -> Action:
        config = config_of(state)
        instance_id = state["instance"]["InstanceId"]
        if config.disable_stop_instance:
            state.ui.say("Automatic instance stop disabled. Please stop instance manually.")
            return CONTINUE
        ec2 = state["ec2"]
        state.ui.say("Stopping the source instance...")
        call(f"stopping instance {instance_id}", ec2.stop_instances, InstanceIds=[instance_id])
        state.ui.say("Waiting for the instance to stop...")
        wait_until(state.ctx, config.aws_polling, f"instance {instance_id}", "stopped",
                   lambda: describe_instance(ec2, instance_id)["State"]["Name"],
                   failed_states=("terminated",))
        return CONTINUE
