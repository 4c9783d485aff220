"""The ``checksum`` post-processor: writes checksums of the artifact's files.

Each checksum type appends ``<hex digest>\t<file name>`` lines to its output
file (``packer_{{.BuildName}}_{{.BuilderType}}_{{.ChecksumType}}.checksum`` by
default). As Packer's, the artifact it returns holds the input artifact's files
and the checksum files it created, and the input artifact is always kept.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from pydantic import field_validator

from bakehouse.builtin._files_artifact import FilesArtifact
from bakehouse.builtin._placeholders import expand
from bakehouse.sdk.artifact import Artifact
from bakehouse.sdk.components import BuildInfo, PostProcessor
from bakehouse.sdk.config import Config, ConfigError
from bakehouse.sdk.context import Context
from bakehouse.sdk.ui import Ui

BUILDER_ID = "packer.post-processor.checksum"
SUPPORTED = ("md5", "sha1", "sha224", "sha256", "sha384", "sha512")
_CHUNK = 1024 * 1024


class ChecksumConfig(Config):
    checksum_types: list[str] = ["md5"]
    output: str = "packer_{{.BuildName}}_{{.BuilderType}}_{{.ChecksumType}}.checksum"

    @field_validator("checksum_types")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        for kind in value:
            if kind not in SUPPORTED:
                raise ValueError(
                    f"unrecognized checksum type {kind!r} (supported: {', '.join(SUPPORTED)})"
                )
        return value


class ChecksumPostProcessor(PostProcessor):
    config_schema = ChecksumConfig
    config: ChecksumConfig

    def prepare(self, config: dict[str, Any], build: BuildInfo) -> None:
        super().prepare(config, build)
        try:
            self._output_for("md5")
        except ValueError as exc:
            raise ConfigError.single(str(exc), "output") from None

    def _output_for(self, kind: str) -> str:
        return expand(
            self.config.output,
            {
                "BuildName": self.build.name,
                "BuilderType": self.build.builder_type,
                "ChecksumType": kind,
            },
        )

    def post_process(self, ui: Ui, artifact: Artifact, ctx: Context) -> tuple[Artifact, bool, bool]:
        files = artifact.files
        created: list[str] = []
        for kind in self.config.checksum_types:
            output = self._output_for(kind)
            if not os.path.exists(output) and output not in created:
                created.append(output)
            directory = os.path.dirname(output)
            if directory:
                os.makedirs(directory, exist_ok=True)
            with open(output, "a", encoding="utf-8") as out:
                for path in files:
                    ctx.check()
                    digest = hashlib.new(kind)
                    with open(path, "rb") as fh:
                        for chunk in iter(lambda: fh.read(_CHUNK), b""):
                            digest.update(chunk)
                    out.write(f"{digest.hexdigest()}\t{os.path.basename(path)}\n")
            ui.say(f"Wrote {kind} checksums to {output}")
        everything = [*files, *created]
        result = FilesArtifact(
            BUILDER_ID, everything, "Created artifact from files: " + ", ".join(everything)
        )
        # Packer forces keeping the input: never delete what was just checksummed.
        return result, True, True
