"""Configuration of the ``amazon-ebs`` builder and the ``amazon-ami`` data source.

Option names and meanings follow Packer's Amazon plugin. Everything is
validated in ``prepare`` so that mistakes surface as diagnostics with the
option's path (the core turns the path into the template's file:line).
"""

from __future__ import annotations

import functools
import re
from typing import Any, Literal

from bakehouse.sdk import ConfigError, ConfigProblem, option, parse_config, unsupported
from bakehouse.sdk.ssh import SSHConfig
from pydantic import BaseModel, ConfigDict, Field, field_validator

from bakehouse_plugin_aws.access import AccessConfig

_AMI_NAME = re.compile(r"^[A-Za-z0-9()\[\] ./\-'@_]{3,128}$")
#: Burstable instance types (CPU credits): Packer launches them "standard" unless unlimited.
_BURSTABLE = re.compile(r"^t(2|3a?|4g)\.")


class _Block(BaseModel):
    """A nested block: unknown arguments are errors there too."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class AmiFilter(_Block):
    """``source_ami_filter`` / the ``amazon-ami`` data source's filter options."""

    filters: dict[str, str | list[str]] = Field(default_factory=dict)
    owners: list[str] = Field(default_factory=list)
    most_recent: bool = False
    include_deprecated: bool = False

    def is_empty(self) -> bool:
        return not self.filters and not self.owners


class SubnetFilter(_Block):
    filters: dict[str, str | list[str]] = Field(default_factory=dict)
    most_free: bool = False
    random: bool = False


class SecurityGroupFilter(_Block):
    filters: dict[str, str | list[str]] = Field(default_factory=dict)


class VpcFilter(_Block):
    filters: dict[str, str | list[str]] = Field(default_factory=dict)


class BlockDevice(_Block):
    """One entry of ``launch_block_device_mappings`` / ``ami_block_device_mappings``."""

    device_name: str
    delete_on_termination: bool = False
    encrypted: bool | None = None
    iops: int | None = None
    kms_key_id: str = ""
    no_device: bool = False
    snapshot_id: str = ""
    throughput: int | None = None
    virtual_name: str = ""
    volume_size: int | None = None
    volume_type: str = ""

    def to_api(self) -> dict[str, object]:
        """The EC2 API's ``BlockDeviceMapping`` shape."""
        mapping: dict[str, object] = {"DeviceName": self.device_name}
        if self.no_device:
            mapping["NoDevice"] = ""
            return mapping
        if self.virtual_name:
            mapping["VirtualName"] = self.virtual_name
            return mapping
        ebs: dict[str, object] = {"DeleteOnTermination": self.delete_on_termination}
        if self.volume_size is not None:
            ebs["VolumeSize"] = self.volume_size
        if self.volume_type:
            ebs["VolumeType"] = self.volume_type
        if self.iops is not None:
            ebs["Iops"] = self.iops
        if self.throughput is not None:
            ebs["Throughput"] = self.throughput
        if self.snapshot_id:
            ebs["SnapshotId"] = self.snapshot_id
        if self.encrypted is not None:
            ebs["Encrypted"] = self.encrypted
        if self.kms_key_id:
            ebs["KmsKeyId"] = self.kms_key_id
        mapping["Ebs"] = ebs
        return mapping


class Polling(_Block):
    """``aws_polling``: how often and how long to wait for EC2 state changes."""

    delay_seconds: float = 2.0
    max_attempts: int = 0

    @field_validator("delay_seconds")
    @classmethod
    def _positive_delay(cls, value: float) -> float:
        if value < 0:
            raise ValueError("delay_seconds must not be negative")
        return value

    @field_validator("max_attempts")
    @classmethod
    def _positive_attempts(cls, value: int) -> int:
        if value < 0:
            raise ValueError("max_attempts must not be negative")
        return value

    def attempts(self) -> int:
        """0 means "a sensible default": about 20 minutes of polling."""
        if self.max_attempts:
            return self.max_attempts
        return max(40, int(1200 / max(self.delay_seconds, 0.1)))


