"""The steps of an ``amazon-ebs`` build, in Packer's order.

Each step creates at most one kind of resource and its ``cleanup`` removes
it. Temporary resources are written to the journal *before* they are
created, so ``bakehouse cleanup`` can find them even after ``kill -9``.

State keys: ``config``, ``connection``, ``ec2`` (build region client),
``journal``, ``source_image``, ``vpc_id``, ``subnet_id``,
``availability_zone``, ``key_pair_name``, ``private_key_pem``,
``private_key_path``, ``security_group_ids``, ``instance``, ``communicator``,
``amis`` (region -> AMI id), ``snapshots`` (region -> snapshot ids),
``generated`` (build variables for provisioners).
"""

from __future__ import annotations

import io
import os
import random
import shutil
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bakehouse.sdk import (
    CONTINUE,
    HOOK_CLEANUP_PROVISION,
    HOOK_PROVISION,
    Action,
    Cancelled,
    Context,
    Hook,
    Journal,
    JournalEntry,
    StateBag,
    Step,
)
from bakehouse.sdk.ssh import SSHCommunicator, connect_ssh

from bakehouse_plugin_aws.config import AmazonEBSConfig
from bakehouse_plugin_aws.ec2 import (
    AwsError,
    Connection,
    call,
    filters_to_api,
    tag_list,
    wait_until,
)
from bakehouse_plugin_aws.images import (
    delete_image,
    describe_image,
    find_image,
    image_snapshots,
)
from bakehouse_plugin_aws.resources import (
    INSTANCE_TOKEN_TAG,
    KEY_DIR_PREFIX,
    KIND_IMAGE,
    KIND_INSTANCE,
    KIND_KEY_DIR,
    KIND_KEY_PAIR,
    KIND_SECURITY_GROUP,
    OWNER_TAG,
    delete_key_pair,
    delete_security_group,
    owner_tags,
    tag_specification,
    terminate_instances,
)


def _config(state: StateBag) -> AmazonEBSConfig:
    config: AmazonEBSConfig = state["config"]
    return config


def _journal(state: StateBag) -> Journal:
    journal: Journal = state["journal"]
    return journal


def _connection(state: StateBag) -> Connection:
    connection: Connection = state["connection"]
    return connection


def _failed(state: StateBag) -> bool:
    return bool(state.get("error") is not None or state.get("halted") or state.get("cancelled"))


def _run_id(state: StateBag) -> str:
    return _journal(state).run_id


def _tag_specifications(state: StateBag, resource_type: str, tags: dict[str, str]) -> dict[str, Any]:
    """``TagSpecifications`` for a create call: the user's tags and the run's ownership tag."""
    return {"TagSpecifications": [tag_specification(resource_type, _run_id(state), tag_list(tags))]}


def _record(state: StateBag, kind: str, resource_id: str, region: str, **details: Any) -> JournalEntry:
    return _journal(state).record(
        kind, resource_id, **_connection(state).journal_details(region), **details
    )


class StepPreValidate(Step):
    """Fail before launching anything when the AMI name is taken."""

    name = "pre-validate"

    def run(self, state: StateBag) -> Action:
        config = _config(state)
        if config.skip_create_ami:
            return CONTINUE
        if config.force_deregister:
            state.ui.say("Force Deregister flag found, skipping prevalidating AMI Name")
            return CONTINUE
        state.ui.say(f"Prevalidating AMI Name: {config.ami_name}")
        for region in [config.region, *config.ami_regions]:
            ec2 = state["ec2"] if region == config.region else _connection(state).client(region)
            images = call(
                f"checking whether AMI name {config.ami_name!r} is free in {region}",
                ec2.describe_images,
                Owners=["self"],
                Filters=[{"Name": "name", "Values": [config.ami_name]}],
            ).get("Images", [])
            if images:
                raise AwsError(
                    f"AMI Name: {config.ami_name!r} is used by an existing AMI: "
                    f"{images[0]['ImageId']} in {region} (set force_deregister = true to replace it)"
                )
        return CONTINUE


