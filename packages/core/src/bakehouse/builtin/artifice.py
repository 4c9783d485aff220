"""The ``artifice`` post-processor: turns files made during the build into the artifact."""

from __future__ import annotations

from bakehouse.sdk.artifact import Artifact, SimpleArtifact
from bakehouse.sdk.components import PostProcessor
from bakehouse.sdk.config import Config
from bakehouse.sdk.context import Context
from bakehouse.sdk.ui import Ui

BUILDER_ID = "packer.post-processor.artifice"


class ArtificeConfig(Config):
    files: list[str]
    keep_input_artifact: bool | None = None


class ArtificePostProcessor(PostProcessor):
    config_schema = ArtificeConfig
    config: ArtificeConfig

    def post_process(self, ui: Ui, artifact: Artifact, ctx: Context) -> tuple[Artifact, bool, bool]:
        files = list(self.config.files)
        if not files:
            raise RuntimeError("no files given to artifice")
        ui.say("Creating artifact from files: " + ", ".join(files))
        result = SimpleArtifact(
            BUILDER_ID, ", ".join(files), "Created artifact from files: " + ", ".join(files), files
        )
        return result, False, False
