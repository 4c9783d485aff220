"""The Docker engine connection and how its errors read to a user.

Everything the plugin does to Docker goes through the Docker SDK for Python
(the Engine API over the socket named by ``DOCKER_HOST``, default
``/var/run/docker.sock``). No ``docker`` CLI process is ever started.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import docker
import docker.constants
import docker.errors
import docker.tls
import requests.exceptions
import urllib3.exceptions
from bakehouse.sdk import PermanentError
from docker.utils import parse_repository_tag

#: Engine API calls that move whole images or filesystems (commit, export,
#: import, push) can take minutes; plain calls stay bounded by the socket.
API_TIMEOUT_SECONDS = 3600

#: Labels put on every container the builder starts. ``docker ps -a --filter
#: label=io.bakehouse.run-id=<run id>`` lists the containers of one run.
LABEL_MANAGED = "io.bakehouse.managed"
LABEL_RUN_ID = "io.bakehouse.run-id"
LABEL_BUILD = "io.bakehouse.build"


class DockerEngineError(Exception):
    """A Docker operation failed; the message is one line meant for the user."""


class DockerPermanentError(DockerEngineError, PermanentError):
    """A Docker operation failed in a way retrying cannot fix (no such user, file,
    container or image; a request the engine refuses): callers that retry stop."""


def engine_error(message: str, exc: BaseException | None = None) -> DockerEngineError:
    """``message`` as the right error for ``exc``: the engine's 4xx answers (bad
    request, not found, conflict) are permanent, 5xx and connection errors not."""
    status = getattr(exc, "status_code", None) if isinstance(exc, docker.errors.APIError) else None
    if status is not None and 400 <= status < 500:
        return DockerPermanentError(message)
    return DockerEngineError(message)


#: The environment variables that choose the engine (as for the docker CLI).
ENGINE_VARIABLES = ("DOCKER_HOST", "DOCKER_TLS", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")


def engine_environment() -> dict[str, str]:
    """The engine this process talks to, as the variables that chose it: journal
    entries keep it, so that ``bakehouse cleanup`` reaches the same engine even
    from a shell whose ``DOCKER_HOST`` (or docker context) differs.

    As for the docker CLI, ``DOCKER_HOST`` wins; without it the docker context
    named by ``DOCKER_CONTEXT``, else the config's ``currentContext``, is used
    (see :func:`context_environment`)."""
    chosen = {name: os.environ[name] for name in ENGINE_VARIABLES if os.environ.get(name)}
    if "DOCKER_HOST" in chosen:
        return chosen
    return context_environment() or chosen


def context_environment() -> dict[str, str]:
    """The docker CLI's current context (``docker context use``, ``DOCKER_CONTEXT``)
    as the variables that name its engine; ``{}`` for the default context.

    The Docker SDK's ``from_env`` ignores contexts, so a Packer user whose CLI
    builds on a context's engine would otherwise build on the local one."""
    config_dir = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    name = os.environ.get("DOCKER_CONTEXT", "")
    source = "DOCKER_CONTEXT"
    if not name:
        source = os.path.join(config_dir, "config.json")
        try:
            with open(source, encoding="utf-8") as config_file:
                name = str(json.load(config_file).get("currentContext") or "")
        except (OSError, ValueError, AttributeError):
            return {}
    if not name or name == "default":
        return {}
    context_id = hashlib.sha256(name.encode("utf-8")).hexdigest()
    meta = os.path.join(config_dir, "contexts", "meta", context_id, "meta.json")
    try:
        with open(meta, encoding="utf-8") as meta_file:
            endpoint = json.load(meta_file)["Endpoints"]["docker"]
        host = str(endpoint["Host"])
    except (OSError, ValueError, KeyError, TypeError):
        raise DockerEngineError(
            f"The docker context {name!r} (from {source}) does not exist or has no docker endpoint: "
            f"cannot read {meta}"
        ) from None
    environment = {"DOCKER_HOST": host}
    tls = os.path.join(config_dir, "contexts", "tls", context_id, "docker")
    if os.path.isdir(tls):
        environment["DOCKER_CERT_PATH"] = tls
        if not endpoint.get("SkipTLSVerify"):
            environment["DOCKER_TLS_VERIFY"] = "1"
    return environment


