"""Fail before launching anything when the AMI name is taken."""

from __future__ import annotations

from bakehouse.sdk import (
    CONTINUE,
    Action,
    StateBag,
    Step,
)

from bakehouse_plugin_aws.ec2 import (
    AwsError,
    call,
)
from bakehouse_plugin_aws.steps._common import (
    client_for,
    config_of,
)


class StepPreValidate(Step):
    """Fail before launching anything when the AMI name is taken."""

    name = "pre-validate"

    def run(self, state: StateBag) -> Action:
        config = config_of(state)
        if config.skip_create_ami:
            return CONTINUE
        if config.force_deregister:
            state.ui.say("Force Deregister flag found, skipping prevalidating AMI Name")
            return CONTINUE
        state.ui.say(f"Prevalidating AMI Name: {config.ami_name}")
        for region in [config.region, *config.ami_regions]:
            ec2 = client_for(state, region)
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
