"""Bakehouse docker plugin: the ``docker`` builder and the docker post-processors."""

from __future__ import annotations

import os
import sys

__version__ = "0.1.0"


def _import_docker_sdk_without_paramiko() -> None:
    """Import the Docker SDK without paramiko unless DOCKER_HOST is ssh://.

    The SDK imports paramiko eagerly for its ssh:// transport, which costs
    about a second at every plugin start. Hiding it during the import leaves
    the SDK without that transport only; paramiko stays importable afterwards.
    Done here so it happens before any module of the package imports docker.
    """
    if "docker" in sys.modules or "paramiko" in sys.modules:
        return
    if os.environ.get("DOCKER_HOST", "").startswith("ssh://"):
        return
    sys.modules["paramiko"] = None  # type: ignore[assignment]
    try:
        import docker  # noqa: F401
    finally:
        del sys.modules["paramiko"]


_import_docker_sdk_without_paramiko()
