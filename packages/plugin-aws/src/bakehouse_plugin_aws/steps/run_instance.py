"""Launch the source instance (on demand)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from bakehouse.sdk import (
    CONTINUE,
    Action,
    JournalEntry,
    StateBag,
    Step,
)

from bakehouse_plugin_aws.config import AmazonEBSConfig
from bakehouse_plugin_aws.ec2 import (
    AwsError,
    call,
    tag_list,
    wait_until,
)
from bakehouse_plugin_aws.resources import (
    INSTANCE_TOKEN_TAG,
    KIND_INSTANCE,
    OWNER_TAG,
    terminate_instances,
)
from bakehouse_plugin_aws.steps._common import (
    config_of,
    describe_instance,
    journal_of,
    record,
    run_id_of,
)


class StepRunSourceInstance(Step):
    """Launch the source instance (on demand, RunInstances) and wait until it runs."""

    name = "run source instance"

    def __init__(self) -> None:
        self.instance_id = ""
        self.entries: list[JournalEntry] = []

    def run(self, state: StateBag) -> Action:
        config = config_of(state)
        token = uuid.uuid4().hex
        params = instance_parameters(state, token)
        params.update(MinCount=1, MaxCount=1, ClientToken=token,
                      InstanceInitiatedShutdownBehavior=config.shutdown_behavior)
        # Packer's default for on-demand instances: no open capacity reservation is used
        params.setdefault("CapacityReservationSpecification", {"CapacityReservationPreference": "none"})
        state.ui.say("Launching a source AWS instance...")
        # Journal first (by the token tag): a kill between RunInstances and the
        # next line still leaves a findable record.
        self.entries.append(record(state, KIND_INSTANCE, token, config.region))
        response = launch_call(state, "launching the source instance", state["ec2"].run_instances, **params)
        self.launched(state, response["Instances"][0]["InstanceId"])
        return CONTINUE

    def launched(self, state: StateBag, instance_id: str) -> None:
        """Record the new instance and wait until it runs."""
        config = config_of(state)
        ec2 = state["ec2"]
        self.instance_id = instance_id
        self.entries.append(record(state, KIND_INSTANCE, instance_id, config.region))
        state.ui.message(f"Instance ID: {instance_id}")
        state["generated"]["ID"] = instance_id
        state.ui.say(f"Waiting for instance ({instance_id}) to become ready...")
        wait_until(state.ctx, config.aws_polling, f"instance {instance_id}", "running",
                   lambda: describe_instance(ec2, instance_id)["State"]["Name"],
                   failed_states=("terminated", "shutting-down", "stopped"))
        state["instance"] = describe_instance(ec2, instance_id)

    def cleanup(self, state: StateBag) -> None:
        if not self.instance_id:
            # RunInstances may have succeeded without us learning the id.
            if self.entries:
                from bakehouse_plugin_aws.resources import instance_ids_by_token

                ids = instance_ids_by_token(state["ec2"], self.entries[0].resource_id, run_id_of(state))
                terminate_instances(state["ec2"], ids, config_of(state).aws_polling)
        else:
            state.ui.say("Terminating the source AWS instance...")
            terminate_instances(state["ec2"], [self.instance_id], config_of(state).aws_polling)
        for entry in self.entries:
            journal_of(state).forget(entry)


def launch_call(state: StateBag, what: str, fn: Callable[..., Any], **params: Any) -> Any:
    """RunInstances or CreateFleet, retried while EC2 does not know a just-made
    instance profile yet (IAM is eventually consistent), as Packer does."""
    for attempt in range(10):
        try:
            return call(what, fn, **params)
        except AwsError as exc:
            if "Invalid IAM Instance Profile" not in str(exc) or attempt == 9:
                raise
            state.ui.message("The instance profile is not visible to EC2 yet: retrying...")
            state.ctx.wait(min(30.0, 0.5 * (attempt + 1)))
            state.ctx.check()
    raise AssertionError("unreachable")


def instance_parameters(state: StateBag, token: str) -> dict[str, Any]:
    """What the source instance is, in RunInstances' terms (a Spot build puts
    the same into its launch template): image, type, key, user data, network,
    block devices, run options, and its tags (the run tags, the run's
    ownership tag and ``token``, by which a leftover is found)."""
    config = config_of(state)
    run_tags = config.merged_tags("run")
    run_tags.setdefault("Name", "Bakehouse Builder")
    instance_tags = {**run_tags, INSTANCE_TOKEN_TAG: token, OWNER_TAG: run_id_of(state)}
    params: dict[str, Any] = {
        "ImageId": state["source_image"]["ImageId"],
        # the run tags go on the network interface too, as in Packer
        "TagSpecifications": [{"ResourceType": "instance", "Tags": tag_list(instance_tags)},
                              {"ResourceType": "network-interface", "Tags": tag_list(run_tags)}],
    }
    if config.instance_type:
        params["InstanceType"] = config.instance_type
    volume_tags = config.merged_tags("run_volume")
    if volume_tags:
        params["TagSpecifications"].append({"ResourceType": "volume", "Tags": tag_list(volume_tags)})
    params.update(run_instance_options(config))
    if state.get("key_pair_name"):
        params["KeyName"] = state["key_pair_name"]
    user_data = config.user_data
    if config.user_data_file:
        with open(config.user_data_file, encoding="utf-8") as fh:
            user_data = fh.read()
    if user_data:
        params["UserData"] = user_data
    if state.get("iam_instance_profile"):
        params["IamInstanceProfile"] = {"Name": state["iam_instance_profile"]}
    if config.ebs_optimized:
        params["EbsOptimized"] = True
    mappings = launch_mappings(config)
    if mappings:
        params["BlockDeviceMappings"] = mappings
    if state.get("availability_zone"):
        params.setdefault("Placement", {})["AvailabilityZone"] = state["availability_zone"]
    groups = state.get("security_group_ids", [])
    if config.associate_public_ip_address is not None:
        interface: dict[str, Any] = {
            "DeviceIndex": 0,
            "AssociatePublicIpAddress": config.associate_public_ip_address,
            "DeleteOnTermination": True,
            "Groups": groups,
        }
        if state.get("subnet_id"):
            interface["SubnetId"] = state["subnet_id"]
        params["NetworkInterfaces"] = [interface]
    else:
        if groups:
            params["SecurityGroupIds"] = groups
        if state.get("subnet_id"):
            params["SubnetId"] = state["subnet_id"]
    return params


def run_instance_options(config: AmazonEBSConfig) -> dict[str, Any]:
    """RunInstances parameters of the run options (metadata, placement,
    capacity reservation, licenses, credits, enclaves)."""
    params: dict[str, Any] = {}
    params["MetadataOptions"] = config.metadata_options.to_api()
    placement: dict[str, Any] = {}
    if config.tenancy_value():
        placement["Tenancy"] = config.tenancy_value()
    if config.placement is not None:
        if config.placement.host_resource_group_arn:
            placement["HostResourceGroupArn"] = config.placement.host_resource_group_arn
        if config.placement.host_id:
            placement["HostId"] = config.placement.host_id
    if placement:
        params["Placement"] = placement
    if config.capacity_reservation_id or config.capacity_reservation_group_arn:
        target: dict[str, str] = {}
        if config.capacity_reservation_id:
            target["CapacityReservationId"] = config.capacity_reservation_id
        else:
            target["CapacityReservationResourceGroupArn"] = config.capacity_reservation_group_arn
        params["CapacityReservationSpecification"] = {"CapacityReservationTarget": target}
    elif config.capacity_reservation_preference:
        params["CapacityReservationSpecification"] = {
            "CapacityReservationPreference": config.capacity_reservation_preference}
    arns = [arn for spec in config.license_specifications for arn in spec.arns()]
    if arns:
        params["LicenseSpecifications"] = [{"LicenseConfigurationArn": arn} for arn in arns]
    if config.cpu_credits():
        params["CreditSpecification"] = {"CpuCredits": config.cpu_credits()}
    if config.enable_nitro_enclave:
        params["EnclaveOptions"] = {"Enabled": True}
    return params


def launch_mappings(config: AmazonEBSConfig) -> list[dict[str, object]]:
    """``launch_block_device_mappings``, plus with ``no_ephemeral`` a NoDevice
    entry for every ephemeral drive name xvdca-xvdcz the user did not map
    (Packer's rule: where Windows instances get their ephemeral drives)."""
    mappings = [m.to_api() for m in config.launch_block_device_mappings]
    if config.no_ephemeral:
        used = {str(m["DeviceName"]) for m in mappings}
        for letter in "abcdefghijklmnopqrstuvwxyz":
            device = f"xvdc{letter}"
            if device not in used:
                mappings.append({"DeviceName": device, "NoDevice": ""})
    return mappings
