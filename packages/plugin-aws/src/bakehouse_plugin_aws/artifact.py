"""The ``amazon-ebs`` artifact: one AMI per region."""

from __future__ import annotations

from typing import Any

from bakehouse.sdk import Artifact

from bakehouse_plugin_aws.ec2 import Connection
from bakehouse_plugin_aws.images import delete_image

#: Packer's builder id for amazon-ebs, so post-processors written for Packer's
#: artifacts recognise ours.
BUILDER_ID = "mitchellh.amazonebs"


class AmiArtifact(Artifact):
    """AMIs by region; ``destroy`` deregisters them and deletes their snapshots."""

    def __init__(self, amis: dict[str, str], connection: Connection,
                 generated: dict[str, Any] | None = None) -> None:
        self.amis = dict(amis)
        self.connection = connection
        self.generated = dict(generated or {})

    @property
    def builder_id(self) -> str:
        return BUILDER_ID

    @property
    def id(self) -> str:
        return ",".join(f"{region}:{ami}" for region, ami in sorted(self.amis.items()))

    def string(self) -> str:
        lines = [f"{region}: {ami}" for region, ami in sorted(self.amis.items())]
        return "AMIs were created:\n" + "\n".join(lines) + "\n"

    def state(self, name: str) -> Any:
        if name == "atlas.artifact.ami_map":
            return dict(self.amis)
        if name == "generated_data":
            return dict(self.generated)
        return None

    def destroy(self) -> None:
        errors = []
        for region, ami in sorted(self.amis.items()):
            try:
                delete_image(self.connection.client(region), ami)
            except Exception as exc:  # keep destroying the other regions
                errors.append(f"{region}: {ami}: {exc}")
        if errors:
            raise RuntimeError("error destroying AMIs: " + "; ".join(errors))
