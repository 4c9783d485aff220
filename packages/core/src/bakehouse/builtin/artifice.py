"""The ``artifice`` post-processor: turns files made during the build into the artifact.

As Packer: each entry of ``files`` is a glob, every match must exist, and the
input artifact is kept (``keep_input_artifact = false`` discards it).
"""

from __future__ import annotations

import glob
import os
from typing import Any

from bakehouse.builtin._files_artifact import FilesArtifact
from bakehouse.sdk.artifact import Artifact
from bakehouse.sdk.components import BuildInfo, PostProcessor
from bakehouse.sdk.config import Config, ConfigError
from bakehouse.sdk.context import Context
from bakehouse.sdk.ui import Ui

BUILDER_ID = "packer.post-processor.artifice"


class ArtificeConfig(Config):
    files: list[str]


class ArtificePostProcessor(PostProcessor):
    config_schema = ArtificeConfig
    config: ArtificeConfig

    def prepare(self, config: dict[str, Any], build: BuildInfo) -> None:
        super().prepare(config, build)
        if not self.config.files:  # Packer checks it when configuring, too
            raise ConfigError.single("No files specified in artifice configuration", "files")

    def post_process(self, ui: Ui, artifact: Artifact, ctx: Context) -> tuple[Artifact, bool, bool]:
        if artifact.files:
            ui.say("Discarding files from artifact: " + ", ".join(artifact.files))
        files: list[str] = []
        for pattern in self.config.files:
            files.extend(sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern])
        missing = [path for path in files if not os.path.exists(path)]
        if missing:
            raise RuntimeError("artifice: no such file: " + ", ".join(missing))
        ui.say("Using these artifact files: " + ", ".join(files))
        text = "Created artifact from files: " + ", ".join(files)
        return FilesArtifact(BUILDER_ID, files, text), True, False
