"""Artifacts: what a builder or post-processor produced."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any


class Artifact(ABC):
    """The result of a build step, as Packer models it.

    ``builder_id`` names the component that made it (post-processors use it to
    know what they receive), ``id`` is the resource id (image id, AMI map),
    ``files`` the local files it consists of, ``string()`` what the final
    summary prints, ``state(name)`` extra data by name (``generated_data`` is
    reserved for build variables), ``destroy()`` removes it.
    """

    @property
    @abstractmethod
    def builder_id(self) -> str: ...

    @property
    @abstractmethod
    def id(self) -> str: ...

    @property
    def files(self) -> list[str]:
        return []

    @abstractmethod
    def string(self) -> str: ...

    def state(self, name: str) -> Any:
        return None

    def destroy(self) -> None:
        """Remove what the artifact stands for; the default keeps everything."""
        return None


@dataclass
class SimpleArtifact(Artifact):
    """An artifact described by plain data; enough for most components.

    ``destroy_hint`` is not called: components that can destroy what they made
    subclass :class:`Artifact` (or this class) and override :meth:`destroy`.
    """

    builder_id_: str
    id_: str
    string_: str = ""
    files_: list[str] = field(default_factory=list)
    state_: dict[str, Any] = field(default_factory=dict)

    @property
    def builder_id(self) -> str:
        return self.builder_id_

    @property
    def id(self) -> str:
        return self.id_

    @property
    def files(self) -> list[str]:
        return list(self.files_)

    def string(self) -> str:
        return self.string_ or self.id_

    def state(self, name: str) -> Any:
        return self.state_.get(name)
