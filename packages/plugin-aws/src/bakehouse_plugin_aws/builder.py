"""The ``amazon-ebs`` builder: launch an instance from a source AMI,
provision it over SSH, and turn it into an AMI in one or more regions.

The build is the list of steps below, in Packer's order; each step removes
what it created in its cleanup (see :mod:`bakehouse_plugin_aws.steps`).
"""

from __future__ import annotations

from typing import Any

from bakehouse.sdk import (
    Artifact,
    Builder,
    BuildInfo,
    Cancelled,
    Context,
    Hook,
    Journal,
    PrepareResult,
    Runner,
    StateBag,
    Step,
    Ui,
)

from bakehouse_plugin_aws.artifact import AmiArtifact
from bakehouse_plugin_aws.config import AmazonEBSConfig, parse_builder_config
from bakehouse_plugin_aws.ec2 import Connection
from bakehouse_plugin_aws.resources import PLUGIN
from bakehouse_plugin_aws.steps import (
    StepAMIRegionCopy,
    StepAssociateEIP,
    StepCleanupTempKeys,
    StepConnect,
    StepCreateAMI,
    StepCreateTags,
    StepDeregisterAMI,
    StepEncryptedCopy,
    StepIamInstanceProfile,
    StepKeyPair,
    StepModifyAMIAttributes,
    StepModifyInstance,
    StepNetworkInfo,
    StepPreValidate,
    StepProvision,
    StepRunSourceInstance,
    StepRunSpotInstance,
    StepSecurityGroup,
    StepSnapshotInfo,
    StepSourceAMIInfo,
    StepStopInstance,
)

#: Build variables (``build.NAME``) the builder provides to provisioners.
GENERATED_NAMES = [
    "ID", "Host", "Port", "User", "Password", "ConnType", "SSHPublicKey", "SSHPrivateKey",
    "SSHPrivateKeyFile", "SourceAMI", "SourceAMIName", "SourceAMIDescription", "SourceAMIOwner",
    "SourceAMIOwnerName", "SourceAMICreationDate", "BuildRegion",
]


class AmazonEBSBuilder(Builder):
    """Packer's ``amazon-ebs``, talking to EC2 through boto3."""

    config_schema = AmazonEBSConfig
    config: AmazonEBSConfig

    def prepare(self, config: dict[str, Any], build: BuildInfo) -> PrepareResult:
        self.build = build
        self.config = parse_builder_config(config)
        from bakehouse.log import add_sensitive

        add_sensitive([self.config.secret_key, self.config.token, self.config.ssh_password])
        warnings = []
        if self.config.region in (config.get("ami_regions") or []):
            warnings.append(f"ami_regions: the build region {self.config.region} is left out: the AMI "
                            "is made there (as Packer does)")
        if self.config.communicator == "none":
            warnings.append("communicator = \"none\": provisioners that need a connection will fail")
        if self.config.is_spot():
            ignored = [name for name in ("ena_support", "sriov_support", "disable_stop_instance")
                       if name in self.config.model_fields_set]
            if ignored:
                warnings.append(f"{', '.join(ignored)}: not applied to a Spot instance, which is "
                                "imaged without being stopped (as Packer does)")
        if self.config.block_duration_minutes:
            warnings.append("block_duration_minutes is ignored: AWS no longer offers Spot blocks "
                            "(defined-duration Spot instances)")
        if self.config.spot_price_auto_product:
            warnings.append("spot_price_auto_product is deprecated and ignored: spot_price = \"auto\" "
                            "caps the price at the on-demand price")
        return PrepareResult(generated_names=list(GENERATED_NAMES), warnings=warnings)

    def steps(self) -> list[Step]:
        """The story of a build, top to bottom."""
        spot = self.config.is_spot()
        steps: list[Step] = [
            StepPreValidate(),
            StepSourceAMIInfo(),
            StepNetworkInfo(),
            StepKeyPair(),
            StepSecurityGroup(),
            StepIamInstanceProfile(),
            StepRunSpotInstance() if spot else StepRunSourceInstance(),
            StepAssociateEIP(),
            StepConnect(),
            StepProvision(),
            StepCleanupTempKeys(),
        ]
        # As in Packer, a Spot instance is imaged running (one-time Spot
        # instances cannot be stopped; CreateImage reboots it), so neither
        # stopped nor modified.
        if not spot:
            steps.append(StepStopInstance())
        if not self.config.skip_create_ami:
            if not spot:
                steps.append(StepModifyInstance())
            steps += [
                StepDeregisterAMI(),
                StepCreateAMI(),
                StepEncryptedCopy(),
                StepAMIRegionCopy(),
                StepSnapshotInfo(),
                StepModifyAMIAttributes(),
                StepCreateTags(),
            ]
        return steps

    def run(self, ui: Ui, hook: Hook, ctx: Context) -> Artifact | None:
        config = self.config
        connection = Connection.from_config(config)
        state = StateBag(
            ui=ui,
            hook=hook,
            ctx=ctx,
            config=config,
            build=self.build,
            connection=connection,
            ec2=connection.client(config.region),
            journal=Journal(self.build.run_id or None, plugin=PLUGIN),
            generated={"BuildRegion": config.region},
        )
        steps = self.steps()
        Runner(steps, on_error=self.build.on_error).run(state)
        # abort, run-cleanup-provisioner, or ask answered "abort": cleanups were skipped
        if state.get("kept_for_inspection"):
            explain_kept_resources(ui, steps, config.region, state["journal"].run_id)
        error = state.get("error")
        if error is not None:
            raise error
        if state["cancelled"]:
            raise Cancelled(ctx.reason or "build was cancelled")
        if config.skip_create_ami:
            ui.say("Skipping AMI creation (skip_create_ami = true): no artifact")
            return None
        return AmiArtifact(state["amis"], connection, state["generated"])