class StepSourceAMIInfo(Step):
    """Find the source AMI (``source_ami`` and/or ``source_ami_filter``)."""

    name = "source AMI"

    def run(self, state: StateBag) -> Action:
        config = _config(state)
        state.ui.say("Inspecting the source AMI...")
        image = find_image(state["ec2"], config.source_ami_filter, config.source_ami)
        state.ui.message(f"Found Image ID: {image['ImageId']}")
        state["source_image"] = image
        state["generated"].update(
            SourceAMI=image["ImageId"],
            SourceAMIName=image.get("Name", ""),
            SourceAMIDescription=image.get("Description", ""),
            SourceAMIOwner=image.get("OwnerId", ""),
            SourceAMIOwnerName=image.get("ImageOwnerAlias", ""),
            SourceAMICreationDate=image.get("CreationDate", ""),
        )
        return CONTINUE


class StepNetworkInfo(Step):
    """Resolve VPC, subnet and availability zone from ids or filters."""

    name = "network info"

    def run(self, state: StateBag) -> Action:
        config = _config(state)
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


class StepKeyPair(Step):
    """The user's key (``ssh_private_key_file``) or a temporary key pair whose
    private key lives in a 0600 file in a 0700 temporary directory."""

    name = "key pair"

    def __init__(self) -> None:
        self.key_name = ""
        self.key_dir = ""
        self.entries: list[JournalEntry] = []

    def run(self, state: StateBag) -> Action:
        config = _config(state)
        state["key_pair_name"] = config.ssh_keypair_name
        if config.ssh_private_key_file:
            state.ui.say(f"Using existing SSH private key {config.ssh_private_key_file}")
            with open(os.path.expanduser(config.ssh_private_key_file), encoding="utf-8") as fh:
                state["private_key_pem"] = fh.read()
            return CONTINUE
        if not config.temporary_key_pair_wanted():
            return CONTINUE
        name = config.temporary_key_pair_name or f"bakehouse_{uuid.uuid4().hex}"
        ec2 = state["ec2"]
        state.ui.say(f"Creating temporary keypair: {name}")
        self.entries.append(_record(state, KIND_KEY_PAIR, name, config.region))
        tags = _tag_specifications(state, "key-pair", config.merged_tags("run"))
        try:
            if config.temporary_key_pair_bits:
                # EC2 makes 2048-bit keys only: make the key here, import its public half.
                import paramiko

                key = paramiko.RSAKey.generate(config.temporary_key_pair_bits)
                buffer = io.StringIO()
                key.write_private_key(buffer)
                material: str = buffer.getvalue()
                call(f"importing key pair {name}", ec2.import_key_pair, KeyName=name,
                     PublicKeyMaterial=f"{key.get_name()} {key.get_base64()}".encode(), **tags)
            else:
                created = call(f"creating key pair {name}", ec2.create_key_pair,
                               KeyName=name, KeyType=config.temporary_key_pair_type, **tags)
                material = created["KeyMaterial"]
        except AwsError as exc:
            if "Duplicate" in str(exc):
                raise AwsError(
                    f"a key pair named {name!r} already exists: temporary_key_pair_name must name "
                    "a key pair that does not exist yet (Bakehouse creates it and deletes it "
                    "afterwards; it never touches one it did not create)") from None
            raise
        # Only now is the key pair ours to delete.
        self.key_name = name
        # Never in a log line of this plugin (relayed to the core's log).
        from bakehouse.log import add_sensitive

        add_sensitive([material])
        # mkdtemp makes the directory 0700; the key file is created 0600 before
        # any byte is written, so the key is never readable by others.
        self.key_dir = tempfile.mkdtemp(prefix=KEY_DIR_PREFIX)
        self.entries.append(_journal(state).record(KIND_KEY_DIR, self.key_dir))
        path = os.path.join(self.key_dir, f"ec2_{name}.pem")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(material)
        state.update(key_pair_name=name, private_key_pem=material, private_key_path=path)
        state["generated"]["SSHPrivateKeyFile"] = path
        return CONTINUE

    def cleanup(self, state: StateBag) -> None:
        if self.key_dir:
            shutil.rmtree(self.key_dir, ignore_errors=True)
        if self.key_name:
            state.ui.say("Deleting temporary keypair...")
            delete_key_pair(state["ec2"], self.key_name)
        for entry in self.entries:
            _journal(state).forget(entry)