SSHInterface = Literal["", "public_ip", "private_ip", "public_dns", "private_dns", "ipv6", "session_manager"]


class KeyValue(_Block):
    """One ``tag { key = ..., value = ... }`` block (``name`` is the older spelling of ``key``)."""

    key: str = ""
    name: str = ""
    value: str = ""

    def tag_key(self) -> str:
        return self.key or self.name


class MetadataOptions(_Block):
    """``metadata_options { ... }``: the instance's IMDS settings (IMDSv2).
    Packer's defaults are sent without the block too (IMDSv1 allowed, one hop)."""

    http_endpoint: Literal["enabled", "disabled"] = "enabled"
    http_tokens: Literal["", "optional", "required"] = "optional"
    http_put_response_hop_limit: int = 1
    instance_metadata_tags: Literal["", "enabled", "disabled"] = "disabled"

    @field_validator("http_put_response_hop_limit")
    @classmethod
    def _hop_limit(cls, value: int) -> int:
        if not 0 <= value <= 64:
            raise ValueError("http_put_response_hop_limit requires a number between 1 and 64")
        return value or 1

    def to_api(self) -> dict[str, object]:
        api: dict[str, object] = {"HttpEndpoint": self.http_endpoint,
                                  "HttpTokens": self.http_tokens or "optional",
                                  "HttpPutResponseHopLimit": self.http_put_response_hop_limit}
        if self.instance_metadata_tags == "enabled":
            api["InstanceMetadataTags"] = "enabled"
        return api


class Placement(_Block):
    """``placement { ... }``."""

    host_resource_group_arn: str = ""
    tenancy: Literal["", "default", "dedicated", "host"] = ""
    host_id: str = ""


class DeregistrationProtection(_Block):
    """``deregistration_protection { enabled = true, with_cooldown = false }``."""

    enabled: bool = False
    with_cooldown: bool = False

    def wanted(self) -> bool:
        """Packer's rule: ``with_cooldown`` turns protection on by itself."""
        return self.enabled or self.with_cooldown


class LicenseSpecification(_Block):
    """``license_specifications { license_configuration_request { license_configuration_arn = ... } }``."""

    license_configuration_request: dict[str, str] | list[dict[str, str]] = Field(default_factory=dict)

    def arns(self) -> list[str]:
        requests = self.license_configuration_request
        items = requests if isinstance(requests, list) else [requests]
        return [item["license_configuration_arn"] for item in items if item.get("license_configuration_arn")]


class PolicyStatement(_Block):
    """One ``Statement { Effect, Action, Resource }`` of a policy document."""

    Effect: Literal["Allow", "Deny"] = "Allow"
    Action: list[str] = Field(default_factory=list)
    Resource: list[str] | str = Field(default_factory=list)


class PolicyDocument(_Block):
    """``temporary_iam_instance_profile_policy_document { Version, Statement { ... } }``."""

    Version: str = "2012-10-17"
    Statement: list[PolicyStatement] = Field(default_factory=list)

    def to_json(self) -> str:
        import json

        return json.dumps({"Version": self.Version,
                           "Statement": [s.model_dump() for s in self.Statement]})


class CapacityReservationTarget(_Block):
    capacity_reservation_id: str = ""
    capacity_reservation_resource_group_arn: str = ""


#: EC2 Fleet's allocation strategies for Spot capacity.
SpotAllocationStrategy = Literal["", "lowest-price", "diversified", "capacity-optimized",
                                 "capacity-optimized-prioritized", "price-capacity-optimized"]
_SSM = ("Session Manager needs AWS's session-manager-plugin and a real SSM agent on the instance; "
        "connect over SSH (ssh_interface public_ip/private_ip/ipv6 or ssh_host)")
