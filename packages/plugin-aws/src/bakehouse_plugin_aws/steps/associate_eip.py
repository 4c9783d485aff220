"""``elastic_ip_allocation_id``: the user's Elastic IP on the build instance."""

from __future__ import annotations

from bakehouse.sdk import CONTINUE, Action, StateBag, Step

from bakehouse_plugin_aws.ec2 import call
from bakehouse_plugin_aws.steps._common import config_of, describe_instance


class StepAssociateEIP(Step):
    """Associate the Elastic IP with the instance right after launch, so the
    connection goes to it (the instance is described again: its public IP is
    now the EIP's). The cleanup disassociates it; the address is the user's
    and is never released (Packer's StepAssociateEIP). A run that dies
    leaves nothing to journal: terminating the instance ends the association."""

    name = "associate elastic IP"

    def __init__(self) -> None:
        self.association_id = ""

    def run(self, state: StateBag) -> Action:
        allocation = config_of(state).elastic_ip_allocation_id
        if not allocation:
            return CONTINUE
        ec2 = state["ec2"]
        instance_id = state["instance"]["InstanceId"]
        state.ui.say(f"Associating Elastic IP {allocation} with instance {instance_id}...")
        response = call(f"associating Elastic IP {allocation} with instance {instance_id}",
                        ec2.associate_address, AllocationId=allocation, InstanceId=instance_id)
        self.association_id = str(response.get("AssociationId", ""))
        state.ui.message(f"EIP associated (association ID: {self.association_id})")
        state["instance"] = describe_instance(ec2, instance_id)
        return CONTINUE

    def cleanup(self, state: StateBag) -> None:
        if not self.association_id:
            return
        state.ui.say(f"Disassociating Elastic IP (association ID: {self.association_id})...")
        call(f"disassociating Elastic IP association {self.association_id}", state["ec2"].disassociate_address,
             AssociationId=self.association_id)
