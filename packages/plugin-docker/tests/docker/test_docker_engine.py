"""The engine connection a build shares between its steps and post-processors."""

from __future__ import annotations

import os
from pathlib import Path

import docker
import docker.constants
import pytest
import requests
from bakehouse.testing.servers import ENGINE_SOCKET
from bakehouse_plugin_docker import engine
from bakehouse_plugin_docker.engine import DockerEngineError

pytestmark = pytest.mark.docker


def test_shared_client_is_reused_while_the_engine_answers(
    bakehouse_docker: docker.DockerClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    socket_path = tmp_path / "engine.sock"
    socket_path.symlink_to(ENGINE_SOCKET)
    docker_host = f"unix://{socket_path}"
    monkeypatch.setenv("DOCKER_HOST", docker_host)
    first = engine.shared_client()
    assert engine.shared_client() is first, "one connection per engine in a process"
    # The engine goes away (its socket, and the connection the client holds):
    # the next user gets the error of a first connect, not a dead client.
    socket_path.unlink()
    first.api.close()
    with pytest.raises(DockerEngineError, match=f"Cannot connect to the Docker engine at {docker_host}"):
        engine.shared_client()
    socket_path.symlink_to(ENGINE_SOCKET)
    again = engine.shared_client()
    assert again is not first and again.ping()


def test_a_forked_child_opens_its_own_connection(bakehouse_docker: docker.DockerClient) -> None:
    parent = engine.shared_client()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report whether it got a client of its own that works
        try:
            child = engine.shared_client()
            os.write(write, b"own" if child is not parent and child.ping() else b"inherited")
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 16)
    os.waitpid(pid, 0)
    os.close(read)
    assert answer == b"own"
    assert engine.shared_client() is parent


def test_local_engine_requests_leave_netrc_and_proxies_alone(
    bakehouse_docker: docker.DockerClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A unix socket uses no proxy and the engine takes no netrc credentials:
    requests looks neither up for each Engine API call (about 0.3 ms each), and a
    netrc ``default`` password never goes to the engine."""
    netrc = tmp_path / "netrc"
    netrc.write_text("default login someone password not-for-the-engine\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{ENGINE_SOCKET}")
    client = engine.connect()
    try:
        request = client.api.prepare_request(requests.Request("GET", client.api._url("/_ping")))
        assert "Authorization" not in request.headers
        assert client.ping()
    finally:
        client.close()


def test_connect_learns_the_engine_api_version_from_one_ping(
    bakehouse_docker: docker.DockerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine's API version comes from the API-Version header of a ping, as
    the docker CLI reads it: one request (about 1 ms) before the build's first
    call instead of GET /version (5-15 ms) and a ping; the same version."""
    sent: list[str] = []
    real_send = requests.Session.send

    def send(self: requests.Session, request: requests.PreparedRequest, **kwargs: object) -> requests.Response:
        sent.append(request.path_url)
        return real_send(self, request, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setenv("DOCKER_HOST", f"unix://{ENGINE_SOCKET}")
    monkeypatch.setattr(requests.Session, "send", send)
    client = engine.connect()
    try:
        assert sent == [f"/v{docker.constants.MINIMUM_DOCKER_API_VERSION}/_ping"]
        assert client.api._version == bakehouse_docker.api.version(api_version=False)["ApiVersion"]
    finally:
        client.close()