def client_arguments(environment: dict[str, str]) -> dict[str, Any]:
    """Docker SDK client arguments from the ``DOCKER_*`` variables, read as the
    docker CLI reads them (the SDK's ``from_env`` differs): ``DOCKER_TLS_VERIFY``
    checks the engine's certificate against ``ca.pem`` (else the usual CAs);
    ``DOCKER_TLS`` or ``DOCKER_CERT_PATH`` alone mean TLS without that check; the
    client certificate (``cert.pem``/``key.pem`` in ``DOCKER_CERT_PATH``, default
    ``~/.docker``) is sent when it exists."""
    arguments: dict[str, Any] = {}
    if environment.get("DOCKER_HOST"):
        arguments["base_url"] = environment["DOCKER_HOST"]
    verify = bool(environment.get("DOCKER_TLS_VERIFY"))
    cert_dir = environment.get("DOCKER_CERT_PATH") or ""
    if verify or cert_dir or environment.get("DOCKER_TLS"):
        cert_dir = cert_dir or os.path.join(os.path.expanduser("~"), ".docker")
        cert, key, ca = (os.path.join(cert_dir, name) for name in ("cert.pem", "key.pem", "ca.pem"))
        arguments["tls"] = docker.tls.TLSConfig(
            client_cert=(cert, key) if os.path.isfile(cert) and os.path.isfile(key) else None,
            ca_cert=ca if verify and os.path.isfile(ca) else None,
            verify=verify,
        )
    return arguments


def _load_ssh_transport() -> None:
    """The SDK's ssh:// transport (paramiko), for an engine that a docker context or
    a journal entry names: the plugin imports the SDK without paramiko unless
    DOCKER_HOST itself is ssh:// (see the package's ``__init__``), and the SDK then
    says "Install paramiko package"."""
    import docker.api.client

    if not hasattr(docker.api.client, "SSHHTTPAdapter"):
        from docker.transport.sshconn import SSHHTTPAdapter

        docker.api.client.SSHHTTPAdapter = SSHHTTPAdapter  # type: ignore[attr-defined]


def connect(environment: dict[str, str] | None = None) -> docker.DockerClient:
    """A client for the engine ``environment`` names (default: this process's
    ``DOCKER_*`` variables), or a clear error when it is not reachable."""
    environment = engine_environment() if environment is None else environment
    # Nothing chosen: the local socket, named so that an error says where.
    chosen = dict(environment) or {"DOCKER_HOST": "unix:///var/run/docker.sock"}
    try:
        arguments = client_arguments(chosen)
        if str(arguments.get("base_url", "")).startswith("ssh://"):
            _load_ssh_transport()
        # A fixed version first, so that nothing is sent before the TLS fix below;
        # then the engine's own API version, as the SDK's "auto" would pick.
        client = docker.DockerClient(
            version=docker.constants.MINIMUM_DOCKER_API_VERSION, timeout=API_TIMEOUT_SECONDS,
            **arguments,
        )
        if str(client.api.base_url).startswith("https://"):
            # DOCKER_TLS_VERIFY with DOCKER_CERT_PATH's ca.pem, or TLS without
            # verification: requests would let REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE
            # from the environment replace that choice, and an engine certificate
            # signed by a private CA (or not checked at all) would be refused.
            client.api.trust_env = False
            if client.api.verify is False:
                # Asked for (DOCKER_TLS): the docker CLI does not warn either.
                warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)
        elif shares_host_filesystem(client):
            # The local socket: requests would look up proxies (a socket uses
            # none) and ~/.netrc credentials (the engine takes none) for every
            # Engine API call, about 0.3 ms each.
            client.api.trust_env = False
        # The engine names its API version in every ping's API-Version header, as
        # the docker CLI reads it: one ping (about 1 ms) instead of GET /version
        # (5-15 ms: the engine gathers its components' versions) and a ping.
        ping = client.api._get(client.api._url("/_ping"))
        client.api._raise_for_status(ping)
        version = ping.headers.get("API-Version")
        if not version:  # an engine, or a proxy in front of it, that does not say
            version = str(client.api.version(api_version=False)["ApiVersion"])
        client.api._version = version
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        where = environment.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        raise DockerEngineError(
            f"Cannot connect to the Docker engine at {where} (is dockerd running, and is "
            f"DOCKER_HOST right?): {explain(exc)}"
        ) from None
    return client


_shared_clients: dict[tuple[tuple[str, str], ...], docker.DockerClient] = {}
_shared_lock = threading.Lock()


