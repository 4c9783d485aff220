"""The pytest plugin of Bakehouse (``pytest11`` entry point ``bakehouse``).

Fixtures for testing templates and plugins against real parts; see
:mod:`bakehouse.testing` for the list. Nothing is imported or started until a
test asks for a fixture.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bakehouse.testing import (
    BUSYBOX,
    BuildResult,
    FakeCommunicator,
    FakeUi,
    busybox_rootfs_tar,
    missing,
    require,
    run_build,
)


def docker_engine() -> Any | None:
    """A Docker SDK client for the local engine, or None when there is none."""
    try:
        import docker

        client = docker.from_env(timeout=600)
        client.ping()
        return client
    except Exception:
        return None


@pytest.fixture(scope="session")
def bakehouse_docker() -> Iterator[Any]:
    """The local Docker engine (a ``docker.DockerClient``)."""
    client = docker_engine()
    if client is None:
        missing("a Docker engine (docker info)")
    yield client
    client.close()


@pytest.fixture(scope="session")
def bakehouse_base_image(bakehouse_docker: Any) -> Iterator[str]:
    """``bakehouse-test-busybox:<unique>``: imported from the machine's static
    busybox (no registry, a few MB); removed at the end of the session."""
    require(bool(BUSYBOX), "busybox (Debian: busybox-static)")
    tag = uuid.uuid4().hex[:10]
    repository = "bakehouse-test-busybox"
    bakehouse_docker.api.import_image_from_data(
        busybox_rootfs_tar(), repository=repository, tag=tag, changes=['CMD ["/bin/sh"]']
    )
    reference = f"{repository}:{tag}"
    yield reference
    try:
        bakehouse_docker.images.remove(reference, force=True)
    except Exception:  # already gone, or the engine went away: nothing to keep
        pass


@pytest.fixture(scope="session")
def _bakehouse_local_ec2_session(bakehouse_docker: Any) -> Iterator[Any]:
    try:
        from bakehouse_plugin_aws.localec2 import DEBIAN_IMAGE, LocalEC2
        from bakehouse_plugin_aws.localec2.base_image import debian_image_present
    except ImportError:
        missing("the local EC2 (pip install 'bakehouse-plugin-aws[local-ec2]')")
    require(debian_image_present(), f"the local EC2's base image {DEBIAN_IMAGE} (bakehouse-ec2-local setup)")
    with LocalEC2() as running:
        yield running


@pytest.fixture
def bakehouse_local_ec2(_bakehouse_local_ec2_session: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The local EC2 (reset for each test), with the ``AWS_*`` environment of
    this test pointing at it, so ``amazon-ebs`` builds run against it."""
    ec2 = _bakehouse_local_ec2_session
    ec2.reset()
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    environment = {
        **ec2.env,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    yield ec2


@pytest.fixture
def bakehouse_build(tmp_path: Path) -> Callable[..., BuildResult]:
    """``bakehouse_build(template, vars={...}, args=[...])`` runs a real
    ``bakehouse build`` in this test's temporary directory (``template`` is a
    path or HCL text) and returns a :class:`~bakehouse.testing.BuildResult`."""

    def build(template: str | os.PathLike[str], **kwargs: Any) -> BuildResult:
        kwargs.setdefault("cwd", tmp_path)
        kwargs.setdefault("env", {})
        kwargs["env"].setdefault("BAKEHOUSE_HOME", str(tmp_path / ".bakehouse"))
        return run_build(template, **kwargs)

    return build


@pytest.fixture
def bakehouse_fake_ui() -> FakeUi:
    """A :class:`~bakehouse.testing.FakeUi` recording what a component says."""
    return FakeUi()


@pytest.fixture
def bakehouse_fake_communicator() -> FakeCommunicator:
    """A :class:`~bakehouse.testing.FakeCommunicator`: a machine in memory."""
    return FakeCommunicator()
