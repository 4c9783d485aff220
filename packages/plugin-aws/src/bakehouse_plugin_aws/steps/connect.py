"""Connect the communicator to the instance."""

from __future__ import annotations

from typing import Any

from bakehouse.sdk import (
    CONTINUE,
    Action,
    StateBag,
    Step,
)
from bakehouse.sdk.ssh import SSHCommunicator, connect_ssh

from bakehouse_plugin_aws.ec2 import (
    AwsError,
)
from bakehouse_plugin_aws.steps._common import (
    config_of,
)


def instance_address(instance: dict[str, Any], interface: str) -> str:
    """The address to connect to, per ``ssh_interface``. Packer's default when
    empty: in a VPC the public IP, else the private IP; outside one the public
    DNS name (then the addresses)."""
    in_vpc = bool(instance.get("VpcId"))
    fields = {
        "public_ip": ["PublicIpAddress"],
        "private_ip": ["PrivateIpAddress"],
        "public_dns": ["PublicDnsName"],
        "private_dns": ["PrivateDnsName"],
        "ipv6": ["Ipv6Address"],
        "": (["PublicIpAddress", "PrivateIpAddress"] if in_vpc
             else ["PublicDnsName", "PublicIpAddress", "PrivateIpAddress"]),
    }[interface]
    for name in fields:
        if instance.get(name):
            return str(instance[name])
    if interface == "ipv6":
        for interface_info in instance.get("NetworkInterfaces", []):
            for address in interface_info.get("Ipv6Addresses", []):
                if address.get("Ipv6Address"):
                    return f"{address['Ipv6Address']}"
    return ""


class StepConnect(Step):
    """Connect the communicator (SSH) to the instance."""

    name = "connect"

    def __init__(self) -> None:
        self.communicator: SSHCommunicator | None = None

    def run(self, state: StateBag) -> Action:
        config = config_of(state)
        generated = state["generated"]
        generated["ConnType"] = config.communicator
        if config.communicator == "none":
            state.ui.say("Communicator is 'none': not connecting")
            state["communicator"] = None
            return CONTINUE
        host = config.ssh_host or instance_address(state["instance"], config.ssh_interface)
        if not host:
            raise AwsError(
                f"instance {state['instance']['InstanceId']} has no address for ssh_interface "
                f"{config.ssh_interface or '(default)'!r}; set ssh_interface or ssh_host"
            )
        state.ui.say(f"Using SSH communicator to connect: {host}")
        self.communicator = connect_ssh(config, host, state.ctx, state.ui,
                                        private_key_pem=state.get("private_key_pem", ""))
        state["communicator"] = self.communicator
        public_key = ""
        if state.get("private_key_pem"):
            from bakehouse.sdk.ssh import load_private_key

            key = load_private_key(state["private_key_pem"])
            public_key = f"{key.get_name()} {key.get_base64()}"
        generated.update(
            Host=host,
            Port=config.ssh_port,
            User=config.ssh_username,
            Password=config.ssh_password,
            SSHPrivateKey=state.get("private_key_pem", ""),
            SSHPublicKey=public_key,
        )
        return CONTINUE

    def cleanup(self, state: StateBag) -> None:
        if self.communicator is not None:
            self.communicator.close()
