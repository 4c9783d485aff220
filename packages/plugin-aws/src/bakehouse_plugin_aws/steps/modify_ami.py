"""Launch and snapshot permissions and the AMI's own options."""

from __future__ import annotations

from typing import Any

from bakehouse.sdk import (
    CONTINUE,
    Action,
    StateBag,
    Step,
)

from bakehouse_plugin_aws.ec2 import (
    call,
)
from bakehouse_plugin_aws.steps._common import (
    client_for,
    config_of,
)


class StepModifyAMIAttributes(Step):
    """Launch permissions (``ami_users``/``ami_groups``) and snapshot create-volume
    permissions (``snapshot_users``/``snapshot_groups``) in every region."""

    name = "modify AMI attributes"

    def run(self, state: StateBag) -> Action:
        config = config_of(state)
        for region, image_id in sorted(state["amis"].items()):
            ec2 = client_for(state, region)
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
    config = config_of(state)
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
    if protection is not None and protection.wanted():
        state.ui.say(f"Enabling deregistration protection on {where}...")
        call(f"enabling deregistration protection of {where}",
             ec2.enable_image_deregistration_protection, ImageId=image_id,
             WithCooldown=protection.with_cooldown)
