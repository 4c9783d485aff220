"""What the steps share: typed access to the state bag, tagging and
journal records, and the bookkeeping of the AMIs a build makes.
"""

from __future__ import annotations

from typing import Any

from bakehouse.sdk import (
    Journal,
    JournalEntry,
    StateBag,
)

from bakehouse_plugin_aws.config import AmazonEBSConfig
from bakehouse_plugin_aws.ec2 import (
    AwsError,
    Connection,
    call,
    tag_list,
    wait_until,
)
from bakehouse_plugin_aws.images import (
    delete_image,
    describe_image,
)
from bakehouse_plugin_aws.resources import (
    KIND_IMAGE,
    OWNER_TAG,
    owner_tags,
    tag_specification,
)


def config_of(state: StateBag) -> AmazonEBSConfig:
    config: AmazonEBSConfig = state["config"]
    return config


def journal_of(state: StateBag) -> Journal:
    journal: Journal = state["journal"]
    return journal


def connection_of(state: StateBag) -> Connection:
    connection: Connection = state["connection"]
    return connection


def build_failed(state: StateBag) -> bool:
    return bool(state.get("error") is not None or state.get("halted") or state.get("cancelled"))


def run_id_of(state: StateBag) -> str:
    return journal_of(state).run_id


def tag_specifications(state: StateBag, resource_type: str, tags: dict[str, str]) -> dict[str, Any]:
    """``TagSpecifications`` for a create call: the user's tags and the run's ownership tag."""
    return {"TagSpecifications": [tag_specification(resource_type, run_id_of(state), tag_list(tags))]}


def record(state: StateBag, kind: str, resource_id: str, region: str, **details: Any) -> JournalEntry:
    return journal_of(state).record(
        kind, resource_id, **connection_of(state).journal_details(region), **details
    )


def client_for(state: StateBag, region: str) -> Any:
    """The EC2 client of ``region`` (the build region's is ``state["ec2"]``)."""
    if region == config_of(state).region:
        return state["ec2"]
    return connection_of(state).client(region)


def describe_instance(ec2: Any, instance_id: str) -> dict[str, Any]:
    response = call(f"describing instance {instance_id}", ec2.describe_instances,
                    InstanceIds=[instance_id])
    for reservation in response.get("Reservations", []):
        for instance in reservation.get("Instances", []):
            return dict(instance)
    raise AwsError(f"instance {instance_id} not found")


def wait_image(state: StateBag, ec2: Any, image_id: str, region: str) -> dict[str, Any]:
    def probe() -> str:
        image = describe_image(ec2, image_id)
        return str(image.get("State", "pending")) if image else "pending"

    wait_until(state.ctx, config_of(state).aws_polling, f"AMI {image_id} ({region})", "available",
               probe, failed_states=("failed", "error", "deregistered"))
    image = describe_image(ec2, image_id)
    if image is None:
        raise AwsError(f"AMI {image_id} ({region}) disappeared")
    return image


class ImageTracker:
    """Journal bookkeeping for AMIs the build makes: recorded by name before
    the create/copy call, by id after, forgotten when the build succeeded,
    deregistered (with snapshots) when it did not."""

    def __init__(self) -> None:
        self.entries: list[JournalEntry] = []
        self.images: dict[str, str] = {}  # region -> AMI id

    def before(self, state: StateBag, region: str) -> None:
        self.entries.append(record(state, KIND_IMAGE, config_of(state).ami_name, region))

    def after(self, state: StateBag, region: str, image_id: str, copied_with: Any = None) -> None:
        self.images[region] = image_id
        self.entries.append(record(state, KIND_IMAGE, image_id, region))
        if copied_with is not None:
            # CopyImage does not carry tags over: mark the copy as this run's at once.
            call(f"tagging AMI {image_id} ({region})", copied_with.create_tags,
                 Resources=[image_id], Tags=owner_tags(run_id_of(state)))

    def cleanup(self, state: StateBag, what: str) -> None:
        if build_failed(state):
            for region, image_id in self.images.items():
                state.ui.say(f"Deregistering the {what} AMI {image_id} ({region}) because of "
                             "cancellation or error...")
                ec2 = client_for(state, region)
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
                ec2 = client_for(state, region)
                try:
                    ec2.delete_tags(Resources=[image_id], Tags=[{"Key": OWNER_TAG}])
                except Exception as exc:  # cosmetic: never fail a finished build for it
                    state.ui.error(f"Could not remove the tag {OWNER_TAG} from {image_id}: {exc}")
        for entry in self.entries:
            journal_of(state).forget(entry)