_WINRM = "Bakehouse has no WinRM communicator (Linux over SSH only)"
_WINDOWS = "Bakehouse builds Linux instances over SSH only (Windows passwords come from GetPasswordData)"
_WINDOWS_FAST_LAUNCH = ("fast launch pre-provisions Windows AMIs (EnableFastLaunch); Bakehouse builds "
                        "Linux instances over SSH only")


class AmazonEBSConfig(SSHConfig, AccessConfig):
    """Every option ``amazon-ebs`` accepts."""

    # source
    source_ami: str = ""
    source_ami_filter: AmiFilter | None = None
    instance_type: str = ""
    # the AMI
    ami_name: str = ""
    ami_description: str = ""
    ami_virtualization_type: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    tag: list[KeyValue] = option(default_factory=list, note="block form of `tags`")
    run_tags: dict[str, str] = option(default_factory=dict, note="on the instance, key pair, security "
                                      "group and temporary IAM role; on the AMI and its snapshots "
                                      "unless skip_ami_run_tags")
    run_tag: list[KeyValue] = option(default_factory=list, note="block form of `run_tags`")
    run_volume_tags: dict[str, str] = Field(default_factory=dict)
    run_volume_tag: list[KeyValue] = option(default_factory=list, note="block form of `run_volume_tags`")
    snapshot_tags: dict[str, str] = Field(default_factory=dict)
    snapshot_tag: list[KeyValue] = option(default_factory=list, note="block form of `snapshot_tags`")
    spot_tags: dict[str, str] = option(default_factory=dict, note="on the Spot instance request")
    spot_tag: list[KeyValue] = option(default_factory=list, note="block form of `spot_tags`")
    fleet_tags: dict[str, str] = option(default_factory=dict, note="on the EC2 fleet of a spot build")
    fleet_tag: list[KeyValue] = option(default_factory=list, note="block form of `fleet_tags`")
    skip_ami_run_tags: bool = option(False, note="do not copy run_tags onto the AMI and its snapshots")
    ena_support: bool | None = option(None, note="ModifyInstanceAttribute EnaSupport before imaging")
    sriov_support: bool = option(False, note="ModifyInstanceAttribute SriovNetSupport=simple before imaging")
    ami_product_codes: list[str] = option(default_factory=list, note="ModifyImageAttribute ProductCodes")
    no_ephemeral: bool = option(False, note="NoDevice for the ephemeral drives xvdca-xvdcz in the launch "
                                "mappings (Windows' drive names, as Packer)")
    deprecate_at: str = option("", note="EnableImageDeprecation (RFC 3339 UTC time)")
    deregistration_protection: DeregistrationProtection | None = option(
        None, note="EnableImageDeregistrationProtection")
    ami_org_arns: list[str] = option(default_factory=list, note="launch permission for organizations")
    ami_ou_arns: list[str] = option(default_factory=list, note="launch permission for OUs")
    skip_save_build_region: bool = option(False, note="the AMI only in ami_regions")
    snapshot_copy_duration_minutes: int = option(0, note="CopyImage SnapshotCopyCompletionDurationMinutes")
    imds_support: Literal["", "v2.0"] = option("", note="ModifyImageAttribute ImdsSupport on every AMI")
    ami_regions: list[str] = Field(default_factory=list)
    ami_users: list[str] = Field(default_factory=list)
    ami_groups: list[str] = Field(default_factory=list)
    snapshot_users: list[str] = Field(default_factory=list)
    snapshot_groups: list[str] = Field(default_factory=list)
    encrypt_boot: bool | None = None
    kms_key_id: str = ""
    region_kms_key_ids: dict[str, str] = Field(default_factory=dict)
    force_deregister: bool = False
    force_delete_snapshot: bool = False
    skip_create_ami: bool = False
    launch_block_device_mappings: list[BlockDevice] = Field(default_factory=list)
    ami_block_device_mappings: list[BlockDevice] = Field(default_factory=list)
    # network
    subnet_id: str = ""
    vpc_id: str = ""
    subnet_filter: SubnetFilter | None = None
    vpc_filter: VpcFilter | None = None
    security_group_id: str = ""
    security_group_ids: list[str] = Field(default_factory=list)
    security_group_filter: SecurityGroupFilter | None = None
    temporary_security_group_source_cidrs: list[str] = option(
        default_factory=list, note="default 0.0.0.0/0, or ::/0 with ssh_interface \"ipv6\"; IPv6 blocks "
        "go to the rule's Ipv6Ranges")
    associate_public_ip_address: bool | None = None
    elastic_ip_allocation_id: str = option(
        "", note="an Elastic IP of yours (eipalloc-...) on the instance while it builds: disassociated "
        "afterwards, never released")
    availability_zone: str = ""
    temporary_security_group_source_public_ip: bool = option(
        False, note="the temporary group admits only this machine's address (from "
        "checkip.amazonaws.com or BAKEHOUSE_CHECKIP_URL), unless temporary_security_group_source_cidrs")
    placement: Placement | None = option(None, note="RunInstances Placement")
    tenancy: Literal["", "default", "dedicated", "host"] = option("", note="RunInstances Placement.Tenancy")
    capacity_reservation_preference: Literal["", "open", "none"] = option(
        "", note="RunInstances CapacityReservationSpecification")
    capacity_reservation_id: str = option("", note="RunInstances CapacityReservationSpecification")
    capacity_reservation_group_arn: str = option("", note="RunInstances CapacityReservationSpecification")
    license_specifications: list[LicenseSpecification] = option(
        default_factory=list, note="RunInstances LicenseSpecifications")
    enable_unlimited_credits: bool = option(False, note="CreditSpecification unlimited (t2/t3/t3a/t4g); "
                                            "without it those types launch standard, as in Packer")
    enable_t2_unlimited: bool = option(False, note="deprecated alias of enable_unlimited_credits")
    enable_nitro_enclave: bool = option(False, note="RunInstances EnclaveOptions")
    metadata_options: MetadataOptions = option(
        default_factory=MetadataOptions, note="RunInstances MetadataOptions (IMDSv2); Packer's defaults "
        "(enabled, optional, 1 hop) are sent without the block too")
    # spot
    spot_price: str = option("", note="a Spot instance through a temporary launch template and an "
                             "instant EC2 fleet; \"auto\": up to the on-demand price")
    spot_instance_types: list[str] = option(
        default_factory=list, note="instead of instance_type: the fleet picks one of them")
    spot_allocation_strategy: SpotAllocationStrategy = option(
        "", note="CreateFleet SpotOptions.AllocationStrategy")
    spot_price_auto_product: str = option("", note="deprecated in Packer; accepted and ignored")
    block_duration_minutes: int = option(0, note="Spot blocks are no longer offered by AWS; "
                                         "accepted with a warning, ignored")
    # IAM
    skip_profile_validation: bool = option(
        False, note="do not check iam_instance_profile with IAM GetInstanceProfile first")
    temporary_iam_instance_profile_policy_document: PolicyDocument | None = option(
        None, note="a temporary IAM role with this inline policy and an instance profile for it")
    # what cannot work here
    fast_launch: Any = unsupported(_WINDOWS_FAST_LAUNCH)
    session_manager_port: Any = unsupported(_SSM)
    pause_before_ssm: Any = unsupported(_SSM)
    ssm_agent_enable_retries: Any = unsupported(_SSM)
    windows_password_timeout: Any = unsupported(_WINDOWS)
    winrm_username: Any = unsupported(_WINRM)
    winrm_password: Any = unsupported(_WINRM)
    winrm_host: Any = unsupported(_WINRM)
    winrm_port: Any = unsupported(_WINRM)
    winrm_timeout: Any = unsupported(_WINRM)
    winrm_use_ssl: Any = unsupported(_WINRM)
    winrm_insecure: Any = unsupported(_WINRM)
    winrm_use_ntlm: Any = unsupported(_WINRM)
    winrm_no_proxy: Any = unsupported(_WINRM)
    # the instance
    user_data: str = ""
    user_data_file: str = ""
    iam_instance_profile: str = ""
    shutdown_behavior: Literal["stop", "terminate"] = "stop"
    disable_stop_instance: bool = False
    ebs_optimized: bool = False
    # key pair and connection
    ssh_keypair_name: str = ""
    temporary_key_pair_type: Literal["rsa", "ed25519"] = "rsa"
    temporary_key_pair_name: str = ""
    temporary_key_pair_bits: int = option(0, note="RSA key size: the key is made locally and imported")
    ssh_interface: SSHInterface = ""
    aws_polling: Polling = Field(default_factory=Polling)

    @field_validator("temporary_security_group_source_cidrs")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        import ipaddress

        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"{cidr!r} is not a CIDR block (example: 10.0.0.0/8)") from None
        return value

    def problems(self) -> list[ConfigProblem]:
        """Missing and conflicting options, each with the option's path."""
        found: list[ConfigProblem] = []

        def problem(message: str, *path: str | int) -> None:
            found.append(ConfigProblem(tuple(path), message))

        if not self.region:
            problem("The argument 'region' is required, but no definition was found.", "region")
        if not self.instance_type and not self.spot_instance_types:
            problem("The argument 'instance_type' is required, but no definition was found "
                    "(or spot_instance_types with spot_price).", "instance_type")
        self._spot_problems(problem)
        if not self.source_ami and (self.source_ami_filter is None or self.source_ami_filter.is_empty()):
            problem("A source_ami or source_ami_filter must be specified.", "source_ami")
        if self.source_ami_filter is not None and self.source_ami_filter.filters and not self.source_ami_filter.owners:
            problem("For security reasons, owners must be set when using source_ami_filter "
                    "(e.g. owners = [\"self\"]).", "source_ami_filter", "owners")
        if not self.skip_create_ami:
            if not self.ami_name:
                problem("The argument 'ami_name' is required, but no definition was found.", "ami_name")
            elif not _AMI_NAME.match(self.ami_name):
                problem("ami_name must be 3-128 characters of letters, numbers, spaces and "
                        "( ) [ ] . / - ' @ _ (regex_replace(name, \"[^-a-zA-Z0-9()\\\\[\\\\] ./'@_]\", \"-\") "
                        "makes one).", "ami_name")
        if self.user_data and self.user_data_file:
            problem("Only one of user_data or user_data_file can be specified.", "user_data_file")
        if self.user_data_file:
            import os

            if not os.path.isfile(self.user_data_file):
                problem(f"user_data_file {self.user_data_file!r} does not exist.", "user_data_file")
        if (self.security_group_ids or self.security_group_id) and self.security_group_filter:
            problem("security_group_filter conflicts with security_group_ids/security_group_id: "
                    "set only one.", "security_group_filter")
        if self.security_group_id and self.security_group_ids:
            problem("Only one of security_group_id or security_group_ids can be specified.",
                    "security_group_id")
        if self.temporary_security_group_source_cidrs and (
            self.security_group_ids or self.security_group_id or self.security_group_filter
        ):
            problem("temporary_security_group_source_cidrs only applies to the temporary security "
                    "group; it cannot be used with security_group_ids/filter.",
                    "temporary_security_group_source_cidrs")
        if self.subnet_id and self.subnet_filter:
            problem("subnet_filter conflicts with subnet_id: set only one.", "subnet_filter")
        if self.communicator == "ssh":
            if not self.ssh_username:
                problem("An ssh_username must be specified.", "ssh_username")
            if self.ssh_keypair_name and not self.ssh_private_key_file and not self.ssh_agent_auth:
                problem("ssh_private_key_file or ssh_agent_auth must be provided to use ssh_keypair_name.",
                        "ssh_private_key_file")
        if self.kms_key_id and not self.encrypt_boot:
            problem("kms_key_id requires encrypt_boot = true.", "kms_key_id")
        if self.region_kms_key_ids:
            if not self.encrypt_boot:
                problem("region_kms_key_ids requires encrypt_boot = true.", "region_kms_key_ids")
            for region in self.region_kms_key_ids:
                if region != self.region and region not in self.ami_regions:
                    problem(f"Region {region!r} in region_kms_key_ids is not in ami_regions.",
                            "region_kms_key_ids", region)
            for region in dict.fromkeys(self.ami_regions):
                if region not in self.region_kms_key_ids:  # as Packer: a key for every copy's region
                    problem(f"Region {region!r} is in ami_regions but not in region_kms_key_ids: give it a key "
                            "there too.", "ami_regions")
        if self.skip_create_ami:
            for name in ("ami_regions", "ami_users", "ami_groups", "snapshot_users", "force_deregister"):
                if getattr(self, name):
                    problem(f"{name} has no effect with skip_create_ami = true.", name)
        if self.ssh_interface == "session_manager":
            problem(f"ssh_interface \"session_manager\" is not supported by Bakehouse: {_SSM}.",
                    "ssh_interface")
        if self.tenancy and self.placement and self.placement.tenancy and self.tenancy != self.placement.tenancy:
            problem("tenancy conflicts with placement.tenancy: set only one.", "tenancy")
        if self.placement is not None and (self.placement.host_id or self.placement.host_resource_group_arn):
            if self.placement.host_id and self.placement.host_resource_group_arn:
                problem("placement.host_id and placement.host_resource_group_arn cannot be set together.",
                        "placement", "host_resource_group_arn")
            if self.tenancy_value() not in ("", "host"):
                problem("The tenancy must be \"host\" with placement.host_id or "
                        "placement.host_resource_group_arn.", "placement", "tenancy")
        types = [self.instance_type] if self.instance_type else self.spot_instance_types
        if (self.enable_unlimited_credits or self.enable_t2_unlimited) and types and \
                not all(_BURSTABLE.match(t) for t in types):
            problem(f"Unlimited credits need a burstable instance type (T2, T3, T3a, T4g), not "
                    f"{', '.join(t for t in types if not _BURSTABLE.match(t))}.",
                    "enable_t2_unlimited" if self.enable_t2_unlimited else "enable_unlimited_credits")
        if self.enable_nitro_enclave and any(t.startswith("t") for t in types):
            problem(f"Nitro Enclaves cannot be used with burstable instance types ({', '.join(types)}).",
                    "enable_nitro_enclave")
        if self.elastic_ip_allocation_id:
            if not re.match(r"^eipalloc-[0-9a-f]+$", self.elastic_ip_allocation_id):
                problem(f"elastic_ip_allocation_id must be an allocation id like eipalloc-0123456789abcdef0, "
                        f"not {self.elastic_ip_allocation_id!r}.", "elastic_ip_allocation_id")
            if self.associate_public_ip_address is not None:
                problem("associate_public_ip_address must not be set with elastic_ip_allocation_id.",
                        "associate_public_ip_address")
        if self.block_duration_minutes % 60:
            problem("block_duration_minutes must be a multiple of 60.", "block_duration_minutes")
        if self.iam_instance_profile and self.temporary_iam_instance_profile_policy_document:
            problem("Only one of iam_instance_profile or temporary_iam_instance_profile_policy_document "
                    "can be set.", "temporary_iam_instance_profile_policy_document")
        document = self.temporary_iam_instance_profile_policy_document
        if document is not None and not document.Statement:
            problem("temporary_iam_instance_profile_policy_document needs at least one Statement block.",
                    "temporary_iam_instance_profile_policy_document")
        if self.capacity_reservation_id and self.capacity_reservation_group_arn:
            problem("Only one of capacity_reservation_id or capacity_reservation_group_arn can be set.",
                    "capacity_reservation_group_arn")
        if (self.capacity_reservation_id or self.capacity_reservation_group_arn) and \
                self.capacity_reservation_preference not in ("",):
            problem("capacity_reservation_preference cannot be combined with a capacity reservation "
                    "target.", "capacity_reservation_preference")
        if self.deprecate_at:
            import datetime

            try:
                datetime.datetime.fromisoformat(self.deprecate_at.replace("Z", "+00:00"))
            except ValueError:
                problem("deprecate_at must be an RFC 3339 time, e.g. 2030-01-01T00:00:00Z.", "deprecate_at")
        if self.temporary_key_pair_bits and self.temporary_key_pair_type != "rsa":
            problem("temporary_key_pair_bits only applies to rsa keys.", "temporary_key_pair_bits")
        if self.temporary_key_pair_bits and self.temporary_key_pair_bits < 1024:
            problem("temporary_key_pair_bits must be at least 1024 (Packer's minimum for RSA).",
                    "temporary_key_pair_bits")
        if self.skip_save_build_region and not [r for r in self.ami_regions if r != self.region]:
            problem("skip_save_build_region needs ami_regions (the AMI would exist nowhere).",
                    "skip_save_build_region")
        if self.snapshot_copy_duration_minutes and (self.snapshot_copy_duration_minutes < 15
                                                    or self.snapshot_copy_duration_minutes % 15):
            problem("snapshot_copy_duration_minutes must be a multiple of 15 (at least 15).",
                    "snapshot_copy_duration_minutes")
        if self.force_delete_snapshot and not self.force_deregister:
            problem("force_delete_snapshot requires force_deregister = true.", "force_delete_snapshot")
        if not self.skip_region_validation:
            known = known_regions()
            if self.region and known and self.region not in known:
                problem(f"Unknown region {self.region!r} (set skip_region_validation = true "
                        "for a private region).", "region")
            for index, region in enumerate(self.ami_regions):
                if known and region not in known:
                    problem(f"Unknown region {region!r}.", "ami_regions", index)
        return found

    def is_spot(self) -> bool:
        """Packer's rule: a Spot instance when ``spot_price`` is set and not "0"."""
        return self.spot_price.strip() not in ("", "0")

    def _spot_problems(self, problem: Any) -> None:
        price = self.spot_price.strip()
        if price not in ("", "auto"):
            try:
                valid = float(price) >= 0
            except ValueError:
                valid = False
            if not valid:
                problem(f"spot_price must be \"auto\" or a price in US dollars per hour "
                        f"(e.g. \"0.05\"), not {self.spot_price!r}.", "spot_price")
        if self.instance_type and self.spot_instance_types:
            problem("Set either instance_type or spot_instance_types, not both.", "spot_instance_types")
        if self.is_spot():
            # Packer's rules: T2 Spot instances cannot run unlimited, no enclave on Spot
            t2 = any(t.startswith("t2.") for t in [self.instance_type, *self.spot_instance_types])
            if self.enable_t2_unlimited or (self.enable_unlimited_credits and t2):
                problem("Unlimited credits cannot be used in conjunction with Spot instances of "
                        "type t2.", "enable_t2_unlimited" if self.enable_t2_unlimited else "enable_unlimited_credits")
            if self.enable_nitro_enclave:
                problem("enable_nitro_enclave is not supported for Spot instances.", "enable_nitro_enclave")
            return
        for name in ("spot_instance_types", "spot_allocation_strategy", "spot_tags", "spot_tag",
                     "fleet_tags", "fleet_tag"):
            if getattr(self, name):
                problem(f"{name} needs a Spot instance: set spot_price (\"auto\" or a price).", name)

    def merged_tags(self, name: str) -> dict[str, str]:
        """``NAME_tags`` with the ``NAME_tag`` blocks on top (``tags``/``tag`` for the AMI)."""
        plural, blocks = (("tags", "tag") if name == "" else (f"{name}_tags", f"{name}_tag"))
        merged = dict(getattr(self, plural))
        for block in getattr(self, blocks):
            merged[block.tag_key()] = block.value
        return merged

    def ami_tags(self) -> dict[str, str]:
        """The AMI's tags: run_tags (unless skip_ami_run_tags) under tags."""
        base = {} if self.skip_ami_run_tags else self.merged_tags("run")
        return {**base, **self.merged_tags("")}

    def tenancy_value(self) -> str:
        return self.tenancy or (self.placement.tenancy if self.placement else "")

    def cpu_credits(self) -> str:
        """CreditSpecification.CpuCredits: "unlimited" when asked, "standard" for a
        burstable ``instance_type`` otherwise (Packer's rule), else nothing."""
        if self.enable_unlimited_credits or self.enable_t2_unlimited:
            return "unlimited"
        return "standard" if _BURSTABLE.match(self.instance_type) else ""

    def temporary_key_pair_wanted(self) -> bool:
        """Packer's rule: a temporary key pair unless the user brings a key, a password or an agent."""
        return (self.communicator == "ssh" and not self.ssh_private_key_file and not self.ssh_password
                and not self.ssh_agent_auth)


