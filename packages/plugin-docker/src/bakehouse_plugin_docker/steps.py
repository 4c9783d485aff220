"""The docker builder's steps. One step, one resource, one cleanup.

State keys shared by the steps (besides the SDK's ``ui``, ``hook``, ``ctx``):
``config`` (DockerOptions; the model for a build over SSH), ``build`` (BuildInfo), ``client``
(docker.DockerClient), ``journal``, ``image`` (what the container starts
from), ``temp_dir``, ``container_id``, ``container_name``,
``container_attrs`` (the container inspected once started), ``communicator``,
``generated_data``, ``image_id`` / ``export_path`` (the result).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from typing import TYPE_CHECKING, Any

import docker
import docker.errors
from bakehouse.sdk import (
    CONTINUE,
    HOOK_CLEANUP_PROVISION,
    HOOK_PROVISION,
    Action,
    BuildInfo,
    Context,
    Journal,
    JournalEntry,
    StateBag,
    Step,
)
from bakehouse.sdk.progress import Throttle

from bakehouse_plugin_docker import engine
from bakehouse_plugin_docker.communicator import DockerCommunicator
from bakehouse_plugin_docker.engine import DockerEngineError, explain
from bakehouse_plugin_docker.options import DockerOptions, effective_container_dir
from bakehouse_plugin_docker.registry_login import registry_auth
from bakehouse_plugin_docker.run_command import ContainerSpec, parse_run_command
from bakehouse_plugin_docker.tarstream import CHUNK_SIZE

if TYPE_CHECKING:
    from bakehouse.sdk.ssh import SSHCommunicator

log = logging.getLogger("bakehouse.plugin.docker.steps")

#: Journal kinds, each with a cleaner registered in ``cleanup.py``.
KIND_CONTAINER = "docker-container"
KIND_TEMP_DIR = "docker-temp-dir"
#: An image committed from a build container: resource id is the container's id
#: (the image id is not known until the commit returns; it is in ``image``).
KIND_COMMITTED_IMAGE = "docker-committed-image"

# Packer puts these in the provision hook data of builders without an HTTP server.
_HTTP_NOT_IMPLEMENTED = {
    "PackerHTTPIP": "ERR_HTTP_IP_NOT_IMPLEMENTED_BY_BUILDER",
    "PackerHTTPPort": "ERR_HTTP_PORT_NOT_IMPLEMENTED_BY_BUILDER",
    "PackerHTTPAddr": "ERR_HTTP_ADDR_NOT_IMPLEMENTED_BY_BUILDER",
}


def _config(state: StateBag) -> DockerOptions:
    config: DockerOptions = state["config"]
    return config


def _client(state: StateBag) -> docker.DockerClient:
    client: docker.DockerClient = state["client"]
    return client


def _journal(state: StateBag) -> Journal:
    journal: Journal = state["journal"]
    return journal


class StepBuildImage(Step):
    """``build { path = "Dockerfile" }``: build the base image first.

    As in Packer, the built image is removed afterwards only with
    ``discard = true`` (a committed image depends on it).
    """

    name = "StepBuildImage"

    def run(self, state: StateBag) -> Action:
        config = _config(state)
        assert config.build is not None
        dockerfile = os.path.abspath(config.build.path)
        # As `docker build -f PATH .` in Packer: the context is the current directory.
        context_dir = os.path.abspath(config.build.build_dir or ".")
        if not os.path.isfile(dockerfile):
            raise DockerEngineError(f"build: the Dockerfile {config.build.path} does not exist")
        if not os.path.isdir(context_dir):
            raise DockerEngineError(f"build: build_dir {config.build.build_dir} is not a directory")
        state.ui.say(f"Building the base image from {config.build.path}")
        # The FROM images' registry may need the login (sent as X-Registry-Config).
        registry_auth(_client(state), config, state.ui)
        image_id = ""
        try:
            events = _client(state).api.build(
                path=context_dir,
                # Absolute: the SDK sends a Dockerfile outside the context along with it.
                dockerfile=dockerfile,
                buildargs=config.build.arguments or None,
                pull=config.build.pull,
                gzip=config.build.compress,
                rm=True,
                forcerm=True,
                decode=True,
                platform=config.build.platform or None,
            )
            for event in engine.follow_progress(events, "building the image"):
                state.ctx.check()
                text = str(event.get("stream", "")).rstrip()
                if text:
                    state.ui.message(text)
                aux = event.get("aux")
                if isinstance(aux, dict) and aux.get("ID"):
                    image_id = str(aux["ID"])
        except docker.errors.APIError as exc:
            raise DockerEngineError(f"Error building the image: {explain(exc)}") from None
        if not image_id:
            raise DockerEngineError("Error building the image: the engine reported no image id")
        state.ui.message(f"Built image: {image_id}")
        state["image"] = image_id
        state["built_image"] = image_id
        return CONTINUE

    def cleanup(self, state: StateBag) -> None:
        image = state.get("built_image")
        if not image or not _config(state).discard:
            return
        try:
            engine.remove_image(_client(state), image)
            state.ui.say(f"Removed the built image {image}")
        except DockerEngineError as exc:
            state.ui.say(f"Failed to remove the built image {image}: {exc} (expected when other "
                         "images were made from it)")


class StepTempDir(Step):
    """A host directory shared with the container at ``container_dir``, as Packer does."""

    name = "StepTempDir"

    def run(self, state: StateBag) -> Action:
        state.ui.say("Creating a temporary directory for sharing data...")
        path = os.path.join(tempfile.gettempdir(), f"bakehouse-docker-{uuid.uuid4().hex[:12]}")
        # Journal first: a kill -9 right after mkdir still leaves a trace to clean.
        state["temp_dir_entry"] = _journal(state).record(KIND_TEMP_DIR, path)
        os.mkdir(path, 0o700)
        state["temp_dir"] = path
        return CONTINUE

    def cleanup(self, state: StateBag) -> None:
        path = state.get("temp_dir")
        entry: JournalEntry | None = state.get("temp_dir_entry")
        if path and os.path.isdir(path):
            shutil.rmtree(path)
        if entry is not None:
            _journal(state).forget(entry)


class StepPull(Step):
    """Pull the image when ``pull = true``; otherwise insist that it is present."""

    name = "StepPull"

    def run(self, state: StateBag) -> Action:
        config = _config(state)
        client = _client(state)
        image = state["image"]
        if config.build is not None:
            return CONTINUE
        if not config.pull:
            if not engine.image_exists(client, image):
                raise DockerEngineError(
                    f"Image {image!r} is not on the local Docker engine and pull = false: "
                    "build or import it first (see examples/docker-base), or set pull = true "
                    "to fetch it from its registry."
                )
            return CONTINUE
        auth_config = registry_auth(client, config, state.ui)
        state.ui.say(f"Pulling Docker image: {image}")
        try:
            progress = Throttle(state.ui, f"Pulling {image}")
            for line in engine.pull_image(client, image, platform=config.platform, auth_config=auth_config,
                                          on_bytes=progress):
                state.ctx.check()
                state.ui.message(line)
            # Packer's SourceImageDigest: what the pull resolved the image to.
            state["source_digest"] = engine.repo_digest(client, image)
        except DockerEngineError as exc:
            if engine.image_exists(client, image):
                raise DockerEngineError(
                    f"{exc} (image {image} is present on the engine: set pull = false to build "
                    "from it as it is)"
                ) from None
            raise
        return CONTINUE


class StepRunContainer(Step):
    """Create and start the build container; its cleanup kills and removes it."""

    name = "StepRunContainer"

    def run(self, state: StateBag) -> Action:
        config = _config(state)
        build: BuildInfo = state["build"]
        journal = _journal(state)
        client = _client(state)
        # The shared directory is a path on this machine: only an engine on this
        # machine can mount it. Uploads and downloads never need it (they go
        # through the Engine API's archive calls).
        shared = state.get("temp_dir") if engine.shares_host_filesystem(client) else None
        if state.get("temp_dir") and shared is None:
            state.ui.message("The Docker engine is remote (DOCKER_HOST): the temporary directory is "
                             "not mounted at " + effective_container_dir(config))
        spec = container_spec(config, state["image"], shared)
        name = spec.name or f"bakehouse-{uuid.uuid4().hex[:12]}"
        spec.name = name
        spec.labels.update({
            engine.LABEL_MANAGED: "true",
            engine.LABEL_RUN_ID: journal.run_id,
            engine.LABEL_BUILD: build.build_name or build.name,
        })
        state.ui.say("Starting docker container...")
        state.ui.message(f"Run command: docker run {' '.join(describe_run(spec))}")
        # Journal before the container exists: whatever kills us from here on,
        # `bakehouse cleanup` knows the name to remove.
        state["container_entry"] = journal.record(
            KIND_CONTAINER, name, image=spec.image, build=build.build_name or build.name,
            engine=engine.engine_environment(),
        )
        state["container_name"] = name
        try:
            created = client.api.create_container(**create_arguments(client, spec))
            container_id = str(created["Id"])
            state["container_id"] = container_id
            client.api.start(container_id)
            attrs = client.api.inspect_container(container_id)
        except docker.errors.APIError as exc:
            raise DockerEngineError(f"Error running the container: {explain(exc)}") from None
        if not attrs.get("State", {}).get("Running"):
            logs = client.api.logs(container_id, tail=20).decode("utf-8", "replace").strip()
            raise DockerEngineError(
                f"The container exited right after it started (exit code "
                f"{attrs.get('State', {}).get('ExitCode')}); run_command must keep it running "
                f"(Packer's default is -d -i -t --entrypoint=/bin/sh -- {{{{.Image}}}})"
                + (f". Its output: {logs}" if logs else "")
            )
        # Its Config (user, working directory, labels) stays as created: the
        # communicator and the commit read it here instead of asking again.
        state["container_attrs"] = attrs
        state.ui.message(f"Container ID: {container_id}")
        return CONTINUE

    def cleanup(self, state: StateBag) -> None:
        entry: JournalEntry | None = state.get("container_entry")
        if entry is None:
            return
        target = state.get("container_id")
        if not target:
            # Creation failed or its answer was lost: remove the container by
            # name only if it is this run's (a `--name` in run_command may be
            # taken by a container that is not ours).
            target = engine.owned_container(_client(state), state["container_name"], _journal(state).run_id)
        if target:
            state.ui.say(f"Killing the container: {target}")
            engine.remove_container(_client(state), target)
        _journal(state).forget(entry)


class StepConnect(Step):
    """Make the communicator the provisioners will use: the Engine API's exec and
    archive calls (``docker``), or SSH to a container that runs sshd (``ssh``)."""

    name = "StepConnect"

    def __init__(self) -> None:
        self.ssh: SSHCommunicator | None = None

    def run(self, state: StateBag) -> Action:
        config = _config(state)
        if config.communicator == "none":
            state["communicator"] = None
            return CONTINUE
        if config.communicator == "ssh":
            host = config.ssh_host or container_address(_client(state), state["container_id"])
            state.ui.say(f"Using SSH communicator to connect: {host}")
            # Only a build over SSH loads the SSH communicator (and paramiko).
            from bakehouse.sdk.ssh import connect_ssh

            self.ssh = connect_ssh(config, host, state.ctx, state.ui)
            state["communicator"] = self.ssh
            state["connection_data"] = {
                "Host": host, "Port": config.ssh_port, "User": config.ssh_username,
                "Password": config.ssh_password,
            }
            return CONTINUE
        state.ui.say("Using docker communicator to connect: " + state["container_id"][:12])
        state["communicator"] = DockerCommunicator(
            _client(state),
            state["container_id"],
            exec_user=config.exec_user,
            fix_upload_owner=config.fix_upload_owner,
            spool_dir=state.get("temp_dir"),
            attrs=state.get("container_attrs"),
        )
        return CONTINUE

    def cleanup(self, state: StateBag) -> None:
        if self.ssh is not None:
            self.ssh.close()
            self.ssh = None


def container_address(client: docker.DockerClient, container_id: str) -> str:
    """The container's IP address on its network (the docker bridge by default),
    which is how Packer's docker builder reaches a container's sshd."""
    try:
        settings = client.api.inspect_container(container_id).get("NetworkSettings") or {}
    except docker.errors.APIError as exc:
        raise DockerEngineError(f"Error inspecting container {container_id[:12]}: {explain(exc)}") from None
    address = settings.get("IPAddress") or next(
        (net.get("IPAddress") for net in (settings.get("Networks") or {}).values() if net.get("IPAddress")), ""
    )
    if not address:
        raise DockerEngineError(
            f"Container {container_id[:12]} has no IP address for the ssh communicator (its network "
            "mode gives it none); set ssh_host"
        )
    return str(address)


class StepProvision(Step):
    """Run the provision hook; on errors, the error-cleanup provisioner."""

    name = "StepProvision"
    provisioning = True  # -on-error=run-cleanup-provisioner still cleans it up

    def run(self, state: StateBag) -> Action:
        build: BuildInfo = state["build"]
        data: dict[str, Any] = {
            "ID": state["container_id"],
            "ConnType": _config(state).communicator,
            "PackerRunUUID": build.run_id or _journal(state).run_id,
            "Host": "",
            "Port": 0,
            "User": "",
            "Password": "",
            "SSHPublicKey": "",
            "SSHPrivateKey": "",
            "WinRMPassword": "",
            **_HTTP_NOT_IMPLEMENTED,
            "SourceImageDigest": state.get("source_digest", ""),
            **state.get("connection_data", {}),
        }
        state["generated_data"] = data
        state["hook"].run(HOOK_PROVISION, state.ui, state.get("communicator"), dict(data), state.ctx)
        return CONTINUE

    def cleanup(self, state: StateBag) -> None:
        if state.get("error") is None:
            return
        state.ui.say("Provisioning step had errors: Running the cleanup provisioner, if present...")
        # A fresh context: the build's own may be what failed or was cancelled.
        try:
            state["hook"].run(
                HOOK_CLEANUP_PROVISION,
                state.ui,
                state.get("communicator"),
                dict(state.get("generated_data") or {}),
                Context(),
            )
        except Exception as exc:
            state.ui.error(f"Cleanup failed: {exc}. Original Provisioning error: {state['error']}")


class StepCommit(Step):
    """``commit = true``: the container becomes an image (``changes``, ``author``, ``message``)."""

    name = "StepCommit"

    def run(self, state: StateBag) -> Action:
        config = _config(state)
        client = _client(state)
        container_id = state["container_id"]
        state.ui.say("Committing the container")
        # Journal before the commit: a cancel or kill while the engine commits
        # must not leave an untagged image nobody knows about.
        journal = _journal(state)
        state["commit_entry"] = journal.record(KIND_COMMITTED_IMAGE, container_id,
                                               engine=engine.engine_environment())
        try:
            attrs = state.get("container_attrs") or client.api.inspect_container(container_id)
            container_config = dict(attrs.get("Config") or {})
            # Docker's commit cannot drop labels, only override them: empty the
            # run markers so containers started from the image are not taken
            # for build containers of this run.
            labels = dict(container_config.get("Labels") or {})
            for key in (engine.LABEL_MANAGED, engine.LABEL_RUN_ID, engine.LABEL_BUILD):
                if key in labels:
                    labels[key] = ""
            container_config["Labels"] = labels
            result = client.api.commit(
                container_id,
                message=config.message or None,
                author=config.author or None,
                changes=list(config.changes) or None,
                conf=container_config,
            )
        except docker.errors.APIError as exc:
            raise DockerEngineError(f"Error committing the container: {explain(exc)}") from None
        image_id = str(result["Id"])
        state["image_id"] = image_id
        # The entry naming the image is on disk before the one without it goes:
        # a kill in between leaves two entries for one image, never none.
        without_image = state["commit_entry"]
        state["commit_entry"] = journal.record(KIND_COMMITTED_IMAGE, container_id, image=image_id,
                                               engine=engine.engine_environment())
        journal.forget(without_image)
        state.setdefault("generated_data", {})["ImageSha256"] = image_id
        state.ui.message(f"Image ID: {image_id}")
        return CONTINUE

    def cleanup(self, state: StateBag) -> None:
        entry: JournalEntry | None = state.get("commit_entry")
        if entry is None:
            return
        ctx: Context = state["ctx"]
        failed = state.get("error") is not None or state.get("halted") or state.get("cancelled") or ctx.cancelled
        if failed:
            # The build will not hand the image on as its artifact: it is temporary.
            removed = remove_committed_image(
                _client(state), state["container_id"], state.get("image_id"), _journal(state).run_id
            )
            if removed:
                state.ui.say(f"Removing the committed image: {removed}")
        _journal(state).forget(entry)


def remove_committed_image(
    client: docker.DockerClient, container_id: str, image_id: str | None, run_id: str
) -> str | None:
    """Remove the image committed from ``container_id``, a build container of ``run_id``.

    Found by ``image_id`` when the commit returned, else among untagged images by
    the container it was committed from. Only an image whose ``Container`` is
    that container, and whose container carried this run's label (the engine
    keeps it in ``ContainerConfig``), is removed. Returns the removed image id.
    """
    candidates = [image_id] if image_id else [
        str(image.get("Id")) for image in client.api.images(all=True, filters={"dangling": True})
    ]
    for candidate in candidates:
        try:
            attrs = client.api.inspect_image(candidate)
        except docker.errors.NotFound:
            continue
        labels = (attrs.get("ContainerConfig") or {}).get("Labels") or {}
        if attrs.get("Container") != container_id or labels.get(engine.LABEL_RUN_ID) != run_id:
            continue
        try:
            client.api.remove_image(attrs["Id"])
        except docker.errors.NotFound:
            return None
        return str(attrs["Id"])
    return None


class StepExport(Step):
    """``export_path``: the container's filesystem, streamed to a tar file."""

    name = "StepExport"

    def run(self, state: StateBag) -> Action:
        config = _config(state)
        path = os.path.abspath(config.export_path)
        state.ui.say("Exporting the container")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            with open(path, "wb") as out:
                for chunk in _client(state).api.export(state["container_id"], chunk_size=CHUNK_SIZE):
                    state.ctx.check()
                    out.write(chunk)
        except BaseException as exc:
            # A partial tar is worse than none: it looks like a result.
            try:
                os.remove(path)
            except FileNotFoundError:
                pass
            if isinstance(exc, docker.errors.APIError):
                raise DockerEngineError(f"Error exporting the container: {explain(exc)}") from None
            raise
        state["export_path"] = path
        state.ui.message(f"Exported to {path}")
        return CONTINUE


