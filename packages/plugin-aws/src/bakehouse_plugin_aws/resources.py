"""Temporary EC2 resources: how each is found and removed.

The builder's steps and ``bakehouse cleanup`` (through the cleaners
registered here) use the same functions, so a leftover is removed exactly
the way a normal run removes it. Journal entries hold the region, endpoint
and profile, never secrets.
"""

from __future__ import annotations

import functools
import shutil
import time
from typing import Any

import botocore.exceptions
from bakehouse.sdk import Context, JournalEntry, register_cleaner

from bakehouse_plugin_aws.config import Polling
from bakehouse_plugin_aws.ec2 import AwsError, Connection, describe_error, error_code, wait_until
from bakehouse_plugin_aws.images import delete_image, describe_image

PLUGIN = "bakehouse-plugin-aws"

KIND_INSTANCE = "ec2-instance"
KIND_KEY_PAIR = "ec2-key-pair"
KIND_SECURITY_GROUP = "ec2-security-group"
KIND_IMAGE = "ec2-image"
KIND_KEY_DIR = "aws-temporary-key-dir"
KIND_LAUNCH_TEMPLATE = "ec2-launch-template"
#: A temporary IAM role and the instance profile of the same name holding it.
KIND_IAM_INSTANCE_PROFILE = "iam-instance-profile"

#: Tag put on the temporary instance so a leftover is found even when the
#: run died between RunInstances and recording the instance id.
INSTANCE_TOKEN_TAG = "bakehouse:instance-token"

#: Tag put at creation on everything a build creates (key pair, security group,
#: instance, AMIs and their copies), valued with the run id. `bakehouse cleanup`
#: deletes nothing that lacks it: a journal entry alone (hand-written, or naming
#: a user's key pair) is never proof of ownership.
OWNER_TAG = "bakehouse:run-id"

#: Prefix of the temporary directories holding a temporary private key.
KEY_DIR_PREFIX = "bakehouse-aws-key-"


def owner_tags(run_id: str) -> list[dict[str, str]]:
    return [{"Key": OWNER_TAG, "Value": run_id}]


