"""The pytest plugin of Bakehouse (``pytest11`` entry point ``bakehouse``).

Fixtures for testing templates and plugins against real parts; see
:mod:`bakehouse.testing` for the list. Nothing is imported or started until a
test asks for a fixture.
"""

from __future__ import annotations

import os
import subprocess
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
    bakehouse_executable,
    busybox_rootfs_tar,
    missing,
    require,
    run_build,
)
from bakehouse.testing.resources import DockerResources
from bakehouse.testing.servers import (
    MOTO_SERVER,
    REGISTRY,
    SSHD,
    MotoServer,
    RegistryCredentials,
    SshServer,
    docker_registry,
    docker_registry_with_login,
    moto_server,
    openssh_server,
)


def pytest_configure(config: pytest.Config) -> None:
    """The markers Bakehouse's own tests and plugin tests use."""
    for marker in (
        "docker: needs a Docker engine (a failure, not a skip, when CI=true)",
        "moto: needs a moto server (started by the fixture)",
        "ssh: needs an OpenSSH server binary (sshd)",
        "slow: takes more than a few seconds",
    ):
        config.addinivalue_line("markers", marker)


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


@pytest.fixture
def bakehouse_docker_resources(bakehouse_docker: Any) -> Iterator[DockerResources]:
    """Images and containers a test registers (``.image(ref)``, ``.container(id)``)
    are removed when it ends; ``.build_containers(run_id)`` finds a build's."""
    resources = DockerResources(bakehouse_docker)
    yield resources
    resources.remove_all()


@pytest.fixture
def bakehouse_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``BAKEHOUSE_HOME`` (journal, describe cache) of the test's own."""
    home = tmp_path_factory.mktemp("bakehouse-home")
    monkeypatch.setenv("BAKEHOUSE_HOME", str(home))
    return home


@pytest.fixture
def bakehouse_tmpdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``TMPDIR`` of the test's own, so leftover temporary files are visible."""
    import tempfile

    path = tmp_path / "tmpdir"
    path.mkdir()
    monkeypatch.setenv("TMPDIR", str(path))
    monkeypatch.setattr(tempfile, "tempdir", str(path))
    return path


@pytest.fixture(scope="session")
def bakehouse_moto() -> Iterator[MotoServer]:
    """A real moto server (``moto[server]``) on a loopback port, for the session."""
    require(MOTO_SERVER.exists(), "moto_server (pip install 'moto[server]')")
    with moto_server() as server:
        yield server


@pytest.fixture
def bakehouse_aws_env(bakehouse_moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    """Per test: a clean moto server and the ``AWS_*`` environment pointing at it."""
    bakehouse_moto.reset()
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_EC2"):
        monkeypatch.delenv(name, raising=False)
    for name, value in bakehouse_moto.env.items():
        monkeypatch.setenv(name, value)
    yield bakehouse_moto


@pytest.fixture(scope="session")
def bakehouse_sshd(request: pytest.FixtureRequest) -> Iterator[SshServer]:
    """A real OpenSSH server on a loopback port, running as the current user;
    ``.client_key`` is accepted, and so (as root, with moto) are moto's key pairs."""
    require(os.path.exists(SSHD), f"an OpenSSH server ({SSHD})")
    endpoint = request.getfixturevalue("bakehouse_moto").endpoint if MOTO_SERVER.exists() else None
    with openssh_server(endpoint) as server:
        yield server


@pytest.fixture(scope="session")
def bakehouse_registry(bakehouse_docker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real registry (Debian's ``docker-registry``) on loopback: ``127.0.0.1:PORT``."""
    require(os.access(REGISTRY, os.X_OK), "docker-registry (Debian package docker-registry)")
    with docker_registry(tmp_path_factory.mktemp("registry")) as address:
        yield address


@pytest.fixture(scope="session")
def bakehouse_registry_with_login(
    bakehouse_docker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RegistryCredentials]:
    """The same registry, asking for the user name and password it carries."""
    require(os.access(REGISTRY, os.X_OK), "docker-registry (Debian package docker-registry)")
    with docker_registry_with_login(tmp_path_factory.mktemp("registry-auth")) as credentials:
        yield credentials


@pytest.fixture(scope="session")
def bakehouse_describe_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A describe cache file holding the plugins installed next to the
    interpreter, computed once per session: copy it into a test's
    ``BAKEHOUSE_HOME`` so runs skip describing them (a Python start-up each)."""
    import sys

    from bakehouse.plugin.discovery import DescribeCache, find_executables, run_describe

    file = tmp_path_factory.mktemp("describe-cache") / "describe-cache.json"
    cache = DescribeCache(file)
    for path in find_executables(()):
        if path.parent == Path(sys.executable).parent:
            try:
                cache.put(path, run_describe(path, 60))
            except Exception:  # a plugin that cannot describe: the tests will see it
                continue
    cache.save()
    return file


@pytest.fixture
def bakehouse_cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the real ``bakehouse`` CLI in this test's temporary directory:
    ``bakehouse_cli("validate", "t.pkr.hcl", cwd=..., env=..., input=...)``."""

    def run(*args: str, cwd: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None,
            timeout: float = 300, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [bakehouse_executable(), *args],
            cwd=str(cwd or tmp_path),
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
        )

    return run


@pytest.fixture(scope="session")
def _bakehouse_local_ec2_session(bakehouse_docker: Any) -> Iterator[Any]:
    # The local EC2 ships with another distribution (bakehouse-plugin-aws's
    # local-ec2 extra): without it this fixture reports what to install.
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
