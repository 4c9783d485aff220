"""Launch the source instance as a Spot instance, as Packer does: a temporary
launch template describing the instance (with a Spot market option), and an
``instant`` EC2 fleet of one Spot instance made from it (one override per
entry of ``spot_instance_types``)."""

from __future__ import annotations

import base64
import uuid
from typing import Any

from bakehouse.sdk import CONTINUE, Action, JournalEntry, StateBag

from bakehouse_plugin_aws.ec2 import AwsError, call, tag_list
from bakehouse_plugin_aws.resources import (
    KIND_INSTANCE,
    KIND_LAUNCH_TEMPLATE,
    cancel_spot_requests,
    clean_launch_template,
    delete_launch_template,
    spot_request_ids,
)
from bakehouse_plugin_aws.steps._common import config_of, journal_of, record, tag_specifications
from bakehouse_plugin_aws.steps.run_instance import (
    StepRunSourceInstance,
    instance_parameters,
    launch_call,
)

#: Prefix of the temporary launch templates' names.
LAUNCH_TEMPLATE_PREFIX = "bakehouse-fleet-launch-template-"


class StepRunSpotInstance(StepRunSourceInstance):
    """A Spot source instance through a temporary launch template and an
    instant fleet; the cleanup terminates the instance (its one-time Spot
    request closes with it) and deletes the launch template."""

    name = "run spot instance"

    def __init__(self) -> None:
        super().__init__()
        self.template_id = ""
        self.template_entry: JournalEntry | None = None
        self.spot_requests: list[str] = []

    def run(self, state: StateBag) -> Action:
        config = config_of(state)
        ec2 = state["ec2"]
        token = uuid.uuid4().hex
        data = launch_template_data(instance_parameters(state, token), config.spot_price.strip())
        name = LAUNCH_TEMPLATE_PREFIX + uuid.uuid4().hex
        state.ui.say(f"Creating a Spot fleet launch template: {name}")
        self.template_entry = record(state, KIND_LAUNCH_TEMPLATE, name, config.region)
        created = call(f"creating launch template {name}", ec2.create_launch_template,
                       LaunchTemplateName=name, LaunchTemplateData=data,
                       **tag_specifications(state, "launch-template", config.merged_tags("spot")))
        # Only now is the template ours to delete.
        self.template_id = created["LaunchTemplate"]["LaunchTemplateId"]

        template_config: dict[str, Any] = {
            "LaunchTemplateSpecification": {"LaunchTemplateId": self.template_id, "Version": "1"},
        }
        if config.spot_instance_types:
            template_config["Overrides"] = [{"InstanceType": t} for t in config.spot_instance_types]
        fleet: dict[str, Any] = {
            "Type": "instant",
            "TargetCapacitySpecification": {"TotalTargetCapacity": 1,
                                            "DefaultTargetCapacityType": "spot"},
            "LaunchTemplateConfigs": [template_config],
            "ReplaceUnhealthyInstances": False,
            **tag_specifications(state, "fleet", config.merged_tags("fleet")),
        }
        if config.spot_allocation_strategy:
            fleet["SpotOptions"] = {"AllocationStrategy": config.spot_allocation_strategy}
        price = config.spot_price.strip()
        state.ui.say("Launching a spot AWS instance "
                     + ("(up to the on-demand price)..." if price == "auto" else f"(up to ${price}/h)..."))
        # Journal first (by the token tag), as for an on-demand instance.
        self.entries.append(record(state, KIND_INSTANCE, token, config.region))
        self.launched(state, self._fleet_instance(state, fleet))
        self.spot_requests = spot_request_ids(ec2, state["instance"])
        spot_tags = config.merged_tags("spot")
        if spot_tags and self.spot_requests:
            state.ui.say(f"Tagging spot request {', '.join(self.spot_requests)}")
            call(f"tagging spot request {', '.join(self.spot_requests)}", ec2.create_tags,
                 Resources=self.spot_requests, Tags=tag_list(spot_tags))
        return CONTINUE

    def _fleet_instance(self, state: StateBag, fleet: dict[str, Any]) -> str:
        """CreateFleet until it launches the instance: an instant fleet without
        Spot capacity (InsufficientInstanceCapacity) is asked again, as Packer
        does, up to 11 times with a growing pause (aws_polling.delay_seconds
        times the attempt, at most 30 s)."""
        polling = config_of(state).aws_polling
        tries = 11
        for attempt in range(1, tries + 1):
            response = launch_call(state, "launching the spot instance (CreateFleet)",
                                   state["ec2"].create_fleet, **fleet)
            ids = [i for item in response.get("Instances", []) for i in item.get("InstanceIds", [])]
            if ids:
                return str(ids[0])
            errors = response.get("Errors", [])
            codes = {e.get("ErrorCode") for e in errors}
            if "InsufficientInstanceCapacity" not in codes or attempt == tries:
                described = "; ".join(f"{e.get('ErrorCode', '?')}: {e.get('ErrorMessage', '')}"
                                      for e in errors) or "no instance and no error"
                raise AwsError(f"the EC2 fleet {response.get('FleetId', '')} launched no Spot "
                               f"instance ({attempt} attempts): {described}")
            state.ui.message(f"No Spot capacity yet (InsufficientInstanceCapacity): asking again "
                             f"({attempt}/{tries - 1})...")
            state.ctx.wait(min(30.0, polling.delay_seconds * attempt))
            state.ctx.check()
        raise AssertionError("unreachable")

    def cleanup(self, state: StateBag) -> None:
        super().cleanup(state)
        ec2 = state["ec2"]
        if self.spot_requests:
            cancel_spot_requests(ec2, self.spot_requests)
        if self.template_id:
            state.ui.say(f"Deleting the Spot fleet launch template {self.template_id}")
            delete_launch_template(ec2, self.template_id)
        elif self.template_entry is not None:
            # CreateLaunchTemplate may have succeeded without us learning the id:
            # found by name, deleted only if it carries this run's tag.
            clean_launch_template(self.template_entry)
        if self.template_entry is not None:
            journal_of(state).forget(self.template_entry)


def launch_template_data(params: dict[str, Any], spot_price: str) -> dict[str, Any]:
    """RunInstances parameters as launch template data, as Packer makes it:
    a Spot market option capped at ``spot_price`` (no cap with "auto": EC2
    caps at the on-demand price), user data in base64 (RunInstances takes it
    as text), and the subnet on the network interface."""
    data = dict(params)
    spot_options = {} if spot_price == "auto" else {"MaxPrice": spot_price}
    data["InstanceMarketOptions"] = {"MarketType": "spot", "SpotOptions": spot_options}
    if "UserData" in data:
        data["UserData"] = base64.b64encode(str(data["UserData"]).encode()).decode()
    subnet = data.pop("SubnetId", "")
    if subnet:  # (with associate_public_ip_address the interface holds it already)
        data["NetworkInterfaces"] = [{"DeviceIndex": 0, "SubnetId": subnet, "DeleteOnTermination": True,
                                      "Groups": data.pop("SecurityGroupIds", [])}]
    return data


__all__ = ["StepRunSpotInstance", "launch_template_data"]