def tag_specification(resource_type: str, run_id: str,
                      extra: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {"ResourceType": resource_type, "Tags": [*(extra or []), *owner_tags(run_id)]}


class NotOurs(AwsError):
    """A journal entry names a resource this run did not create: never delete it."""


def _check_owner(what: str, tags: list[dict[str, Any]] | None, run_id: str) -> None:
    values = {tag.get("Key"): tag.get("Value") for tag in tags or []}
    if not run_id or values.get(OWNER_TAG) != run_id:
        raise NotOurs(f"refusing to delete {what}: it does not carry the tag {OWNER_TAG}={run_id} "
                      "that Bakehouse puts on what it creates, so this run did not create it")

_NOT_FOUND = ("NotFound", "InvalidGroup.NotFound", "InvalidKeyPair.NotFound", "InvalidInstanceID",
              "InvalidLaunchTemplateId", "InvalidLaunchTemplateName", "NoSuchEntity")


def _missing(exc: BaseException) -> bool:
    code = error_code(exc)
    return any(part in code for part in _NOT_FOUND)


def instance_ids_by_token(ec2: Any, token: str, run_id: str) -> list[str]:
    response = ec2.describe_instances(
        Filters=[{"Name": f"tag:{INSTANCE_TOKEN_TAG}", "Values": [token]},
                 {"Name": f"tag:{OWNER_TAG}", "Values": [run_id]}]
    )
    return [
        instance["InstanceId"]
        for reservation in response.get("Reservations", [])
        for instance in reservation.get("Instances", [])
        if instance.get("State", {}).get("Name") != "terminated"
    ]


def terminate_instances(ec2: Any, instance_ids: list[str], polling: Polling,
                        ctx: Context | None = None) -> None:
    """Terminate and wait until terminated (so the security group can go)."""
    if not instance_ids:
        return
    try:
        ec2.terminate_instances(InstanceIds=instance_ids)
    except botocore.exceptions.ClientError as exc:
        if _missing(exc):
            return
        raise AwsError(f"terminating instance {', '.join(instance_ids)}: {describe_error(exc)}") from None
    for instance_id in instance_ids:
        wait_until(ctx or Context(), polling, f"instance {instance_id}", "terminated",
                   functools.partial(_instance_state, ec2, instance_id))


def _instance_state(ec2: Any, instance_id: str) -> str:
    try:
        response = ec2.describe_instances(InstanceIds=[instance_id])
    except botocore.exceptions.ClientError as exc:
        if _missing(exc):
            return "terminated"
        raise
    for reservation in response.get("Reservations", []):
        for instance in reservation.get("Instances", []):
            return str(instance["State"]["Name"])
    return "terminated"


def delete_key_pair(ec2: Any, name: str) -> None:
    try:
        ec2.delete_key_pair(KeyName=name)
    except botocore.exceptions.ClientError as exc:
        if not _missing(exc):
            raise AwsError(f"deleting key pair {name}: {describe_error(exc)}") from None


def delete_security_group(ec2: Any, group_name: str, vpc_id: str = "", group_id: str = "",
                          timeout: float = 120.0) -> None:
    """Delete by id, or by (unique) name; retry while instances still use it."""
    if not group_id:
        filters = [{"Name": "group-name", "Values": [group_name]}]
        if vpc_id:
            filters.append({"Name": "vpc-id", "Values": [vpc_id]})
        groups = ec2.describe_security_groups(Filters=filters).get("SecurityGroups", [])
        if not groups:
            return
        group_id = groups[0]["GroupId"]
    deadline = time.monotonic() + timeout
    while True:
        try:
            ec2.delete_security_group(GroupId=group_id)
            return
        except botocore.exceptions.ClientError as exc:
            if _missing(exc):
                return
            # A terminating instance keeps the group in use for a while.
            if error_code(exc) == "DependencyViolation" and time.monotonic() < deadline:
                time.sleep(2)
                continue
            raise AwsError(f"deleting security group {group_id}: {describe_error(exc)}") from None


def delete_launch_template(ec2: Any, template_id: str) -> None:
    try:
        ec2.delete_launch_template(LaunchTemplateId=template_id)
    except botocore.exceptions.ClientError as exc:
        if not _missing(exc):
            raise AwsError(f"deleting launch template {template_id}: {describe_error(exc)}") from None


def spot_request_ids(ec2: Any, instance: dict[str, Any]) -> list[str]:
    """The Spot request behind ``instance`` (EC2 names it on the instance;
    moto does not, so the requests are searched for the instance's id)."""
    if instance.get("SpotInstanceRequestId"):
        return [str(instance["SpotInstanceRequestId"])]
    requests = ec2.describe_spot_instance_requests().get("SpotInstanceRequests", [])
    return [r["SpotInstanceRequestId"] for r in requests if r.get("InstanceId") == instance["InstanceId"]]


def cancel_spot_requests(ec2: Any, request_ids: list[str]) -> None:
    """Cancel Spot requests (a one-time request of a terminated instance is
    closed already: cancelling it changes nothing)."""
    try:
        ec2.cancel_spot_instance_requests(SpotInstanceRequestIds=request_ids)
    except botocore.exceptions.ClientError as exc:
        if not _missing(exc):
            raise AwsError(f"cancelling spot request {', '.join(request_ids)}: {describe_error(exc)}") from None


def delete_temporary_instance_profile(iam: Any, name: str) -> None:
    """Undo what a temporary instance profile took: the role leaves the
    profile, the profile goes, the role's inline policy and the role go
    (each step skipped when already done)."""
    steps = [
        ("removing role from instance profile", iam.remove_role_from_instance_profile,
         {"InstanceProfileName": name, "RoleName": name}),
        ("deleting instance profile", iam.delete_instance_profile, {"InstanceProfileName": name}),
        ("deleting role policy", iam.delete_role_policy, {"RoleName": name, "PolicyName": name}),
        ("deleting role", iam.delete_role, {"RoleName": name}),
    ]
    for what, method, params in steps:
        try:
            method(**params)
        except botocore.exceptions.ClientError as exc:
            if not _missing(exc):
                raise AwsError(f"{what} {name}: {describe_error(exc)}") from None


def image_ids_by_name(ec2: Any, name: str, run_id: str) -> list[str]:
    """AMIs named ``name`` that this run created (its owner tag)."""
    response = ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [name]},
                                                             {"Name": f"tag:{OWNER_TAG}", "Values": [run_id]}])
    return [image["ImageId"] for image in response.get("Images", [])]


# -- cleaners for `bakehouse cleanup` -------------------------------------


def _client(entry: JournalEntry) -> Any:
    return Connection.from_journal(entry.details).client(str(entry.details["region"]))


def clean_instance(entry: JournalEntry) -> None:
    ec2 = _client(entry)
    if entry.resource_id.startswith("i-"):
        try:
            response = ec2.describe_instances(InstanceIds=[entry.resource_id])
        except botocore.exceptions.ClientError as exc:
            if _missing(exc):
                return
            raise AwsError(f"describing instance {entry.resource_id}: {describe_error(exc)}") from None
        instances = [i for r in response.get("Reservations", []) for i in r.get("Instances", [])]
        for instance in instances:
            _check_owner(f"instance {entry.resource_id}", instance.get("Tags"), entry.run_id)
        ids = [i["InstanceId"] for i in instances if i.get("State", {}).get("Name") != "terminated"]
    else:
        ids = instance_ids_by_token(ec2, entry.resource_id, entry.run_id)
    terminate_instances(ec2, ids, Polling(delay_seconds=2, max_attempts=150))


