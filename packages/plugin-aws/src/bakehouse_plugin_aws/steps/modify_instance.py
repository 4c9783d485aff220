"""ENA and SR-IOV on the stopped instance."""

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
from bakehouse_plugin_aws.steps._common import (
    config_of,
)


class StepModifyInstance(Step):
    """``ena_support``/``sriov_support``: set on the stopped instance so the
    AMI made from it carries them (Packer's ModifyEBSBackedInstance)."""

    name = "modify instance"

    def run(self, state: StateBag) -> Action:
        config = config_of(state)
        instance_id = state["instance"]["InstanceId"]
        ec2 = state["ec2"]
        if config.sriov_support:
            state.ui.say("Enabling Enhanced Networking (SR-IOV)...")
            call(f"enabling SR-IOV on instance {instance_id}", ec2.modify_instance_attribute,
                 InstanceId=instance_id, SriovNetSupport={"Value": "simple"})
        if config.ena_support is not None:
            state.ui.say(f"{'Enabling' if config.ena_support else 'Disabling'} Enhanced Networking (ENA)...")
            call(f"setting ENA support on instance {instance_id}", ec2.modify_instance_attribute,
                 InstanceId=instance_id, EnaSupport={"Value": config.ena_support})
        return CONTINUE
