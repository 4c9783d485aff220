"""Resolve VPC, subnet and availability zone."""

from __future__ import annotations

import random

from bakehouse.sdk import (
    CONTINUE,
    Action,
    StateBag,
    Step,
)

from bakehouse_plugin_aws.ec2 import (
    AwsError,
    call,
    filters_to_api,
)
from bakehouse_plugin_aws.steps._common import (
    config_of,
)


class StepNetworkInfo(Step):
    """Resolve VPC, subnet and availability zone from ids or filters."""

    name = "network info"

    def run(self, state: StateBag) -> Action:
        config = config_of(state)
        ec2 = state["ec2"]
        vpc_id, subnet_id, zone = config.vpc_id, config.subnet_id, config.availability_zone
        if not vpc_id and config.vpc_filter and config.vpc_filter.filters:
            vpcs = call("looking up the VPC", ec2.describe_vpcs,
                        Filters=filters_to_api(config.vpc_filter.filters)).get("Vpcs", [])
            if len(vpcs) != 1:
                raise AwsError(f"Exactly one VPC should match vpc_filter, but {len(vpcs)} did")
            vpc_id = vpcs[0]["VpcId"]
        if config.subnet_filter and config.subnet_filter.filters:
            filters = filters_to_api(config.subnet_filter.filters)
            if vpc_id:
                filters.append({"Name": "vpc-id", "Values": [vpc_id]})
            subnets = call("looking up the subnet", ec2.describe_subnets, Filters=filters).get("Subnets", [])
            if not subnets:
                raise AwsError("No subnet matches subnet_filter")
            if len(subnets) > 1 and not (config.subnet_filter.most_free or config.subnet_filter.random):
                raise AwsError(
                    f"Exactly one subnet should match the filter, but {len(subnets)} subnets were "
                    "found. Either change the filter or set most_free or random."
                )
            if config.subnet_filter.random:
                chosen = random.choice(subnets)
            else:
                chosen = max(subnets, key=lambda s: (s.get("AvailableIpAddressCount", 0), s["SubnetId"]))
            subnet_id = chosen["SubnetId"]
            state.ui.message(f"Found Subnet ID: {subnet_id}")
        if subnet_id:
            subnets = call(f"describing subnet {subnet_id}", ec2.describe_subnets,
                           SubnetIds=[subnet_id]).get("Subnets", [])
            if not subnets:
                raise AwsError(f"subnet {subnet_id} not found")
            vpc_id = vpc_id or subnets[0]["VpcId"]
            zone = zone or subnets[0].get("AvailabilityZone", "")
        if not vpc_id:
            vpcs = call("looking up the default VPC", ec2.describe_vpcs,
                        Filters=[{"Name": "isDefault", "Values": ["true"]}]).get("Vpcs", [])
            vpc_id = vpcs[0]["VpcId"] if vpcs else ""
        state.update(vpc_id=vpc_id, subnet_id=subnet_id, availability_zone=zone)
        return CONTINUE