def shared_client() -> docker.DockerClient:
    """This process's client for the engine its ``DOCKER_*`` variables name: made
    by :func:`connect` on first use and kept, so that a build's steps, its
    post-processors and its artifact share one connection instead of opening a
    socket and asking the engine's version each. Callers do not close it. Every
    reuse is checked with a ``_ping`` (well under a millisecond on a local
    engine): an engine that went away reads as it does on a first connect."""
    key = tuple(sorted(engine_environment().items()))
    with _shared_lock:
        client = _shared_clients.pop(key, None)
        if client is not None:
            try:
                client.api.ping()
            except (docker.errors.DockerException, requests.exceptions.RequestException):
                client.close()
                client = None
        if client is None:
            client = connect(dict(key))
        _shared_clients[key] = client
        return client


def _forget_shared_clients() -> None:
    # A forked child opens its own connections (and never waits on a lock
    # its parent's other threads held at the fork).
    global _shared_lock
    _shared_clients.clear()
    _shared_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_shared_clients)


def shares_host_filesystem(client: docker.DockerClient) -> bool:
    """Whether the engine runs on this machine (a unix socket), so that a host
    directory can be bind-mounted into a container. An engine reached over TCP
    (``DOCKER_HOST=tcp://...``, with or without TLS) or ssh may be another
    machine: nothing may rely on this machine's paths there."""
    return str(client.api.base_url).startswith("http+docker://localhost")


def explain(exc: BaseException) -> str:
    """The engine's own explanation of an error, without the HTTP noise."""
    if isinstance(exc, docker.errors.APIError):
        explanation = exc.explanation
        if isinstance(explanation, bytes):
            explanation = explanation.decode("utf-8", "replace")
        if explanation:
            return str(explanation).strip()
    return str(exc).strip() or type(exc).__name__


def split_reference(reference: str) -> tuple[str, str | None]:
    """``registry:5000/repo:tag`` -> (``registry:5000/repo``, ``tag``); digests stay whole."""
    if "@" in reference:
        return reference, None
    repository, tag = parse_repository_tag(reference)
    return repository, tag


@dataclass(frozen=True)
class RegistryLogin:
    """Credentials for ``docker login``-like authentication of one call."""

    server: str
    username: str
    password: str

    def auth_config(self) -> dict[str, str]:
        config = {"username": self.username, "password": self.password}
        if self.server:
            config["serveraddress"] = self.server
        return config


def login(client: docker.DockerClient, credentials: RegistryLogin) -> dict[str, str]:
    """Check the credentials with the registry; return the auth config for pull/push.

    The SDK keeps the credentials in the client only: nothing is written to
    ``~/.docker/config.json``, so there is nothing to log out of afterwards.
    """
    try:
        client.login(
            username=credentials.username,
            password=credentials.password,
            registry=credentials.server or None,
            reauth=True,
        )
    except docker.errors.APIError as exc:
        where = credentials.server or "the default registry"
        raise DockerEngineError(f"Error logging in to {where}: {explain(exc)}") from None
    return credentials.auth_config()


def follow_progress(events: Iterable[Any], action: str) -> Iterator[dict[str, Any]]:
    """Yield the decoded progress messages of a pull/push; raise on an error message.

    The engine reports pull and push failures inside the stream (HTTP 200
    with an ``error`` member), so the stream must be read to the end.
    """
    for event in events:
        if isinstance(event, (bytes, str)):
            for line in (event.decode() if isinstance(event, bytes) else event).splitlines():
                if line.strip():
                    yield from follow_progress([json.loads(line)], action)
            continue
        if not isinstance(event, dict):
            continue
        if event.get("error") or event.get("errorDetail"):
            detail = event.get("error") or event["errorDetail"].get("message", "")
            raise DockerEngineError(f"Error {action}: {str(detail).strip()}")
        yield event


#: Per-chunk progress of pulls and pushes: it would flood the build output.
_PROGRESS_STATUSES = frozenset({"Downloading", "Extracting", "Waiting", "Pushing", "Preparing"})


class LayerBytes:
    """Bytes moved so far over all layers of a pull or push, from the engine's
    ``progressDetail`` (``current``/``total`` per layer id)."""

    def __init__(self, on_bytes: Callable[[int, int], None] | None) -> None:
        self.on_bytes = on_bytes
        self.layers: dict[str, tuple[int, int]] = {}

    def add(self, event: dict[str, Any]) -> None:
        detail = event.get("progressDetail") or {}
        if self.on_bytes is None or not event.get("id") or not isinstance(detail, dict):
            return
        current, total = int(detail.get("current") or 0), int(detail.get("total") or 0)
        if total <= 0:
            return
        self.layers[str(event["id"])] = (min(current, total), total)
        self.on_bytes(sum(c for c, _ in self.layers.values()), sum(t for _, t in self.layers.values()))

    def finish(self) -> None:
        if self.on_bytes is not None and self.layers:
            total = sum(t for _, t in self.layers.values())
            self.on_bytes(total, total)


