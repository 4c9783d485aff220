"""Bakehouse docker plugin: the ``docker`` builder and the docker post-processors."""

from __future__ import annotations

import importlib.machinery
import os
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib.abc import Loader

__version__ = "0.1.0"


class _DockerSdkWithoutParamiko:
    """Import the Docker SDK without paramiko unless DOCKER_HOST is ssh://.

    The SDK imports paramiko eagerly for its ssh:// transport, which costs
    about a second at every plugin start. Hiding it while the SDK's package
    runs leaves the SDK without that transport only; paramiko stays importable
    afterwards. A finder rather than an import here, so that the SDK is loaded
    when a module first needs it, not when the plugin answers its handshake.
    The import system needs only these methods: the ``importlib.abc`` base
    classes would import ``importlib.resources`` (about 17 ms) on the way to
    the handshake.
    """

    def __init__(self) -> None:
        self._loader: Loader | None = None

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "docker":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or "paramiko" in sys.modules:
            return spec
        if os.environ.get("DOCKER_HOST", "").startswith("ssh://"):
            return spec
        self._loader = spec.loader
        spec.loader = self  # type: ignore[assignment]  # a Loader by its methods
        return spec

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        assert self._loader is not None
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        assert self._loader is not None
        sys.modules["paramiko"] = None  # type: ignore[assignment]
        try:
            self._loader.exec_module(module)
        finally:
            del sys.modules["paramiko"]
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader


if "docker" not in sys.modules:
    sys.meta_path.insert(0, _DockerSdkWithoutParamiko())