#: Options written as blocks that may appear at most once. The template layer
#: hands every nested block over as a list of objects.
SINGLE_BLOCKS = ("source_ami_filter", "subnet_filter", "vpc_filter", "security_group_filter",
                 "aws_polling", "metadata_options", "placement",
                 "deregistration_protection", "temporary_iam_instance_profile_policy_document",
                 "assume_role", "vault_aws_engine")


def unwrap_single_blocks(raw: dict[str, object], names: tuple[str, ...]) -> tuple[dict[str, object], list[ConfigProblem]]:
    """``aws_polling { ... }`` arrives as ``[{...}]``: take the one object out
    (a map attribute, ``aws_polling = {...}``, is accepted as is)."""
    result = dict(raw)
    problems = []
    for name in names:
        value = result.get(name)
        if isinstance(value, list):
            if len(value) == 1:
                result[name] = value[0]
            elif len(value) > 1:
                problems.append(ConfigProblem((name, 1), f"Only one {name} block is allowed."))
            else:
                del result[name]
    return result, problems


def _block_path(raw: dict[str, object], path: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """Put the block index back into a problem path (``aws_polling.0.x``)."""
    if path and path[0] in SINGLE_BLOCKS and isinstance(raw.get(str(path[0])), list):
        return (path[0], 0, *path[1:])
    return path


def parse_builder_config(raw: dict[str, object]) -> AmazonEBSConfig:
    """Validate ``raw``: types and unknown options first, then missing and
    conflicting ones; raise :class:`ConfigError` with one problem per mistake."""
    unwrapped, problems = unwrap_single_blocks(raw, SINGLE_BLOCKS)
    if problems:
        raise ConfigError(problems)
    try:
        config = parse_config(AmazonEBSConfig, unwrapped)
    except ConfigError as error:
        raise ConfigError(
            [ConfigProblem(_block_path(raw, p.path), p.message) for p in error.problems]
        ) from None
    problems = config.access_problems() + config.problems()
    if problems:
        raise ConfigError([ConfigProblem(_block_path(raw, p.path), p.message) for p in problems])
    # Packer's rule: the AMI is made in the build region, so ami_regions without it (and
    # without repeats) are the regions it is copied to
    config.ami_regions = [r for r in dict.fromkeys(config.ami_regions) if r != config.region]
    return config


@functools.cache
def known_regions() -> frozenset[str]:
    """Regions botocore knows for EC2 (offline: from its bundled endpoint data)."""
    import boto3

    session = boto3.session.Session()
    regions: set[str] = set()
    for partition in session.get_available_partitions():
        regions.update(session.get_available_regions("ec2", partition_name=partition))
    return frozenset(regions)
