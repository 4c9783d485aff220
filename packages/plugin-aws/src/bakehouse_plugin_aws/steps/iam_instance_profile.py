"""The instance's IAM instance profile: the user's (checked with IAM unless
``skip_profile_validation``), or a temporary role and instance profile made
from ``temporary_iam_instance_profile_policy_document``."""

from __future__ import annotations

import json
import uuid

from bakehouse.sdk import CONTINUE, Action, JournalEntry, StateBag, Step

from bakehouse_plugin_aws.ec2 import AwsError, call, error_code
from bakehouse_plugin_aws.resources import (
    KIND_IAM_INSTANCE_PROFILE,
    clean_instance_profile,
    delete_temporary_instance_profile,
    owner_tags,
)
from bakehouse_plugin_aws.steps._common import (
    config_of,
    connection_of,
    journal_of,
    record,
    run_id_of,
)

#: Lets EC2 instances take the temporary role.
_TRUST_POLICY = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
})


class StepIamInstanceProfile(Step):
    """Check the user's instance profile, or make a temporary one; the cleanup
    removes the temporary role, its policy and its instance profile."""

    name = "IAM instance profile"

    def __init__(self) -> None:
        self.profile_name = ""
        self.entry: JournalEntry | None = None

    def run(self, state: StateBag) -> Action:
        config = config_of(state)
        if config.iam_instance_profile:
            state["iam_instance_profile"] = config.iam_instance_profile
            if not config.skip_profile_validation:
                iam = connection_of(state).client(config.region, "iam")
                try:
                    iam.get_instance_profile(InstanceProfileName=config.iam_instance_profile)
                except Exception as exc:
                    if error_code(exc) == "NoSuchEntity":
                        raise AwsError(f"Couldn't find specified instance profile: "
                                       f"{config.iam_instance_profile} (skip_profile_validation = "
                                       "true skips this check)") from None
                    raise AwsError(f"checking instance profile {config.iam_instance_profile}: {exc}") from None
            return CONTINUE
        document = config.temporary_iam_instance_profile_policy_document
        if document is None:
            return CONTINUE
        iam = connection_of(state).client(config.region, "iam")
        name = f"bakehouse-{uuid.uuid4().hex}"
        tags = [{"Key": key, "Value": value} for key, value in config.merged_tags("run").items()]
        tags += owner_tags(run_id_of(state))
        state.ui.say(f"Creating temporary instance profile for this instance: {name}")
        self.entry = record(state, KIND_IAM_INSTANCE_PROFILE, name, config.region)
        call(f"creating IAM role {name}", iam.create_role, RoleName=name,
             AssumeRolePolicyDocument=_TRUST_POLICY, Tags=tags,
             Description="Temporary role for a Bakehouse build")
        # From here on the role is ours to delete (with whatever else got made).
        self.profile_name = name
        state.ui.say(f"Creating temporary role policy for this instance: {name}")
        call(f"putting the policy of IAM role {name}", iam.put_role_policy, RoleName=name,
             PolicyName=name, PolicyDocument=document.to_json())
        call(f"creating IAM instance profile {name}", iam.create_instance_profile,
             InstanceProfileName=name, Tags=tags)
        call(f"adding IAM role {name} to its instance profile", iam.add_role_to_instance_profile,
             InstanceProfileName=name, RoleName=name)
        iam.get_waiter("instance_profile_exists").wait(
            InstanceProfileName=name,
            WaiterConfig={"Delay": max(1, int(config.aws_polling.delay_seconds)), "MaxAttempts": 40})
        state["iam_instance_profile"] = name
        return CONTINUE

    def cleanup(self, state: StateBag) -> None:
        if self.profile_name:
            state.ui.say("Deleting temporary instance profile...")
            iam = connection_of(state).client(config_of(state).region, "iam")
            delete_temporary_instance_profile(iam, self.profile_name)
        elif self.entry is not None:
            # CreateRole may have succeeded without us learning it: found by
            # name, deleted only if it carries this run's tag.
            clean_instance_profile(self.entry)
        if self.entry is not None:
            journal_of(state).forget(self.entry)
