"""Finding AMIs: shared by ``source_ami_filter`` and the ``amazon-ami`` data source."""

from __future__ import annotations

from typing import Any

import botocore.exceptions

from bakehouse_plugin_aws.config import AmiFilter
from bakehouse_plugin_aws.ec2 import (
    AwsError,
    call,
    describe_error,
    error_code,
    filters_to_api,
    tags_dict,
)


def find_image(ec2: Any, image_filter: AmiFilter | None, source_ami: str = "") -> dict[str, Any]:
    """The one AMI matching ``source_ami`` and/or the filter (newest when ``most_recent``)."""
    params: dict[str, Any] = {}
    filters = dict(image_filter.filters) if image_filter else {}
    if source_ami:
        params["ImageIds"] = [source_ami]
    if filters:
        params["Filters"] = filters_to_api(filters)
    if image_filter and image_filter.owners:
        params["Owners"] = list(image_filter.owners)
    if image_filter and image_filter.include_deprecated:
        params["IncludeDeprecated"] = True
    what = f"looking up source AMI {source_ami}" if source_ami else "looking up AMIs"
    images = call(what, ec2.describe_images, **params).get("Images", [])
    if not images:
        described = source_ami or ", ".join(
            f"{name}={value}" for name, value in sorted(filters.items())
        )
        owners = f" (owners: {', '.join(image_filter.owners)})" if image_filter and image_filter.owners else ""
        raise AwsError(f"No AMI was found matching filters: {described}{owners}")
    if len(images) > 1 and not (image_filter and image_filter.most_recent):
        raise AwsError(
            f"Your query returned more than one result ({len(images)} AMIs). Please try a more "
            "specific search, or set most_recent to true."
        )
    # ISO 8601 timestamps sort chronologically as strings; the id breaks ties.
    return max(images, key=lambda image: (image.get("CreationDate", ""), image.get("ImageId", "")))


def image_outputs(image: dict[str, Any]) -> dict[str, Any]:
    """The ``amazon-ami`` data source outputs (Packer's names)."""
    return {
        "id": image.get("ImageId", ""),
        "name": image.get("Name", ""),
        "creation_date": image.get("CreationDate", ""),
        "owner": image.get("OwnerId", ""),
        "owner_name": image.get("ImageOwnerAlias", ""),
        "description": image.get("Description", ""),
        "architecture": image.get("Architecture", ""),
        "root_device_name": image.get("RootDeviceName", ""),
        "root_device_type": image.get("RootDeviceType", ""),
        "virtualization_type": image.get("VirtualizationType", ""),
        "tags": tags_dict(image.get("Tags")),
    }


def image_snapshots(image: dict[str, Any]) -> list[str]:
    """EBS snapshot ids backing ``image``."""
    return [
        mapping["Ebs"]["SnapshotId"]
        for mapping in image.get("BlockDeviceMappings", [])
        if mapping.get("Ebs", {}).get("SnapshotId")
    ]


def describe_image(ec2: Any, image_id: str) -> dict[str, Any] | None:
    """The AMI, or None when it does not exist (any more)."""
    try:
        images = ec2.describe_images(ImageIds=[image_id]).get("Images", [])
    except botocore.exceptions.ClientError as exc:
        if error_code(exc).startswith("InvalidAMIID"):
            return None
        raise AwsError(f"describing AMI {image_id}: {describe_error(exc)}") from None
    return images[0] if images else None


def delete_image(ec2: Any, image_id: str, *, delete_snapshots: bool = True) -> list[str]:
    """Deregister ``image_id`` and (optionally) delete its snapshots; return the snapshot ids."""
    image = describe_image(ec2, image_id)
    if image is None:
        return []
    snapshots = image_snapshots(image)
    call(f"deregistering AMI {image_id}", ec2.deregister_image, ImageId=image_id)
    if delete_snapshots:
        for snapshot in snapshots:
            call(f"deleting snapshot {snapshot} of AMI {image_id}", ec2.delete_snapshot,
                 SnapshotId=snapshot)
    return snapshots
