"""Artifacts of the docker builder and post-processors, with Packer's ids and texts.

Packer's builder ids are kept so that templates chaining Packer's docker
post-processors behave the same: a committed image carries the docker-import
id (that is what ``docker-tag``/``docker-push`` accept), an exported tar the
builder's own id (what ``docker-import`` accepts).
"""

from __future__ import annotations

import os
from typing import Any

from bakehouse.sdk import Artifact

from bakehouse_plugin_docker import engine

BUILDER_ID = "packer.docker"
IMPORT_BUILDER_ID = "packer.post-processor.docker-import"
TAG_BUILDER_ID = "packer.post-processor.docker-tag"
ARTIFICE_BUILDER_ID = "packer.post-processor.artifice"


class ImageArtifact(Artifact):
    """An image on the local engine, known by id or ``repository:tag``."""

    def __init__(self, image: str, builder_id: str = IMPORT_BUILDER_ID, state: dict[str, Any] | None = None) -> None:
        self._image = image
        self._builder_id = builder_id
        self._state = dict(state or {})

    @property
    def builder_id(self) -> str:
        return self._builder_id

    @property
    def id(self) -> str:
        return self._image

    def string(self) -> str:
        return f"Imported Docker image: {self._image}"

    def state(self, name: str) -> Any:
        return self._state.get(name)

    def destroy(self) -> None:
        engine.remove_image(engine.shared_client(), self._image)


class ExportArtifact(Artifact):
    """The container's filesystem exported to a tar file."""

    def __init__(self, path: str, state: dict[str, Any] | None = None) -> None:
        self._path = path
        self._state = dict(state or {})

    @property
    def builder_id(self) -> str:
        return BUILDER_ID

    @property
    def id(self) -> str:
        return self._path

    @property
    def files(self) -> list[str]:
        return [self._path]

    def string(self) -> str:
        return f"Exported Docker file: {self._path}"

    def state(self, name: str) -> Any:
        return self._state.get(name)

    def destroy(self) -> None:
        try:
            os.remove(self._path)
        except FileNotFoundError:
            pass
