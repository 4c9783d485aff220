"""The steps of an ``amazon-ebs`` build, in Packer's order.

Each step creates at most one kind of resource and its ``cleanup`` removes
it. Temporary resources are written to the journal *before* they are
created, so ``bakehouse cleanup`` can find them even after ``kill -9``.

State keys: ``config``, ``connection``, ``ec2`` (build region client),
``journal``, ``source_image``, ``vpc_id``, ``subnet_id``,
``availability_zone``, ``key_pair_name``, ``private_key_pem``,
``private_key_path``, ``security_group_ids``, ``iam_instance_profile``,
``instance``, ``communicator``,
``amis`` (region -> AMI id), ``snapshots`` (region -> snapshot ids),
``generated`` (build variables for provisioners).

One module per step (the step's resource and its cleanup in one place);
the builder imports them all from here.
"""

from __future__ import annotations

from bakehouse_plugin_aws.steps.associate_eip import StepAssociateEIP
from bakehouse_plugin_aws.steps.clear_authorized_keys import StepCleanupTempKeys
from bakehouse_plugin_aws.steps.connect import StepConnect, instance_address
from bakehouse_plugin_aws.steps.create_ami import StepCreateAMI
from bakehouse_plugin_aws.steps.create_tags import StepCreateTags
from bakehouse_plugin_aws.steps.deregister_ami import StepDeregisterAMI
from bakehouse_plugin_aws.steps.encrypted_copy import StepEncryptedCopy
from bakehouse_plugin_aws.steps.iam_instance_profile import StepIamInstanceProfile
from bakehouse_plugin_aws.steps.key_pair import StepKeyPair
from bakehouse_plugin_aws.steps.modify_ami import StepModifyAMIAttributes
from bakehouse_plugin_aws.steps.modify_instance import StepModifyInstance
from bakehouse_plugin_aws.steps.network import StepNetworkInfo
from bakehouse_plugin_aws.steps.pre_validate import StepPreValidate
from bakehouse_plugin_aws.steps.provision import StepProvision
from bakehouse_plugin_aws.steps.region_copy import StepAMIRegionCopy
from bakehouse_plugin_aws.steps.run_instance import (
    StepRunSourceInstance,
    launch_mappings,
    run_instance_options,
)
from bakehouse_plugin_aws.steps.run_spot_instance import StepRunSpotInstance
from bakehouse_plugin_aws.steps.security_group import StepSecurityGroup, public_ip_cidr
from bakehouse_plugin_aws.steps.snapshot_info import StepSnapshotInfo
from bakehouse_plugin_aws.steps.source_ami import StepSourceAMIInfo
from bakehouse_plugin_aws.steps.stop_instance import StepStopInstance

__all__ = [
    "StepAMIRegionCopy",
    "StepAssociateEIP",
    "StepCleanupTempKeys",
    "StepConnect",
    "StepCreateAMI",
    "StepCreateTags",
    "StepDeregisterAMI",
    "StepEncryptedCopy",
    "StepIamInstanceProfile",
    "StepKeyPair",
    "StepModifyAMIAttributes",
    "StepModifyInstance",
    "StepNetworkInfo",
    "StepPreValidate",
    "StepProvision",
    "StepRunSourceInstance",
    "StepRunSpotInstance",
    "StepSecurityGroup",
    "StepSnapshotInfo",
    "StepSourceAMIInfo",
    "StepStopInstance",
    "instance_address",
    "launch_mappings",
    "public_ip_cidr",
    "run_instance_options",
]
