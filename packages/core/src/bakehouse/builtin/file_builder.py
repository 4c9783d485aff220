"""The ``file`` builder: writes ``content`` (or copies ``source``) to ``target``.

Useful to test post-processors without building a machine, as in Packer.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

from pydantic import model_validator

from bakehouse.sdk.artifact import SimpleArtifact
from bakehouse.sdk.components import Builder, BuildInfo, Hook, PrepareResult
from bakehouse.sdk.config import Config
from bakehouse.sdk.context import Context
from bakehouse.sdk.ui import Ui

BUILDER_ID = "packer.file"
_COPY_CHUNK = 1024 * 1024


class FileBuilderConfig(Config):
    source: str = ""
    content: str | None = None
    target: str

    @model_validator(mode="after")
    def _one_input(self) -> FileBuilderConfig:
        if self.source and self.content is not None:
            raise ValueError("only one of source or content may be set")
        if not self.source and self.content is None:
            raise ValueError("source or content must be set")
        if self.source and not os.path.isfile(self.source):
            raise ValueError(f"source file {self.source!r} does not exist")
        return self


class FileArtifact(SimpleArtifact):
    def destroy(self) -> None:
        for path in self.files:
            try:
                os.remove(path)
            except FileNotFoundError:
                pass


class FileBuilder(Builder):
    config_schema = FileBuilderConfig
    config: FileBuilderConfig

    def prepare(self, config: dict[str, Any], build: BuildInfo) -> PrepareResult:
        super().prepare(config, build)
        return PrepareResult()

    def run(self, ui: Ui, hook: Hook, ctx: Context) -> FileArtifact:
        target = self.config.target
        directory = os.path.dirname(target)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if self.config.source:
            ui.say(f"Copying {self.config.source} to {target}")
            with open(self.config.source, "rb") as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, _COPY_CHUNK)
        else:
            ui.say(f"Writing content to {target}")
            with open(target, "w", encoding="utf-8") as fh:
                fh.write(self.config.content or "")
        ctx.check()
        # As Packer's: the id is the word "File", the target is the artifact's file.
        return FileArtifact(BUILDER_ID, "File", f"Stored file: {target}", [target])