class StepSecurityGroup(Step):
    """The user's security groups, or a temporary one that lets the
    communicator port in from ``temporary_security_group_source_cidrs``."""

    name = "security group"

    def __init__(self) -> None:
        self.group_id = ""
        self.group_name = ""
        self.entry: JournalEntry | None = None

    def run(self, state: StateBag) -> Action:
        config = _config(state)
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
        self.entry = _record(state, KIND_SECURITY_GROUP, name, config.region, vpc_id=vpc_id)
        params: dict[str, Any] = {
            "GroupName": name, "Description": "Temporary group for Bakehouse",
            **_tag_specifications(state, "security-group", config.merged_tags("run")),
        }
        if vpc_id:
            params["VpcId"] = vpc_id
        self.group_id = call(f"creating security group {name}", ec2.create_security_group, **params)["GroupId"]
        # Only now is the group ours to delete.
        self.group_name = name
        if config.communicator == "ssh":
            cidrs = config.temporary_security_group_source_cidrs or ["0.0.0.0/0"]
            if config.temporary_security_group_source_public_ip:
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
                    "IpRanges": [{"CidrIp": cidr} for cidr in cidrs],
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
            _journal(state).forget(self.entry)


class StepRunSourceInstance(Step):
    """Launch the source instance and wait until it runs."""

    name = "run source instance"

    def __init__(self) -> None:
        self.instance_id = ""
        self.entries: list[JournalEntry] = []

    def run(self, state: StateBag) -> Action:
        config = _config(state)
        ec2 = state["ec2"]
        token = uuid.uuid4().hex
        run_tags = config.merged_tags("run")
        run_tags.setdefault("Name", "Bakehouse Builder")
        instance_tags = {**run_tags, INSTANCE_TOKEN_TAG: token, OWNER_TAG: _run_id(state)}
        params: dict[str, Any] = {
            "ImageId": state["source_image"]["ImageId"],
            "InstanceType": config.instance_type,
            "MinCount": 1,
            "MaxCount": 1,
            "ClientToken": token,
            "InstanceInitiatedShutdownBehavior": config.shutdown_behavior,
            "TagSpecifications": [{"ResourceType": "instance", "Tags": tag_list(instance_tags)}],
        }
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
        if config.iam_instance_profile:
            params["IamInstanceProfile"] = {"Name": config.iam_instance_profile}
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
        state.ui.say("Launching a source AWS instance...")
        # Journal first (by the token tag): a kill between RunInstances and the
        # next line still leaves a findable record.
        self.entries.append(_record(state, KIND_INSTANCE, token, config.region))
        response = call("launching the source instance", ec2.run_instances, **params)
        self.instance_id = response["Instances"][0]["InstanceId"]
        self.entries.append(_record(state, KIND_INSTANCE, self.instance_id, config.region))
        state.ui.message(f"Instance ID: {self.instance_id}")
        state["generated"]["ID"] = self.instance_id
        state.ui.say(f"Waiting for instance ({self.instance_id}) to become ready...")
        wait_until(state.ctx, config.aws_polling, f"instance {self.instance_id}", "running",
                   lambda: _describe_instance(ec2, self.instance_id)["State"]["Name"],
                   failed_states=("terminated", "shutting-down", "stopped"))
        state["instance"] = _describe_instance(ec2, self.instance_id)
        return CONTINUE

    def cleanup(self, state: StateBag) -> None:
        if not self.instance_id:
            # RunInstances may have succeeded without us learning the id.
            if self.entries:
                from bakehouse_plugin_aws.resources import instance_ids_by_token

                ids = instance_ids_by_token(state["ec2"], self.entries[0].resource_id, _run_id(state))
                terminate_instances(state["ec2"], ids, _config(state).aws_polling)
        else:
            state.ui.say("Terminating the source AWS instance...")
            terminate_instances(state["ec2"], [self.instance_id], _config(state).aws_polling)
        for entry in self.entries:
            _journal(state).forget(entry)


def run_instance_options(config: AmazonEBSConfig) -> dict[str, Any]:
    """RunInstances parameters of the run options (metadata, placement,
    capacity reservation, licenses, credits, enclaves)."""
    params: dict[str, Any] = {}
    if config.metadata_options is not None:
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
    if config.enable_unlimited_credits or config.enable_t2_unlimited:
        params["CreditSpecification"] = {"CpuCredits": "unlimited"}
    if config.enable_nitro_enclave:
        params["EnclaveOptions"] = {"Enabled": True}
    return params


