"""Copy the AMI to ami_regions."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bakehouse.sdk import (
    CONTINUE,
    Action,
    Cancelled,
    StateBag,
    Step,
)

from bakehouse_plugin_aws.ec2 import (
    AwsError,
    call,
)
from bakehouse_plugin_aws.images import (
    delete_image,
)
from bakehouse_plugin_aws.steps._common import (
    ImageTracker,
    config_of,
    connection_of,
    wait_image,
)


class StepAMIRegionCopy(Step):
    """Copy the AMI to ``ami_regions``, all regions in parallel."""

    name = "copy to regions"

    def __init__(self) -> None:
        self.tracker = ImageTracker()

    def run(self, state: StateBag) -> Action:
        config = config_of(state)
        if not config.ami_regions:
            return CONTINUE
        source_region = config.region
        source_id = state["amis"][source_region]
        state.ui.say(f"Copying/Encrypting AMI ({source_id}) to other regions...")

        def copy(region: str) -> tuple[str, str]:
            ec2 = connection_of(state).client(region)
            params: dict[str, Any] = {"SourceRegion": source_region, "SourceImageId": source_id,
                                      "Name": config.ami_name}
            if config.snapshot_copy_duration_minutes:
                params["SnapshotCopyCompletionDurationMinutes"] = config.snapshot_copy_duration_minutes
            if config.ami_description:
                params["Description"] = config.ami_description
            if config.encrypt_boot:
                params["Encrypted"] = True
                kms = config.region_kms_key_ids.get(region)
                if kms:
                    params["KmsKeyId"] = kms
            state.ui.message(f"Copying to: {region}")
            self.tracker.before(state, region)
            copy_id = call(f"copying AMI {source_id} to {region}", ec2.copy_image, **params)["ImageId"]
            self.tracker.after(state, region, copy_id, copied_with=ec2)
            state.ui.message(f"Waiting for AMI ({copy_id}) in region ({region}) to become ready...")
            wait_image(state, ec2, copy_id, region)
            return region, copy_id

        with ThreadPoolExecutor(max_workers=len(config.ami_regions)) as pool:
            futures = [pool.submit(copy, region) for region in config.ami_regions]
            errors = []
            for future in futures:
                try:
                    region, image_id = future.result()
                    state["amis"][region] = image_id
                except Exception as exc:  # collect every region's failure
                    errors.append(exc)
        if errors:
            cancelled = [e for e in errors if isinstance(e, Cancelled)]
            if cancelled:
                raise cancelled[0]
            raise AwsError("copying the AMI failed: " + "; ".join(str(e) for e in errors))
        if config.skip_save_build_region:
            build_image = state["amis"].pop(source_region)
            state.ui.say(f"Deregistering the AMI {build_image} in the build region {source_region} "
                         "(skip_save_build_region)")
            delete_image(state["ec2"], build_image, delete_snapshots=True)
        return CONTINUE

    def cleanup(self, state: StateBag) -> None:
        self.tracker.cleanup(state, "copied")