def container_spec(config: DockerOptions, image: str, temp_dir: str | None) -> ContainerSpec:
    """Packer's ``docker run`` line: shared dir, volumes, options, then ``run_command``."""
    spec = parse_run_command(config.run_command, image)
    binds = []
    if temp_dir:
        binds.append(f"{temp_dir}:{effective_container_dir(config)}")
    binds.extend(f"{host}:{container}" for host, container in config.volumes.items())
    spec.binds = binds + spec.binds
    spec.privileged = spec.privileged or config.privileged
    spec.cap_add = list(config.cap_add) + spec.cap_add
    spec.cap_drop = list(config.cap_drop) + spec.cap_drop
    for entry in config.tmpfs:
        spec.add_tmpfs(entry)
    spec.devices = list(config.device) + spec.devices
    # With a build block the container runs on the platform it was built for (Packer).
    spec.platform = spec.platform or (config.build.platform if config.build is not None else config.platform)
    spec.runtime = spec.runtime or config.runtime
    return spec


def describe_run(spec: ContainerSpec) -> list[str]:
    """The equivalent ``docker run`` arguments, for the build log."""
    args = ["-d"]
    args += ["-i"] if spec.stdin_open else []
    args += ["-t"] if spec.tty else []
    for bind in spec.binds:
        args += ["-v", bind]
    args += ["--privileged"] if spec.privileged else []
    for cap in spec.cap_add:
        args += ["--cap-add", cap]
    for cap in spec.cap_drop:
        args += ["--cap-drop", cap]
    for path, options in spec.tmpfs.items():
        args += ["--tmpfs", f"{path}:{options}" if options else path]
    for device in spec.devices:
        args += ["--device", device]
    if spec.platform:
        args += ["--platform", spec.platform]
    if spec.runtime:
        args += ["--runtime", spec.runtime]
    if spec.entrypoint is not None:
        args.append("--entrypoint=" + " ".join(spec.entrypoint))
    return args + ["--", spec.image, *spec.command]


def create_arguments(client: docker.DockerClient, spec: ContainerSpec) -> dict[str, Any]:
    """Keyword arguments of ``APIClient.create_container`` for ``spec``."""
    host_config = client.api.create_host_config(
        binds=spec.binds or None,
        privileged=spec.privileged,
        cap_add=spec.cap_add or None,
        cap_drop=spec.cap_drop or None,
        tmpfs=spec.tmpfs or None,
        devices=spec.devices or None,
        runtime=spec.runtime or None,
        network_mode=spec.network or None,
        mem_limit=spec.memory or None,
        shm_size=spec.shm_size or None,
        extra_hosts=spec.extra_hosts or None,
        dns=spec.dns or None,
        security_opt=spec.security_opt or None,
        init=spec.init or None,
        read_only=spec.read_only or None,
    )
    return {
        "image": spec.image,
        "command": spec.command or None,
        "entrypoint": spec.entrypoint,
        "name": spec.name,
        "tty": spec.tty,
        "stdin_open": spec.stdin_open,
        "environment": spec.environment or None,
        "user": spec.user or None,
        "working_dir": spec.working_dir or None,
        "hostname": spec.hostname or None,
        "labels": spec.labels,
        "host_config": host_config,
        "platform": spec.platform or None,
    }