def pull_image(
    client: docker.DockerClient,
    reference: str,
    *,
    platform: str = "",
    auth_config: dict[str, str] | None = None,
    on_bytes: Callable[[int, int], None] | None = None,
) -> Iterator[str]:
    """Pull ``reference``; yield one status line per layer change worth showing."""
    repository, tag = split_reference(reference)
    try:
        events = client.api.pull(
            repository,
            tag=tag or ("latest" if "@" not in reference else None),
            stream=True,
            decode=True,
            platform=platform or None,
            auth_config=auth_config,
        )
        moved = LayerBytes(on_bytes)
        for event in follow_progress(events, f"pulling Docker image {reference}"):
            if event.get("status") == "Downloading":
                moved.add(event)
            status = str(event.get("status", ""))
            if status and status not in _PROGRESS_STATUSES:
                yield f"{event['id']}: {status}" if event.get("id") else status
        moved.finish()
    except docker.errors.APIError as exc:
        raise DockerEngineError(f"Error pulling Docker image {reference}: {explain(exc)}") from None


def push_image(
    client: docker.DockerClient,
    reference: str,
    *,
    auth_config: dict[str, str] | None = None,
    on_bytes: Callable[[int, int], None] | None = None,
) -> str:
    """Push ``reference``; return the pushed manifest digest ("" when not reported)."""
    repository, tag = split_reference(reference)
    digest = ""
    try:
        events = client.api.push(
            repository, tag=tag, stream=True, decode=True, auth_config=auth_config
        )
        moved = LayerBytes(on_bytes)
        for event in follow_progress(events, f"pushing Docker image {reference}"):
            if event.get("status") == "Pushing":
                moved.add(event)
            aux = event.get("aux")
            if isinstance(aux, dict) and aux.get("Digest"):
                digest = str(aux["Digest"])
        moved.finish()
    except docker.errors.APIError as exc:
        raise DockerEngineError(f"Error pushing Docker image {reference}: {explain(exc)}") from None
    return digest


def image_exists(client: docker.DockerClient, reference: str) -> bool:
    try:
        client.images.get(reference)
    except docker.errors.ImageNotFound:
        return False
    except docker.errors.APIError as exc:
        raise DockerEngineError(f"Error inspecting Docker image {reference}: {explain(exc)}") from None
    return True


def repo_digest(client: docker.DockerClient, reference: str) -> str:
    """The image's first ``repository@sha256:...`` (what ``docker inspect`` lists
    in RepoDigests: known once the image was pulled or pushed), else ""."""
    try:
        digests = client.api.inspect_image(reference).get("RepoDigests") or []
    except docker.errors.APIError as exc:
        raise DockerEngineError(f"Error inspecting Docker image {reference}: {explain(exc)}") from None
    return str(digests[0]) if digests else ""


def remove_image(client: docker.DockerClient, reference: str) -> None:
    """``docker rmi REFERENCE`` (a tag removes that tag; an id removes the image)."""
    try:
        client.images.remove(reference, noprune=False)
    except docker.errors.ImageNotFound:
        return
    except docker.errors.APIError as exc:
        raise DockerEngineError(f"Error removing Docker image {reference}: {explain(exc)}") from None


def owned_container(client: docker.DockerClient, name: str, run_id: str) -> str:
    """The id of container ``name`` when it is a build container of ``run_id``
    (by its labels), else ``""`` (gone, or somebody else's)."""
    try:
        attrs = client.api.inspect_container(name)
    except docker.errors.NotFound:
        return ""
    except docker.errors.APIError as exc:
        raise DockerEngineError(f"Error inspecting Docker container {name}: {explain(exc)}") from None
    labels = (attrs.get("Config") or {}).get("Labels") or {}
    if labels.get(LABEL_MANAGED) != "true" or labels.get(LABEL_RUN_ID) != run_id:
        return ""
    return str(attrs["Id"])


def remove_container(client: docker.DockerClient, container: str) -> bool:
    """Kill and remove ``container`` (id or name) with its anonymous volumes.

    Returns False when it was already gone.
    """
    try:
        client.api.remove_container(container, force=True, v=True)
    except docker.errors.NotFound:
        return False
    except docker.errors.APIError as exc:
        if exc.response is not None and exc.response.status_code == 409 and "already in progress" in explain(exc):
            return True
        raise DockerEngineError(f"Error removing Docker container {container}: {explain(exc)}") from None
    return True
