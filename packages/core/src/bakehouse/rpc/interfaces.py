"""The SDK's object model on the wire: which objects cross as handles, which
methods may be called on them, the proxies that stand for them on the other
side, and the SDK dataclasses that cross by value.

Every proxy *is* the SDK type it stands for (``RemoteBuilder`` is a
:class:`bakehouse.sdk.Builder`), so the orchestrator cannot tell a built-in
component from one served by a plugin process.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from bakehouse.rpc.handles import AsSink, AsSource, Proxy, RemoteRef
from bakehouse.sdk.artifact import Artifact
from bakehouse.sdk.communicator import Communicator, FileInfo, OutputCallback
from bakehouse.sdk.components import (
    Builder,
    BuildInfo,
    Datasource,
    Hook,
    PostProcessor,
    PrepareResult,
    Provisioner,
)
from bakehouse.sdk.context import Context
from bakehouse.sdk.journal import JournalEntry
from bakehouse.sdk.problems import ConfigProblem
from bakehouse.sdk.ui import Ui

#: Shared default (FileInfo is frozen).
DEFAULT_FILE_INFO = FileInfo()
log = logging.getLogger("bakehouse.rpc")


@dataclass(frozen=True)
class Interface:
    """An SDK interface that crosses the pipe as a handle."""

    name: str
    base: type[Any]
    methods: frozenset[str]
    proxy: Callable[[RemoteRef, Any], object]
    #: attributes read (not called) on the served object
    properties: frozenset[str] = frozenset()
    #: values captured when the handle is sent, so the proxy can answer them
    #: even after the serving process is gone (artifacts outlive their builder)
    snapshot: Callable[[Any], Any] | None = None


# -- proxies -----------------------------------------------------------------


class RemoteUi(Proxy, Ui):
    """A Ui served by the peer. Output is best effort: once the peer is gone
    (the core died and we are cleaning up) messages go to the log instead."""

    def __init__(self, remote: RemoteRef, snapshot: Any = None) -> None:
        self._remote = remote

    def _tell(self, method: str, *args: str) -> None:
        if self._remote.session.closed:
            log.info("ui.%s (peer gone): %s", method, " ".join(args))
            return
        try:
            self._remote.call(method, *args)
        except Exception:
            if not self._remote.session.closed:
                raise
            log.info("ui.%s (peer gone): %s", method, " ".join(args))

    def say(self, message: str) -> None:
        self._tell("say", message)

    def message(self, message: str) -> None:
        self._tell("message", message)

    def error(self, message: str) -> None:
        self._tell("error", message)

    def machine(self, category: str, *args: str) -> None:
        self._tell("machine", category, *args)

    def ask(self, question: str) -> str:
        answer: str = self._remote.call("ask", question)
        return answer

    def progress(self, task: str, done: int, total: int = 0) -> None:
        if self._remote.session.closed:
            return
        try:
            self._remote.call("progress", task, int(done), int(total))
        except Exception:
            if not self._remote.session.closed:
                raise


class RemoteHook(Proxy, Hook):
    def __init__(self, remote: RemoteRef, snapshot: Any = None) -> None:
        self._remote = remote

    def run(
        self,
        name: str,
        ui: Ui,
        communicator: Communicator | None,
        data: dict[str, Any],
        ctx: Context,
    ) -> None:
        self._remote.call("run", name, ui, communicator, data, ctx)


class RemoteCommunicator(Proxy, Communicator):
    """A communicator served by the peer; file contents and command output
    move as flow-controlled streams."""

    def __init__(self, remote: RemoteRef, snapshot: Any = None) -> None:
        self._remote = remote

    def execute(
        self,
        command: str,
        *,
        on_stdout: OutputCallback,
        on_stderr: OutputCallback,
        ctx: Context,
        stdin: BinaryIO | None = None,
    ) -> int:
        status: int = self._remote.call(
            "execute",
            command,
            on_stdout=AsSink(on_stdout),
            on_stderr=AsSink(on_stderr),
            ctx=ctx,
            stdin=AsSource(stdin) if stdin is not None else None,
        )
        return status

    def upload(self, dst: str, src: BinaryIO, info: FileInfo = DEFAULT_FILE_INFO) -> None:
        # The communicator reads the whole file: its bytes may start at once.
        self._remote.call("upload", dst, AsSource(src, eager=True), info)

    def download(self, src: str, dst: BinaryIO) -> None:
        self._remote.call("download", src, AsSink(dst))

    def upload_dir(self, dst: str, src: str, exclude: Sequence[str] = ()) -> None:
        self._remote.call("upload_dir", dst, src, list(exclude))

    def download_dir(self, src: str, dst: str, exclude: Sequence[str] = ()) -> None:
        self._remote.call("download_dir", src, dst, list(exclude))


class RemoteArtifact(Proxy, Artifact):
    """An artifact served by the peer. Identity and summary were captured when
    it crossed, so they stay readable after the plugin process has exited."""

    def __init__(self, remote: RemoteRef, snapshot: Any = None) -> None:
        self._remote = remote
        snap = snapshot if isinstance(snapshot, dict) else {}
        self._builder_id = str(snap.get("builder_id", ""))
        self._id = str(snap.get("id", ""))
        self._files = [str(f) for f in snap.get("files", [])]
        self._string = str(snap.get("string", ""))
        self._state: dict[str, Any] = dict(snap.get("state", {}))

    @property
    def builder_id(self) -> str:
        return self._builder_id

    @property
    def id(self) -> str:
        return self._id

    @property
    def files(self) -> list[str]:
        return list(self._files)

    def string(self) -> str:
        return self._string

    def state(self, name: str) -> Any:
        if name in self._state:
            return self._state[name]
        value = self._remote.call("state", name)
        self._state[name] = value
        return value

    def destroy(self) -> None:
        self._remote.call("destroy")


#: Artifact state keys captured eagerly (the core reads them after builds end).
ARTIFACT_SNAPSHOT_STATE = ("generated_data",)


def _artifact_snapshot(artifact: Artifact) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for key in ARTIFACT_SNAPSHOT_STATE:
        try:
            state[key] = artifact.state(key)
        except Exception:  # a state() that fails is asked again lazily
            continue
    return {
        "builder_id": artifact.builder_id,
        "id": artifact.id,
        "files": list(artifact.files),
        "string": artifact.string(),
        "state": state,
    }


class RemoteBuilder(Proxy, Builder):
    """A builder living in a plugin process."""

    def __init__(self, remote: RemoteRef, snapshot: Any = None) -> None:
        self._remote = remote

    def prepare(self, config: dict[str, Any], build: BuildInfo) -> PrepareResult:
        self.build = build
        self.config = dict(config)
        result: PrepareResult = self._remote.call("prepare", config, build)
        return result

    def run(self, ui: Ui, hook: Hook, ctx: Context) -> Artifact | None:
        artifact: Artifact | None = self._remote.call("run", ui, hook, ctx)
        return artifact


class RemoteProvisioner(Proxy, Provisioner):
    """A provisioner living in a plugin process."""

    def __init__(self, remote: RemoteRef, snapshot: Any = None) -> None:
        self._remote = remote

    def prepare(self, config: dict[str, Any], build: BuildInfo) -> None:
        self.build = build
        self.config = dict(config)
        self._remote.call("prepare", config, build)

    def provision(
        self,
        ui: Ui,
        communicator: Communicator | None,
        generated: dict[str, Any],
        ctx: Context,
    ) -> None:
        self._remote.call("provision", ui, communicator, generated, ctx)


class RemotePostProcessor(Proxy, PostProcessor):
    """A post-processor living in a plugin process."""

    def __init__(self, remote: RemoteRef, snapshot: Any = None) -> None:
        self._remote = remote

    def prepare(self, config: dict[str, Any], build: BuildInfo) -> None:
        self.build = build
        self.config = dict(config)
        self._remote.call("prepare", config, build)

    def post_process(
        self, ui: Ui, artifact: Artifact, ctx: Context
    ) -> tuple[Artifact | None, bool, bool]:
        new_artifact, keep, force = self._remote.call("post_process", ui, artifact, ctx)
        return new_artifact, bool(keep), bool(force)


class RemoteDatasource(Proxy, Datasource):
    """A data source living in a plugin process."""

    def __init__(self, remote: RemoteRef, snapshot: Any = None) -> None:
        self._remote = remote

    def configure(self, config: dict[str, Any]) -> None:
        self.config = dict(config)
        self._remote.call("configure", config)

    def execute(self) -> dict[str, Any]:
        outputs: dict[str, Any] = self._remote.call("execute")
        return outputs


# Order matters: the first interface an object implements is the one it is sent as.
INTERFACES: tuple[Interface, ...] = (
    Interface("builder", Builder, frozenset({"prepare", "run"}), RemoteBuilder),
    Interface("provisioner", Provisioner, frozenset({"prepare", "provision"}), RemoteProvisioner),
    Interface("post-processor", PostProcessor, frozenset({"prepare", "post_process"}), RemotePostProcessor),
    Interface("datasource", Datasource, frozenset({"configure", "execute"}), RemoteDatasource),
    Interface(
        "communicator",
        Communicator,
        frozenset({"execute", "upload", "download", "upload_dir", "download_dir"}),
        RemoteCommunicator,
    ),
    Interface("hook", Hook, frozenset({"run"}), RemoteHook),
    Interface("ui", Ui, frozenset({"say", "message", "error", "machine", "ask", "progress"}), RemoteUi),
    Interface(
        "artifact",
        Artifact,
        frozenset({"string", "state", "destroy"}),
        RemoteArtifact,
        properties=frozenset({"builder_id", "id", "files"}),
        snapshot=_artifact_snapshot,
    ),
)
_BY_NAME = {iface.name: iface for iface in INTERFACES}


def interface_of(obj: object) -> Interface | None:
    for iface in INTERFACES:
        if isinstance(obj, iface.base):
            return iface
    return None


def interface_named(name: str) -> Interface | None:
    return _BY_NAME.get(name)


# -- values ------------------------------------------------------------------


def _build_info(fields: dict[str, Any]) -> BuildInfo:
    fields["sensitive_variables"] = tuple(fields.get("sensitive_variables", ()))
    return BuildInfo(**fields)


def _config_problem(fields: dict[str, Any]) -> ConfigProblem:
    return ConfigProblem(tuple(fields["path"]), str(fields["message"]))


#: SDK dataclasses that cross by value, with how to rebuild them.
VALUE_TYPES: dict[str, tuple[type[Any], Callable[[dict[str, Any]], Any]]] = {
    "BuildInfo": (BuildInfo, _build_info),
    "PrepareResult": (PrepareResult, lambda fields: PrepareResult(**fields)),
    "FileInfo": (FileInfo, lambda fields: FileInfo(**fields)),
    "JournalEntry": (JournalEntry, lambda fields: JournalEntry(**fields)),
    "ConfigProblem": (ConfigProblem, _config_problem),
}
_VALUE_NAMES = {cls: name for name, (cls, _) in VALUE_TYPES.items()}


def value_to_wire(obj: object) -> dict[str, Any] | None:
    name = _VALUE_NAMES.get(type(obj))
    if name is None:
        return None
    fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}  # type: ignore[arg-type]
    return {"type": name, "fields": fields}


def value_from_wire(payload: dict[str, Any]) -> Any:
    """Rebuild a value; a type this side does not know arrives as its field dict
    (a newer peer may send a newer dataclass)."""
    entry = VALUE_TYPES.get(str(payload.get("type")))
    fields = dict(payload.get("fields") or {})
    if entry is None:
        return fields
    cls, build = entry
    known = {f.name for f in dataclasses.fields(cls)}
    return build({k: v for k, v in fields.items() if k in known})


__all__ = [
    "Interface",
    "INTERFACES",
    "RemoteArtifact",
    "RemoteBuilder",
    "RemoteCommunicator",
    "RemoteDatasource",
    "RemoteHook",
    "RemotePostProcessor",
    "RemoteProvisioner",
    "RemoteUi",
    "interface_named",
    "interface_of",
    "value_from_wire",
    "value_to_wire",
]
