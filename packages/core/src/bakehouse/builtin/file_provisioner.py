"""The ``file`` provisioner: copies files and directories through the communicator.

``direction = "upload"`` (default) copies ``source``/``sources``/``content``
from this machine to ``destination`` on the machine being built;
``"download"`` copies ``source`` from it to the local ``destination``. Files
move as streams, so memory stays flat whatever their size. As in Packer: a
destination ending in ``/`` is a directory; a source directory ending in
``/`` copies its contents, without it the directory itself.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from bakehouse.sdk.communicator import Communicator, FileInfo
from bakehouse.sdk.components import BuildInfo, Provisioner
from bakehouse.sdk.context import Context
from bakehouse.sdk.plain import options_model, parse_plain
from bakehouse.sdk.problems import ConfigError
from bakehouse.sdk.progress import ProgressReader, ProgressWriter
from bakehouse.sdk.ui import Ui

if TYPE_CHECKING:
    from bakehouse.sdk.config import Config


@dataclass
class FileOptions:
    """Options of the ``file`` provisioner, checked without pydantic when they
    are plainly valid (see :mod:`bakehouse.sdk.plain`): the core runs this
    provisioner itself, and a docker build's core would import pydantic for it
    alone. Their model (:func:`_documented`) documents them and reports mistakes."""

    destination: str
    source: str = ""
    sources: list[str] = field(default_factory=list)
    content: str | None = None
    direction: Literal["upload", "download"] = "upload"
    generated: bool = False


def input_problem(options: FileOptions) -> str | None:
    """What is wrong with the combination of inputs (the model's rule too), or None."""
    given = sum(bool(x) for x in (options.source, options.sources, options.content is not None))
    if given == 0:
        return "one of source, sources or content must be set"
    if given > 1:
        return "only one of source, sources or content may be set"
    if options.direction == "download" and (options.sources or options.content is not None):
        return "downloads take a single source"
    if options.sources and not options.destination.endswith("/"):
        return "destination must be a directory (end with /) when using sources"
    return None


@cache
def _documented() -> type[Config]:
    return options_model(FileOptions, rule=input_problem)


class FileProvisioner(Provisioner):
    config: FileOptions

    @classmethod
    def documented_schema(cls) -> type[Config]:
        return _documented()

    def _parse(self, raw: dict[str, Any]) -> FileOptions:
        self.config = parse_plain(FileOptions, raw, _documented, accept=lambda o: input_problem(o) is None)
        return self.config

    def prepare(self, config: dict[str, Any], build: BuildInfo) -> None:
        super().prepare(config, build)
        cfg = self.config
        if cfg.direction == "upload" and not cfg.generated:
            for index, path in enumerate(cfg.sources or ([cfg.source] if cfg.source else [])):
                if not os.path.exists(path):
                    where: tuple[str | int, ...] = (
                        ("sources", index) if cfg.sources else ("source",)
                    )
                    raise ConfigError.single(
                        f"Bad source {path!r}: no such file or directory", *where
                    )

    def provision(
        self, ui: Ui, communicator: Communicator | None, generated: dict[str, Any], ctx: Context
    ) -> None:
        if communicator is None:
            raise RuntimeError(
                "the file provisioner needs a communicator, but this build has none "
                '(communicator = "none")'
            )
        cfg = self.config
        if cfg.direction == "download":
            self._download(ui, communicator, cfg.source, cfg.destination)
            return
        if cfg.content is not None:
            ui.say(f"Uploading content => {cfg.destination}")
            data = cfg.content.encode("utf-8")
            communicator.upload(cfg.destination, io.BytesIO(data), FileInfo(size=len(data)))
            return
        for source in cfg.sources or [cfg.source]:
            ctx.check()
            self._upload(ui, communicator, source, cfg.destination)

    @staticmethod
    def _upload(ui: Ui, communicator: Communicator, source: str, destination: str) -> None:
        ui.say(f"Uploading {source} => {destination}")
        if os.path.isdir(source):
            communicator.upload_dir(destination, source)
            return
        if destination.endswith("/"):
            destination = destination + os.path.basename(source)
        stat = os.stat(source)
        with open(source, "rb") as fh:
            reader = ProgressReader(fh, ui, f"Uploading {os.path.basename(source)}", stat.st_size)
            communicator.upload(
                destination, reader, FileInfo(size=stat.st_size, mode=stat.st_mode & 0o7777)  # type: ignore[arg-type]
            )

    @staticmethod
    def _download(ui: Ui, communicator: Communicator, source: str, destination: str) -> None:
        ui.say(f"Downloading {source} => {destination}")
        if source.endswith("/"):
            os.makedirs(destination, exist_ok=True)
            communicator.download_dir(source, destination)
            return
        if destination.endswith("/") or os.path.isdir(destination):
            os.makedirs(destination, exist_ok=True)
            destination = os.path.join(destination, os.path.basename(source))
        parent = os.path.dirname(destination)
        if parent:
            os.makedirs(parent, exist_ok=True)
        with open(destination, "wb") as fh:
            writer = ProgressWriter(fh, ui, f"Downloading {os.path.basename(source)}")
            try:
                communicator.download(source, writer)  # type: ignore[arg-type]
            finally:
                writer.finish()