def launch_mappings(config: AmazonEBSConfig) -> list[dict[str, object]]:
    """``launch_block_device_mappings``, plus with ``no_ephemeral`` a NoDevice
    entry for every /dev/sd[b-z] the user did not map (Packer's rule)."""
    mappings = [m.to_api() for m in config.launch_block_device_mappings]
    if config.no_ephemeral:
        used = {str(m["DeviceName"]) for m in mappings}
        for letter in "bcdefghijklmnopqrstuvwxyz":
            device = f"/dev/sd{letter}"
            if device not in used:
                mappings.append({"DeviceName": device, "NoDevice": ""})
    return mappings


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


def _describe_instance(ec2: Any, instance_id: str) -> dict[str, Any]:
    response = call(f"describing instance {instance_id}", ec2.describe_instances,
                    InstanceIds=[instance_id])
    for reservation in response.get("Reservations", []):
        for instance in reservation.get("Instances", []):
            return dict(instance)
    raise AwsError(f"instance {instance_id} not found")


def instance_address(instance: dict[str, Any], interface: str) -> str:
    """The address to connect to, per ``ssh_interface`` (Packer's default
    preference when empty: public DNS, public IP, private IP)."""
    fields = {
        "public_ip": ["PublicIpAddress"],
        "private_ip": ["PrivateIpAddress"],
        "public_dns": ["PublicDnsName"],
        "private_dns": ["PrivateDnsName"],
        "ipv6": ["Ipv6Address"],
        "": ["PublicDnsName", "PublicIpAddress", "PrivateIpAddress"],
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
        config = _config(state)
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


class StepProvision(Step):
    """Run the provisioners through the core's hook."""

    name = "provision"
    provisioning = True

    def __init__(self) -> None:
        self.ran = False

    def run(self, state: StateBag) -> Action:
        hook: Hook = state["hook"]
        state.ui.say("Provisioning with the provision hook...")
        self.ran = True
        hook.run(HOOK_PROVISION, state.ui, state.get("communicator"), dict(state["generated"]), state.ctx)
        return CONTINUE

    def cleanup(self, state: StateBag) -> None:
        # Packer runs the error-cleanup-provisioner only when the build failed.
        if not self.ran or not (state.get("error") is not None or state.get("halted")):
            return
        hook: Hook = state["hook"]
        try:
            hook.run(HOOK_CLEANUP_PROVISION, state.ui, state.get("communicator"),
                     dict(state["generated"]), Context())
        except Exception as exc:  # the build already failed; report, keep cleaning
            state.ui.error(f"error-cleanup-provisioner failed: {exc}")


class StepStopInstance(Step):
    """Stop the instance before imaging (unless ``disable_stop_instance``)."""

    name = "stop instance"

    def run(self, state: StateBag) -> Action:
        config = _config(state)
        instance_id = state["instance"]["InstanceId"]
        if config.disable_stop_instance:
            state.ui.say("Automatic instance stop disabled. Please stop instance manually.")
            return CONTINUE
        ec2 = state["ec2"]
        state.ui.say("Stopping the source instance...")
        call(f"stopping instance {instance_id}", ec2.stop_instances, InstanceIds=[instance_id])
        state.ui.say("Waiting for the instance to stop...")
        wait_until(state.ctx, config.aws_polling, f"instance {instance_id}", "stopped",
                   lambda: _describe_instance(ec2, instance_id)["State"]["Name"],
                   failed_states=("terminated",))
        return CONTINUE


class StepModifyInstance(Step):
    """``ena_support``/``sriov_support``: set on the stopped instance so the
    AMI made from it carries them (Packer's ModifyEBSBackedInstance)."""

    name = "modify instance"

    def run(self, state: StateBag) -> Action:
        config = _config(state)
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


class StepDeregisterAMI(Step):
    """With ``force_deregister``: remove existing AMIs of the same name
    (and their snapshots with ``force_delete_snapshot``) in every target region."""

    name = "deregister old AMI"

    def run(self, state: StateBag) -> Action:
        config = _config(state)
        if not config.force_deregister:
            return CONTINUE
        for region in [config.region, *config.ami_regions]:
            ec2 = state["ec2"] if region == config.region else _connection(state).client(region)
            images = call(f"looking up AMIs named {config.ami_name!r} in {region}", ec2.describe_images,
                          Owners=["self"], Filters=[{"Name": "name", "Values": [config.ami_name]}]
                          ).get("Images", [])
            for image in images:
                state.ui.say(f"Deregistered AMI id: {image['ImageId']} ({region})")
                snapshots = delete_image(ec2, image["ImageId"], delete_snapshots=config.force_delete_snapshot)
                if config.force_delete_snapshot:
                    for snapshot in snapshots:
                        state.ui.say(f"Deleted snapshot: {snapshot}")
        return CONTINUE


class _ImageTracker:
    """Journal bookkeeping for AMIs the build makes: recorded by name before
    the create/copy call, by id after, forgotten when the build succeeded,
    deregistered (with snapshots) when it did not."""

    def __init__(self) -> None:
        self.entries: list[JournalEntry] = []
        self.images: dict[str, str] = {}  # region -> AMI id

    def before(self, state: StateBag, region: str) -> None:
        self.entries.append(_record(state, KIND_IMAGE, _config(state).ami_name, region))

    def after(self, state: StateBag, region: str, image_id: str, copied_with: Any = None) -> None:
        self.images[region] = image_id
        self.entries.append(_record(state, KIND_IMAGE, image_id, region))
        if copied_with is not None:
            # CopyImage does not carry tags over: mark the copy as this run's at once.
            call(f"tagging AMI {image_id} ({region})", copied_with.create_tags,
                 Resources=[image_id], Tags=owner_tags(_run_id(state)))

    def cleanup(self, state: StateBag, what: str) -> None:
        if _failed(state):
            for region, image_id in self.images.items():
                state.ui.say(f"Deregistering the {what} AMI {image_id} ({region}) because of "
                             "cancellation or error...")
                ec2 = state["ec2"] if region == _config(state).region else _connection(state).client(region)
                delete_image(ec2, image_id)
            # an AMI whose id we never learnt is found by name
            known = set(self.images)
            for entry in self.entries:
                region = str(entry.details.get("region"))
                if not entry.resource_id.startswith("ami-") and region not in known:
                    from bakehouse_plugin_aws.resources import clean_image

                    clean_image(entry)
        else:
            # The AMIs are the build's result now, no longer temporary: drop the
            # ownership mark so they carry exactly the user's tags.
            for region, image_id in self.images.items():
                ec2 = state["ec2"] if region == _config(state).region else _connection(state).client(region)
                try:
                    ec2.delete_tags(Resources=[image_id], Tags=[{"Key": OWNER_TAG}])
                except Exception as exc:  # cosmetic: never fail a finished build for it
                    state.ui.error(f"Could not remove the tag {OWNER_TAG} from {image_id}: {exc}")
        for entry in self.entries:
            _journal(state).forget(entry)


class StepCreateAMI(Step):
    """Create the AMI from the instance and wait until it is available."""

    name = "create AMI"

    def __init__(self) -> None:
        self.tracker = _ImageTracker()

    def run(self, state: StateBag) -> Action:
        config = _config(state)
        ec2 = state["ec2"]
        instance_id = state["instance"]["InstanceId"]
        state.ui.say(f"Creating AMI {config.ami_name} from instance {instance_id}")
        params: dict[str, Any] = {
            "InstanceId": instance_id, "Name": config.ami_name,
            "TagSpecifications": [tag_specification("image", _run_id(state))],
        }
        if config.ami_description:
            params["Description"] = config.ami_description
        if config.ami_block_device_mappings:
            params["BlockDeviceMappings"] = [m.to_api() for m in config.ami_block_device_mappings]
        self.tracker.before(state, config.region)
        image_id = call(f"creating AMI {config.ami_name!r} from instance {instance_id}",
                        ec2.create_image, **params)["ImageId"]
        self.tracker.after(state, config.region, image_id)
        state.ui.message(f"AMI: {image_id}")
        state.ui.say("Waiting for AMI to become ready...")
        _wait_image(state, ec2, image_id, config.region)
        state["amis"] = {config.region: image_id}
        return CONTINUE

    def cleanup(self, state: StateBag) -> None:
        self.tracker.cleanup(state, "created")


def _wait_image(state: StateBag, ec2: Any, image_id: str, region: str) -> dict[str, Any]:
    def probe() -> str:
        image = describe_image(ec2, image_id)
        return str(image.get("State", "pending")) if image else "pending"

    wait_until(state.ctx, _config(state).aws_polling, f"AMI {image_id} ({region})", "available",
               probe, failed_states=("failed", "error", "deregistered"))
    image = describe_image(ec2, image_id)
    if image is None:
        raise AwsError(f"AMI {image_id} ({region}) disappeared")
    return image


class StepEncryptedCopy(Step):
    """With ``encrypt_boot``: replace the AMI by an encrypted copy in the build region."""

    name = "encrypted copy"

    def __init__(self) -> None:
        self.tracker = _ImageTracker()

    def run(self, state: StateBag) -> Action:
        config = _config(state)
        if not config.encrypt_boot:
            return CONTINUE
        ec2 = state["ec2"]
        region = config.region
        source = state["amis"][region]
        state.ui.say(f"Creating an encrypted copy of AMI {source}...")
        params: dict[str, Any] = {"SourceRegion": region, "SourceImageId": source,
                                  "Name": config.ami_name, "Encrypted": True}
        kms = config.region_kms_key_ids.get(region) or config.kms_key_id
        if kms:
            params["KmsKeyId"] = kms
        if config.ami_description:
            params["Description"] = config.ami_description
        self.tracker.before(state, region)
        copy_id = call(f"copying AMI {source} encrypted", ec2.copy_image, **params)["ImageId"]
        self.tracker.after(state, region, copy_id, copied_with=ec2)
        _wait_image(state, ec2, copy_id, region)
        state.ui.say(f"Deregistering unencrypted AMI {source}")
        delete_image(ec2, source)
        state["amis"] = {region: copy_id}
        return CONTINUE

    def cleanup(self, state: StateBag) -> None:
        self.tracker.cleanup(state, "encrypted")


class StepAMIRegionCopy(Step):
    """Copy the AMI to ``ami_regions``, all regions in parallel."""

    name = "copy to regions"

    def __init__(self) -> None:
        self.tracker = _ImageTracker()

    def run(self, state: StateBag) -> Action:
        config = _config(state)
        if not config.ami_regions:
            return CONTINUE
        source_region = config.region
        source_id = state["amis"][source_region]
        state.ui.say(f"Copying/Encrypting AMI ({source_id}) to other regions...")

        def copy(region: str) -> tuple[str, str]:
            ec2 = _connection(state).client(region)
            params: dict[str, Any] = {"SourceRegion": source_region, "SourceImageId": source_id,
                                      "Name": config.ami_name}
            if config.snapshot_copy_duration_minutes:
                params["SnapshotCopyCompletionDurationMinutes"] = config.snapshot_copy_duration_minutes
            if config.ami_description:
                params["Description"] = config.ami_description
            if config.encrypt_boot:
                params["Encrypted"] = True
                kms = config.region_kms_key_ids.get(region)
                if kms:
                    params["KmsKeyId"] = kms
            state.ui.message(f"Copying to: {region}")
            self.tracker.before(state, region)
            copy_id = call(f"copying AMI {source_id} to {region}", ec2.copy_image, **params)["ImageId"]
            self.tracker.after(state, region, copy_id, copied_with=ec2)
            state.ui.message(f"Waiting for AMI ({copy_id}) in region ({region}) to become ready...")
            _wait_image(state, ec2, copy_id, region)
            return region, copy_id

        with ThreadPoolExecutor(max_workers=len(config.ami_regions)) as pool:
            futures = [pool.submit(copy, region) for region in config.ami_regions]
            errors = []
            for future in futures:
                try:
                    region, image_id = future.result()
                    state["amis"][region] = image_id
                except Exception as exc:  # collect every region's failure
                    errors.append(exc)
        if errors:
            cancelled = [e for e in errors if isinstance(e, Cancelled)]
            if cancelled:
                raise cancelled[0]
            raise AwsError("copying the AMI failed: " + "; ".join(str(e) for e in errors))
        if config.skip_save_build_region:
            build_image = state["amis"].pop(source_region)
            state.ui.say(f"Deregistering the AMI {build_image} in the build region {source_region} "
                         "(skip_save_build_region)")
            delete_image(state["ec2"], build_image, delete_snapshots=True)
        return CONTINUE

    def cleanup(self, state: StateBag) -> None:
        self.tracker.cleanup(state, "copied")


class StepSnapshotInfo(Step):
    """Learn the snapshots behind every AMI (for tags and permissions)."""

    name = "snapshot info"

    def run(self, state: StateBag) -> Action:
        snapshots: dict[str, list[str]] = {}
        for region, image_id in state["amis"].items():
            ec2 = state["ec2"] if region == _config(state).region else _connection(state).client(region)
            image = describe_image(ec2, image_id)
            snapshots[region] = image_snapshots(image) if image else []
        state["snapshots"] = snapshots
        return CONTINUE


class StepModifyAMIAttributes(Step):
    """Launch permissions (``ami_users``/``ami_groups``) and snapshot create-volume
    permissions (``snapshot_users``/``snapshot_groups``) in every region."""

    name = "modify AMI attributes"

    def run(self, state: StateBag) -> Action:
        config = _config(state)
        for region, image_id in sorted(state["amis"].items()):
            ec2 = state["ec2"] if region == config.region else _connection(state).client(region)
            _image_options(state, ec2, image_id, region)
            if config.ami_users or config.ami_groups or config.ami_org_arns or config.ami_ou_arns:
                state.ui.say(f"Modifying attributes on AMI ({image_id}) in {region}...")
                add = [{"UserId": user} for user in config.ami_users]
                add += [{"Group": group} for group in config.ami_groups]
                add += [{"OrganizationArn": arn} for arn in config.ami_org_arns]
                add += [{"OrganizationalUnitArn": arn} for arn in config.ami_ou_arns]
                call(f"setting launch permissions of AMI {image_id} ({region})",
                     ec2.modify_image_attribute, ImageId=image_id,
                     LaunchPermission={"Add": add})
            if config.snapshot_users or config.snapshot_groups:
                for snapshot in state["snapshots"].get(region, []):
                    state.ui.say(f"Modifying attributes on snapshot ({snapshot}) in {region}...")
                    params: dict[str, Any] = {"SnapshotId": snapshot,
                                              "Attribute": "createVolumePermission",
                                              "OperationType": "add"}
                    if config.snapshot_users:
                        params["UserIds"] = list(config.snapshot_users)
                    if config.snapshot_groups:
                        params["GroupNames"] = list(config.snapshot_groups)
                    call(f"setting create-volume permissions of snapshot {snapshot} ({region})",
                         ec2.modify_snapshot_attribute, **params)
        return CONTINUE


def _image_options(state: StateBag, ec2: Any, image_id: str, region: str) -> None:
    """Product codes, IMDS support, deprecation time and deregistration
    protection of one AMI (each its own API call, as in Packer)."""
    config = _config(state)
    where = f"AMI {image_id} ({region})"
    if config.ami_product_codes:
        state.ui.say(f"Adding product codes to {where}...")
        call(f"setting product codes of {where}", ec2.modify_image_attribute, ImageId=image_id,
             ProductCodes=list(config.ami_product_codes))
    if config.imds_support:
        state.ui.say(f"Setting IMDS support {config.imds_support} on {where}...")
        call(f"setting IMDS support of {where}", ec2.modify_image_attribute, ImageId=image_id,
             ImdsSupport={"Value": config.imds_support})
    if config.deprecate_at:
        import datetime

        when = datetime.datetime.fromisoformat(config.deprecate_at.replace("Z", "+00:00"))
        state.ui.say(f"Setting the deprecation time of {where} to {config.deprecate_at}...")
        call(f"enabling deprecation of {where}", ec2.enable_image_deprecation, ImageId=image_id,
             DeprecateAt=when)
    protection = config.deregistration_protection
    if protection is not None and protection.enabled:
        state.ui.say(f"Enabling deregistration protection on {where}...")
        call(f"enabling deregistration protection of {where}",
             ec2.enable_image_deregistration_protection, ImageId=image_id,
             WithCooldown=protection.with_cooldown)


class StepCreateTags(Step):
    """``tags`` on the AMIs, ``snapshot_tags`` on their snapshots, every region."""

    name = "create tags"

    def run(self, state: StateBag) -> Action:
        config = _config(state)
        ami_tags, snapshot_tags = config.ami_tags(), config.merged_tags("snapshot")
        if not (ami_tags or snapshot_tags):
            return CONTINUE
        for region, image_id in sorted(state["amis"].items()):
            ec2 = state["ec2"] if region == config.region else _connection(state).client(region)
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


__all__ = [
    "StepAMIRegionCopy",
    "StepConnect",
    "StepCreateAMI",
    "StepCreateTags",
    "StepDeregisterAMI",
    "StepEncryptedCopy",
    "StepKeyPair",
    "StepModifyAMIAttributes",
    "StepModifyInstance",
    "StepNetworkInfo",
    "StepPreValidate",
    "StepProvision",
    "StepRunSourceInstance",
    "StepSecurityGroup",
    "StepSnapshotInfo",
    "StepSourceAMIInfo",
    "StepStopInstance",
]
