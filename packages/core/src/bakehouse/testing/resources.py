"""What one test created on the Docker engine, removed when the test ends
(the ``bakehouse_docker_resources`` fixture)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

#: The labels the docker builder puts on its containers.
LABEL_RUN_ID = "io.bakehouse.run-id"
LABEL_MANAGED = "io.bakehouse.managed"

__all__ = ["DockerResources", "LABEL_MANAGED", "LABEL_RUN_ID"]


@dataclass
class DockerResources:
    """What one test created on the engine, removed when the test ends."""

    client: Any
    prefix: str = field(default_factory=lambda: "bakehouse-t-" + uuid.uuid4().hex[:8])
    images: list[str] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)

    def name(self, suffix: str = "img") -> str:
        """A repository name unique to this test; register its tags with :meth:`image`."""
        return f"{self.prefix}-{suffix}"

    def image(self, reference: str) -> str:
        self.images.append(reference)
        return reference

    def container(self, container_id: str) -> str:
        self.containers.append(container_id)
        return container_id

    def build_containers(self, run_id: str | None = None, all_runs: bool = False) -> list[Any]:
        """Containers the docker builder labelled (this run's, or every run's)."""
        label = f"{LABEL_RUN_ID}={run_id}" if run_id and not all_runs else f"{LABEL_MANAGED}=true"
        found: list[Any] = self.client.containers.list(all=True, filters={"label": label})
        return found

    def images_by_repository(self, repository: str) -> list[Any]:
        found: list[Any] = self.client.images.list(name=repository)
        return found

    def remove_all(self) -> None:
        import docker.errors

        for container in self.containers:
            try:
                self.client.api.remove_container(container, force=True, v=True)
            except docker.errors.APIError:
                pass
        for reference in reversed(self.images):
            try:
                self.client.images.remove(reference, force=True)
            except docker.errors.APIError:
                pass
