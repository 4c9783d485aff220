"""The security groups: the user's, or a temporary one."""

from __future__ import annotations

import os
import uuid
from typing import Any

from bakehouse.sdk import (
    CONTINUE,
    Action,
    JournalEntry,
    StateBag,
    Step,
)

from bakehouse_plugin_aws.ec2 import (
    AwsError,
    call,
    filters_to_api,
)
from bakehouse_plugin_aws.resources import (
    KIND_SECURITY_GROUP,
    delete_security_group,
)
from bakehouse_plugin_aws.steps._common import (
    config_of,
    journal_of,
    record,
    tag_specifications,
)


class StepSecurityGroup(Step):
    """The user's security groups, or a temporary one that lets the
    communicator port in from ``temporary_security_group_source_cidrs``."""

    name = "security group"

    def __init__(self) -> None:
        self.group_id = ""
        self.group_name = ""
        self.entry: JournalEntry | None = None

    def run(self, state: StateBag) -> Action:
        config = config_of(state)
        ec2 = state["ec2"]
        ids = list(config.security_group_ids) or ([config.security_group_id] if config.security_group_id else [])
        if config.security_group_filter and config.security_group_filter.filters:
            filters = filters_to_api(config.security_group_filter.filters)
            if state.get("vpc_id"):
                filters.append({"Name": "vpc-id", "Values": [state["vpc_id"]]})
            groups = call("looking up security groups", ec2.describe_security_groups,
                          Filters=filters).get("SecurityGroups", [])
            if not groups:
                raise AwsError("No security group matches security_group_filter")
            ids = [group["GroupId"] for group in groups]
        if ids:
            state["security_group_ids"] = ids
            return CONTINUE
        name = f"bakehouse_{uuid.uuid4().hex}"
        vpc_id = state.get("vpc_id", "")
        state.ui.say("Creating temporary security group for this instance: " + name)
        self.entry = record(state, KIND_SECURITY_GROUP, name, config.region, vpc_id=vpc_id)
        params: dict[str, Any] = {
            "GroupName": name, "Description": "Temporary group for Bakehouse",
            **tag_specifications(state, "security-group", config.merged_tags("run")),
        }
        if vpc_id:
            params["VpcId"] = vpc_id
        self.group_id = call(f"creating security group {name}", ec2.create_security_group, **params)["GroupId"]
        # Only now is the group ours to delete.
        self.group_name = name
        if config.communicator == "ssh":
            # Packer's precedence: explicit CIDRs, else this machine's address, else anyone
            anyone = "::/0" if config.ssh_interface == "ipv6" else "0.0.0.0/0"
            cidrs = config.temporary_security_group_source_cidrs or [anyone]
            if config.temporary_security_group_source_public_ip and not config.temporary_security_group_source_cidrs:
                cidrs = [public_ip_cidr()]
            state.ui.say(f"Authorizing access to port {config.ssh_port} from {cidrs} in the "
                         "temporary security groups...")
            call(
                f"authorizing port {config.ssh_port} in security group {self.group_id}",
                ec2.authorize_security_group_ingress,
                GroupId=self.group_id,
                IpPermissions=[{
                    "IpProtocol": "tcp",
                    "FromPort": config.ssh_port,
                    "ToPort": config.ssh_port,
                    "IpRanges": [{"CidrIp": c} for c in cidrs if ":" not in c],
                    "Ipv6Ranges": [{"CidrIpv6": c} for c in cidrs if ":" in c],
                }],
            )
        state["security_group_ids"] = [self.group_id]
        return CONTINUE

    def cleanup(self, state: StateBag) -> None:
        if not self.group_name:
            return
        state.ui.say("Deleting temporary security group...")
        delete_security_group(state["ec2"], self.group_name, state.get("vpc_id", ""), self.group_id)
        if self.entry is not None:
            journal_of(state).forget(self.entry)


def public_ip_cidr() -> str:
    """This machine's public address as a /32, as Packer learns it from
    checkip.amazonaws.com (``BAKEHOUSE_CHECKIP_URL`` overrides the service)."""
    import ipaddress
    import urllib.request

    url = os.environ.get("BAKEHOUSE_CHECKIP_URL", "https://checkip.amazonaws.com")
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - fixed or user-given URL
            text = response.read(100).decode().strip()
        address = ipaddress.ip_address(text)
    except (OSError, ValueError) as exc:
        raise AwsError(f"temporary_security_group_source_public_ip: cannot learn the public IP "
                       f"from {url}: {exc}") from None
    return f"{address}/{address.max_prefixlen}"
