"""How ``bakehouse cleanup`` removes what a killed docker build left behind.

The builder journals every container and temporary directory before it uses
them (see ``steps.py``). When a run dies without cleaning up (``kill -9`` of
the core and its plugins), ``bakehouse cleanup`` hands each leftover entry to
this plugin, which removes the resource by the name it recorded.
"""

from __future__ import annotations

import os
import shutil

import docker.errors
from bakehouse.sdk import JournalEntry, register_cleaner

from bakehouse_plugin_docker import engine
from bakehouse_plugin_docker.steps import (
    KIND_COMMITTED_IMAGE,
    KIND_CONTAINER,
    KIND_TEMP_DIR,
    remove_committed_image,
)


def _recorded_engine(entry: JournalEntry) -> dict[str, str] | None:
    """The ``DOCKER_*`` variables the build ran with (None for entries written
    before they were recorded: this process's own then)."""
    recorded = entry.details.get("engine")
    if not isinstance(recorded, dict):
        return None
    return {str(k): str(v) for k, v in recorded.items() if k in engine.ENGINE_VARIABLES}


def remove_leftover_container(entry: JournalEntry) -> None:
    """Kill and remove the container named in ``entry`` (gone already is fine).

    Only a container carrying this run's labels is removed: a journal file is
    plain JSON on disk and must not be able to aim at someone else's container.
    The engine is the one the build used (recorded in the entry).
    """
    client = engine.connect(_recorded_engine(entry))
    try:
        client.api.inspect_container(entry.resource_id)
    except docker.errors.NotFound:
        return
    container_id = engine.owned_container(client, entry.resource_id, entry.run_id)
    if not container_id:
        raise engine.DockerEngineError(
            f"refusing to remove container {entry.resource_id}: it is not a build container of run {entry.run_id}"
        )
    engine.remove_container(client, container_id)


def remove_leftover_temp_dir(entry: JournalEntry) -> None:
    """Delete the builder's temporary directory, and only such a directory."""
    path = os.path.realpath(entry.resource_id)
    if not os.path.basename(path).startswith("bakehouse-docker-"):
        raise ValueError(f"refusing to remove {path}: not a bakehouse docker temporary directory")
    if os.path.isdir(path):
        shutil.rmtree(path)


def remove_leftover_committed_image(entry: JournalEntry) -> None:
    """Remove the image a killed build committed from its container.

    The entry names the build container (journalled under this run); only an
    image committed from that very container is removed, never another.
    """
    client = engine.connect(_recorded_engine(entry))
    try:
        remove_committed_image(client, entry.resource_id, entry.details.get("image") or None, entry.run_id)
    finally:
        client.close()


def register() -> None:
    register_cleaner(KIND_COMMITTED_IMAGE, remove_leftover_committed_image)
    register_cleaner(KIND_CONTAINER, remove_leftover_container)
    register_cleaner(KIND_TEMP_DIR, remove_leftover_temp_dir)
