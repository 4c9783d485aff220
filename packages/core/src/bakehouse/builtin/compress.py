"""The ``compress`` post-processor: packs the artifact's files into one archive.

The format follows the output's extension: ``.tar.gz``/``.tgz``, ``.tar``,
``.zip``, ``.gz`` (a single file). Files are streamed, never read whole.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tarfile
import zipfile
from typing import Any

from pydantic import field_validator

from bakehouse.builtin._placeholders import expand
from bakehouse.sdk.artifact import Artifact, SimpleArtifact
from bakehouse.sdk.components import BuildInfo, PostProcessor
from bakehouse.sdk.config import Config, ConfigError
from bakehouse.sdk.context import Context
from bakehouse.sdk.ui import Ui

BUILDER_ID = "packer.post-processor.compress"
_CHUNK = 1024 * 1024


class CompressConfig(Config):
    output: str = "packer_{{.BuildName}}_{{.BuilderType}}.tar.gz"
    compression_level: int = 6
    format: str = ""
    keep_input_artifact: bool | None = None

    @field_validator("compression_level")
    @classmethod
    def _level(cls, value: int) -> int:
        if value == -1:
            return 6
        if not 0 <= value <= 9:
            raise ValueError("compression_level must be between 0 and 9 (or -1 for the default)")
        return value


_FORMATS = ("tar.gz", "tar", "zip", "gz")


def _format_of(output: str, explicit: str) -> str:
    if explicit:
        if explicit not in _FORMATS:
            raise ValueError(f"unknown format {explicit!r} (known: {', '.join(_FORMATS)})")
        return explicit
    for suffix, kind in (
        (".tar.gz", "tar.gz"),
        (".tgz", "tar.gz"),
        (".tar", "tar"),
        (".zip", "zip"),
        (".gz", "gz"),
    ):
        if output.endswith(suffix):
            return kind
    raise ValueError(
        f"cannot tell the archive format of {output!r}: use .tar.gz, .tgz, .tar, .zip or .gz"
    )


class CompressPostProcessor(PostProcessor):
    config_schema = CompressConfig
    config: CompressConfig

    def prepare(self, config: dict[str, Any], build: BuildInfo) -> None:
        super().prepare(config, build)
        try:
            _format_of(self._output(), self.config.format)
        except ValueError as exc:
            raise ConfigError.single(str(exc), "format" if self.config.format else "output") from None

    def _output(self) -> str:
        return expand(
            self.config.output,
            {"BuildName": self.build.name, "BuilderType": self.build.builder_type},
        )

    def post_process(self, ui: Ui, artifact: Artifact, ctx: Context) -> tuple[Artifact, bool, bool]:
        output = self._output()
        kind = _format_of(output, self.config.format)
        files = artifact.files
        if not files:
            raise RuntimeError("the artifact has no files to compress")
        directory = os.path.dirname(output)
        if directory:
            os.makedirs(directory, exist_ok=True)
        ui.say(f"Compressing {len(files)} file(s) into {output}")
        level = self.config.compression_level
        if kind == "gz":
            if len(files) != 1:
                raise RuntimeError(".gz holds a single file; use .tar.gz for several")
            with open(files[0], "rb") as src, gzip.open(output, "wb", compresslevel=level) as dst:
                shutil.copyfileobj(src, dst, _CHUNK)
        elif kind == "zip":
            with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
                for path in files:
                    ctx.check()
                    archive.write(path, os.path.basename(path))
        else:
            archive_file = (
                tarfile.open(output, "w:gz", compresslevel=level)
                if kind == "tar.gz"
                else tarfile.open(output, "w")
            )
            with archive_file as archive:
                for path in files:
                    ctx.check()
                    archive.add(path, os.path.basename(path))
        result = SimpleArtifact(BUILDER_ID, output, f"compressed artifacts in: {output}", [output])
        return result, False, False