def clean_key_pair(entry: JournalEntry) -> None:
    ec2 = _client(entry)
    try:
        pairs = ec2.describe_key_pairs(KeyNames=[entry.resource_id]).get("KeyPairs", [])
    except botocore.exceptions.ClientError as exc:
        if _missing(exc):
            return
        raise AwsError(f"describing key pair {entry.resource_id}: {describe_error(exc)}") from None
    for pair in pairs:
        _check_owner(f"key pair {entry.resource_id}", pair.get("Tags"), entry.run_id)
    if pairs:
        delete_key_pair(ec2, entry.resource_id)


def clean_security_group(entry: JournalEntry) -> None:
    details = entry.details
    ec2 = _client(entry)
    group_id = str(details.get("group_id") or "")
    if group_id:
        filters = [{"Name": "group-id", "Values": [group_id]}]
    else:
        filters = [{"Name": "group-name", "Values": [entry.resource_id]}]
        if details.get("vpc_id"):
            filters.append({"Name": "vpc-id", "Values": [str(details["vpc_id"])]})
    groups = ec2.describe_security_groups(Filters=filters).get("SecurityGroups", [])
    for group in groups:
        _check_owner(f"security group {group['GroupId']} ({group.get('GroupName', '')})",
                     group.get("Tags"), entry.run_id)
        delete_security_group(ec2, entry.resource_id, group_id=group["GroupId"])


def clean_image(entry: JournalEntry) -> None:
    ec2 = _client(entry)
    if entry.resource_id.startswith("ami-"):
        image = describe_image(ec2, entry.resource_id)
        if image is None:
            return
        _check_owner(f"AMI {entry.resource_id}", image.get("Tags"), entry.run_id)
        ids = [entry.resource_id]
    else:
        ids = image_ids_by_name(ec2, entry.resource_id, entry.run_id)
    for image_id in ids:
        delete_image(ec2, image_id)


def clean_launch_template(entry: JournalEntry) -> None:
    ec2 = _client(entry)
    try:
        templates = ec2.describe_launch_templates(
            LaunchTemplateNames=[entry.resource_id]).get("LaunchTemplates", [])
    except botocore.exceptions.ClientError as exc:
        if _missing(exc):
            return
        raise AwsError(f"describing launch template {entry.resource_id}: {describe_error(exc)}") from None
    for template in templates:
        _check_owner(f"launch template {template['LaunchTemplateId']} ({entry.resource_id})",
                     template.get("Tags"), entry.run_id)
        delete_launch_template(ec2, template["LaunchTemplateId"])


def clean_instance_profile(entry: JournalEntry) -> None:
    iam = Connection.from_journal(entry.details).client(str(entry.details["region"]), "iam")
    found = False
    for what, method, params, key in (
        ("IAM role", iam.get_role, {"RoleName": entry.resource_id}, "Role"),
        ("IAM instance profile", iam.get_instance_profile,
         {"InstanceProfileName": entry.resource_id}, "InstanceProfile"),
    ):
        try:
            resource = method(**params)[key]
        except botocore.exceptions.ClientError as exc:
            if _missing(exc):
                continue
            raise AwsError(f"describing {what} {entry.resource_id}: {describe_error(exc)}") from None
        found = True
        _check_owner(f"{what} {entry.resource_id}", resource.get("Tags"), entry.run_id)
    if found:
        delete_temporary_instance_profile(iam, entry.resource_id)


def owned_key_dir(path: str) -> bool:
    """A temporary key directory as this plugin makes them: an absolute path
    named with its prefix, a real directory (not a link) of this user, holding
    nothing but ``ec2_*.pem`` key files."""
    import os
    import stat

    if not os.path.isabs(path) or not os.path.basename(path).startswith(KEY_DIR_PREFIX):
        return False
    try:
        info = os.lstat(path)
        names = os.listdir(path) if stat.S_ISDIR(info.st_mode) else []
    except FileNotFoundError:
        return True  # already gone: nothing to delete either way
    except OSError:
        return False
    return (stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid()
            and all(name.startswith("ec2_") and name.endswith(".pem") for name in names))


def clean_key_dir(entry: JournalEntry) -> None:
    if not owned_key_dir(entry.resource_id):
        raise NotOurs(f"refusing to delete directory {entry.resource_id}: it is not a temporary "
                      f"key directory as Bakehouse makes them ({KEY_DIR_PREFIX}*, holding only "
                      "ec2_*.pem files)")
    shutil.rmtree(entry.resource_id, ignore_errors=True)


def register_cleaners() -> None:
    register_cleaner(KIND_INSTANCE, clean_instance)
    register_cleaner(KIND_KEY_PAIR, clean_key_pair)
    register_cleaner(KIND_SECURITY_GROUP, clean_security_group)
    register_cleaner(KIND_IMAGE, clean_image)
    register_cleaner(KIND_KEY_DIR, clean_key_dir)
    register_cleaner(KIND_LAUNCH_TEMPLATE, clean_launch_template)
    register_cleaner(KIND_IAM_INSTANCE_PROFILE, clean_instance_profile)
