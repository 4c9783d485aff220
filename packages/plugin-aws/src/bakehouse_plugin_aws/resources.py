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
from bakehouse_plugin_aws.images import delete_image

PLUGIN = "bakehouse-plugin-aws"

KIND_INSTANCE = "ec2-instance"
KIND_KEY_PAIR = "ec2-key-pair"
KIND_SECURITY_GROUP = "ec2-security-group"
KIND_IMAGE = "ec2-image"
KIND_KEY_DIR = "aws-temporary-key-dir"

#: Tag put on the temporary instance so a leftover is found even when the
#: run died between RunInstances and recording the instance id.
INSTANCE_TOKEN_TAG = "bakehouse:instance-token"

_NOT_FOUND = ("NotFound", "InvalidGroup.NotFound", "InvalidKeyPair.NotFound", "InvalidInstanceID")


def _missing(exc: BaseException) -> bool:
    code = error_code(exc)
    return any(part in code for part in _NOT_FOUND)


def instance_ids_by_token(ec2: Any, token: str) -> list[str]:
    response = ec2.describe_instances(
        Filters=[{"Name": f"tag:{INSTANCE_TOKEN_TAG}", "Values": [token]}]
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


def image_ids_by_name(ec2: Any, name: str) -> list[str]:
    """AMIs named ``name``: the pre-validate step made sure none existed
    before the build, so these are the build's own."""
    response = ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [name]}])
    return [image["ImageId"] for image in response.get("Images", [])]


# -- cleaners for `bakehouse cleanup` -------------------------------------


def _client(entry: JournalEntry) -> Any:
    return Connection.from_journal(entry.details).client(str(entry.details["region"]))


def clean_instance(entry: JournalEntry) -> None:
    ec2 = _client(entry)
    if entry.resource_id.startswith("i-"):
        ids = [entry.resource_id]
    else:
        ids = instance_ids_by_token(ec2, entry.resource_id)
    terminate_instances(ec2, ids, Polling(delay_seconds=2, max_attempts=150))


def clean_key_pair(entry: JournalEntry) -> None:
    delete_key_pair(_client(entry), entry.resource_id)


def clean_security_group(entry: JournalEntry) -> None:
    details = entry.details
    delete_security_group(_client(entry), entry.resource_id, str(details.get("vpc_id") or ""),
                          str(details.get("group_id") or ""))


def clean_image(entry: JournalEntry) -> None:
    ec2 = _client(entry)
    if entry.resource_id.startswith("ami-"):
        ids = [entry.resource_id]
    else:
        ids = image_ids_by_name(ec2, entry.resource_id)
    for image_id in ids:
        delete_image(ec2, image_id)


def clean_key_dir(entry: JournalEntry) -> None:
    shutil.rmtree(entry.resource_id, ignore_errors=True)


def register_cleaners() -> None:
    register_cleaner(KIND_INSTANCE, clean_instance)
    register_cleaner(KIND_KEY_PAIR, clean_key_pair)
    register_cleaner(KIND_SECURITY_GROUP, clean_security_group)
    register_cleaner(KIND_IMAGE, clean_image)
    register_cleaner(KIND_KEY_DIR, clean_key_dir)