def explain_kept_resources(ui: Ui, steps: list[Any], region: str, run_id: str) -> None:
    """``-on-error=abort`` kept the temporary resources: list them and how to remove them."""
    kept: list[tuple[str, str]] = []
    for step in steps:
        if isinstance(step, StepRunSourceInstance):
            if step.instance_id:
                kept.append((f"instance {step.instance_id}",
                             f"aws ec2 terminate-instances --region {region} --instance-ids {step.instance_id}"))
            if isinstance(step, StepRunSpotInstance) and step.template_id:
                kept.append((f"launch template {step.template_id}",
                             f"aws ec2 delete-launch-template --region {region} "
                             f"--launch-template-id {step.template_id}"))
        elif isinstance(step, StepIamInstanceProfile) and step.profile_name:
            name = step.profile_name
            kept.append((f"IAM instance profile and role {name}",
                         f"aws iam remove-role-from-instance-profile --instance-profile-name {name} "
                         f"--role-name {name} && aws iam delete-instance-profile --instance-profile-name "
                         f"{name} && aws iam delete-role-policy --role-name {name} --policy-name {name} "
                         f"&& aws iam delete-role --role-name {name}"))
        elif isinstance(step, StepSecurityGroup) and step.group_id and step.group_name:
            kept.append((f"security group {step.group_id} ({step.group_name})",
                         f"aws ec2 delete-security-group --region {region} --group-id {step.group_id}"))
        elif isinstance(step, StepKeyPair) and step.key_name:
            kept.append((f"key pair {step.key_name}",
                         f"aws ec2 delete-key-pair --region {region} --key-name {step.key_name}"))
            if step.key_dir:
                key_file = f"{step.key_dir}/ec2_{step.key_name}.pem"
                kept.append((f"private key file {key_file}", f"rm -rf {step.key_dir}"))
    if not kept:
        return
    ui.error("-on-error=abort kept these temporary resources for inspection:")
    for what, how in kept:
        ui.error(f"    {what}: remove with `{how}`")
    ui.error(f"Or run `bakehouse cleanup {run_id}` once this build has exited: it removes them all.")
