"""The plugin side of the protocol: ``EXE describe`` and ``EXE serve``.

``serve`` runs in a process the core started. It ignores SIGINT (the core
owns Ctrl-C), asks the kernel for SIGTERM when the core dies, announces
itself with a ``hello``, and then serves calls until the core says goodbye or
its pipe reaches EOF. Either way every context in flight is cancelled, the
calls get a bounded time to run their cleanups, and the process exits.
"""

from __future__ import annotations

import ctypes
import importlib
import json
import logging
import os
import select
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from bakehouse.rpc import forks
from bakehouse.rpc.codec import PROTOCOL_VERSION, Hello, encode_message
from bakehouse.rpc.session import Session
from bakehouse.rpc.transport import (
    CORE_PID_ENV,
    FDS_ENV,
    PRELOAD_ENV,
    PipeTransport,
    transport_from_env,
)
from bakehouse.sdk.journal import JournalEntry, cleaner_for

if TYPE_CHECKING:
    import socket

    from bakehouse.sdk.components import Builder, Datasource, PostProcessor, Provisioner

log = logging.getLogger("bakehouse.rpc.server")

#: How long in-flight calls may spend on their cleanups once the core is gone.
CLEANUP_GRACE_SECONDS = float(os.environ.get("BAKEHOUSE_PLUGIN_CLEANUP_GRACE", "120"))

NOT_STARTED_BY_CORE = "This is a Bakehouse plugin; bakehouse starts it for you."

_PR_SET_PDEATHSIG = 1

KINDS = ("builder", "provisioner", "post-processor", "datasource")

T = TypeVar("T")
#: A component class, or ``"module:Class"`` naming it: the module is imported
#: only when the core first creates the component, so that the handshake does
#: not wait for the component's imports (pydantic, SDKs).
Ref = type[T] | str


def resolve(ref: object) -> Any:
    """The object a ``"module:attr"`` (or ``"module"``) reference names; anything else as is."""
    if not isinstance(ref, str):
        return ref
    module, _, attr = ref.partition(":")
    loaded = importlib.import_module(module)
    return getattr(loaded, attr) if attr else loaded


@dataclass
class PluginComponents:
    """What one plugin executable offers, by kind and type name."""

    plugin: str
    version: str
    builders: dict[str, Ref[Builder]]
    provisioners: dict[str, Ref[Provisioner]]
    post_processors: dict[str, Ref[PostProcessor]]
    datasources: dict[str, Ref[Datasource]]
    #: ``"module:function"`` that registers the journal cleaners (or
    #: ``"module"`` whose import does), loaded before the first
    #: ``cleanup_entry`` (None: registered by the entry point itself).
    cleaners: str | None = None

    def by_kind(self, kind: str) -> Mapping[str, Ref[Any]]:
        table: dict[str, Mapping[str, Ref[Any]]] = {
            "builder": self.builders,
            "provisioner": self.provisioners,
            "post-processor": self.post_processors,
            "datasource": self.datasources,
        }
        if kind not in table:
            raise ValueError(f"unknown component kind {kind!r}")
        return table[kind]

    def describe(self) -> dict[str, Any]:
        return {
            "plugin": self.plugin,
            "version": self.version,
            "protocol_version": PROTOCOL_VERSION,
            "builders": sorted(self.builders),
            "provisioners": sorted(self.provisioners),
            "post_processors": sorted(self.post_processors),
            "datasources": sorted(self.datasources),
        }

    def schema(self) -> dict[str, Any]:
        """Every component's options (see :mod:`bakehouse.sdk.docs`): what
        ``EXE schema`` prints for ``bakehouse plugins docs``. Imports them all."""
        from bakehouse.sdk.docs import documented_schema, option_rows

        options: dict[str, dict[str, Any]] = {}
        for kind in KINDS:
            for type_name, ref in sorted(self.by_kind(kind).items()):
                config = documented_schema(resolve(ref))
                options.setdefault(kind, {})[type_name] = None if config is None else option_rows(config)
        return {"plugin": self.plugin, "version": self.version, "components": options}


class PluginService:
    """The root object a plugin serves (handle 0)."""

    METHODS = frozenset({"create", "cleanup_entry", "ping"})

    def __init__(self, components: PluginComponents) -> None:
        self.components = components

    def create(self, kind: str, type_name: str) -> object:
        """A fresh component instance; it crosses back as a handle."""
        table = self.components.by_kind(kind)
        if type_name not in table:
            raise LookupError(f"{self.components.plugin} has no {kind} {type_name!r}")
        return resolve(table[type_name])()

    def cleanup_entry(self, entry: JournalEntry) -> None:
        """Remove a leftover temporary resource recorded in a journal."""
        if self.components.cleaners is not None:
            registers = resolve(self.components.cleaners)
            if ":" in self.components.cleaners:
                registers()
            self.components.cleaners = None
        cleaner = cleaner_for(entry.kind)
        if cleaner is None:
            raise LookupError(f"{self.components.plugin} has no cleaner for {entry.kind!r} resources")
        cleaner(entry)

    def ping(self) -> str:
        return "pong"


def serve_plugin(
    *,
    plugin: str,
    version: str,
    builders: dict[str, Ref[Builder]],
    provisioners: dict[str, Ref[Provisioner]],
    post_processors: dict[str, Ref[PostProcessor]],
    datasources: dict[str, Ref[Datasource]],
    cleaners: str | None = None,
    argv: list[str] | None = None,
) -> NoReturn:
    """Entry point behind :func:`bakehouse.sdk.serve`. Never returns."""
    components = PluginComponents(
        plugin, version, builders, provisioners, post_processors, datasources, cleaners
    )
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[0] if args else ""
    if command in ("describe", "schema"):
        description = components.describe() if command == "describe" else components.schema()
        sys.stdout.write(json.dumps(description) + "\n")
        sys.stdout.flush()
        sys.exit(0)
    if command == "serve":
        transport = transport_from_env()
        if transport is None:
            sys.stderr.write(NOT_STARTED_BY_CORE + "\n")
            sys.exit(2)
        fork_server_fd = os.environ.pop(forks.FORK_SERVER_ENV, "")
        if fork_server_fd.isdigit():
            _serve_forks(components, transport, int(fork_server_fd))
        _serve(components, transport)
    sys.stderr.write(
        f"usage: {os.path.basename(sys.argv[0] or plugin)} describe|schema\n"
        f"{NOT_STARTED_BY_CORE}\n"
    )
    sys.exit(2)


def _configure_logging() -> None:
    """Log to stderr: the core reads it line by line into its own log."""
    from bakehouse.log import (
        RedactingFormatter,
        log_enabled,
        log_path_setting,
        register_secret_environment,
    )

    verbose = log_enabled() or bool(log_path_setting()[1])
    # Secrets are hidden here, in the plugin, where they are known (a private
    # key it created, credentials from its config): the core knows only the
    # template's sensitive variables.
    register_secret_environment()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    # Wire-level debug logs of client libraries hold request and response
    # bodies and signed headers: private keys (CreateKeyPair), session tokens,
    # passwords. Plugins log what they do themselves.
    for name in WIRE_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)


#: Loggers that dump raw requests/responses at DEBUG level.
WIRE_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer", "paramiko.transport", "docker.api",
                "docker.utils")


def _die_with_parent(expected_parent: int | None = None) -> None:
    """Ask for SIGTERM when the parent (the core, or the fork server of a
    forked child) dies; exit now if it already has."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
            log.debug("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    except (OSError, AttributeError):
        log.debug("prctl is not available; relying on pipe EOF only")
    expected = str(expected_parent) if expected_parent is not None else os.environ.get(CORE_PID_ENV, "")
    parent = os.getppid()
    # The core may have died between fork and prctl: then nobody will signal us.
    # (Compare with the pid the core announced: a core running as pid 1 in a
    # container is a legitimate parent.)
    gone = int(expected) != parent if expected.isdigit() else parent == 1
    if gone:
        sys.stderr.write("bakehouse core is gone; exiting\n")
        os._exit(1)


def _hello(components: PluginComponents) -> Hello:
    return Hello(
        protocol_version=PROTOCOL_VERSION,
        plugin=components.plugin,
        version=components.version,
        components={
            "builders": sorted(components.builders),
            "provisioners": sorted(components.provisioners),
            "post_processors": sorted(components.post_processors),
            "datasources": sorted(components.datasources),
        },
        pid=os.getpid(),
    )


def _serve(components: PluginComponents, transport: PipeTransport, *, forked_from: int | None = None) -> NoReturn:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    preload = _preload_requested()
    if forked_from is None:
        _configure_logging()  # a forked child has its fork server's logging
    _die_with_parent(forked_from)

    # A self-pipe, not a threading.Event: request_stop also runs in the SIGTERM
    # handler, on the main thread, possibly while that thread is inside
    # Event.wait() holding the event's lock -- Event.set() there deadlocks (seen:
    # plugins that outlived a SIGKILLed core). os.write takes no Python lock.
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    stop_reason: list[str] = []

    def request_stop(reason: str) -> None:
        if not stop_reason:
            stop_reason.append(reason)
        try:
            os.write(wake_write, b"x")
        except (BlockingIOError, OSError):
            pass  # already woken

    session = Session(
        transport,
        initiator=False,
        name=components.plugin,
        root=PluginService(components),
        root_methods=PluginService.METHODS,
    )
    session.on_close(lambda why: request_stop(f"core connection closed ({why})"))
    session.on_shutdown(request_stop)
    # SIGTERM (our own shutdown escalation, or PDEATHSIG when the core died)
    # gets the same treatment as EOF: cancel, clean up, exit.
    signal.signal(signal.SIGTERM, lambda signum, frame: request_stop("terminated"))

    try:
        transport.send(encode_message(_hello(components)))
    except OSError:
        os._exit(1)
    session.start()
    # While the core is still busy (it started this process early): import
    # the components it is going to create, instead of when it asks.
    _preload(components, preload)

    # Wait in short slices so the main thread keeps handling signals.
    while not select.select([wake_read], [], [], 0.5)[0]:
        pass
    reason = stop_reason[0] if stop_reason else "stopping"
    log.debug("stopping: %s", reason)
    session.cancel_all(reason)
    if not session.wait_idle(CLEANUP_GRACE_SECONDS):
        log.warning("calls still running after %.0fs of cleanup; exiting anyway", CLEANUP_GRACE_SECONDS)
    session.close_write()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _serve_forks(components: PluginComponents, transport: PipeTransport, socket_fd: int) -> NoReturn:
    """Be the fork server of :mod:`bakehouse.rpc.forks`: fork one plugin
    process per build on the core's request, report when each is reaped,
    and exit when the core closes the RPC pipe (or dies, or sends SIGTERM).

    It stays single-threaded (a fork copies only the calling thread) and
    never runs a component itself: what crashes a build crashes its child.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    preload = _preload_requested()
    _configure_logging()
    _die_with_parent()
    import socket

    sock = socket.socket(fileno=socket_fd)
    wake_read, wake_write = os.pipe()
    for fd in (wake_read, wake_write):
        os.set_blocking(fd, False)
    stopping: list[str] = []
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append("terminated"))
    signal.set_wakeup_fd(wake_write)
    try:
        forks.send(sock, {"op": "ready"})
        transport.send(encode_message(_hello(components)))
    except OSError:
        os._exit(1)
    # The components the builds use, imported now (the core is still busy
    # evaluating its template), not when the first fork is asked for: the
    # requests wait in the socket meanwhile.
    _preload(components, preload)
    inbound = transport.read_fd
    children: set[int] = set()
    poller = select.poll()
    for fd in (sock.fileno(), inbound, wake_read):
        poller.register(fd, select.POLLIN)
    while not stopping:
        readable = {fd for fd, _ in poller.poll(1000)}
        if wake_read in readable:
            try:
                while os.read(wake_read, 512):
                    pass
            except BlockingIOError:
                pass
        _report_exits(sock, children)
        if inbound in readable and not os.read(inbound, 4096):
            break  # the core closed our pipe: it is done with us (or gone)
        if sock.fileno() in readable:
            try:
                message, fds = forks.recv(sock)
            except (OSError, ValueError):
                break
            if message is None:
                break
            if message.get("op") != "fork" or len(fds) != forks.FORK_FDS:
                for fd in fds:
                    os.close(fd)
                forks.send(sock, {"op": "error", "message": f"bad fork request {message!r}"})
                continue
            pid = _fork_child(components, message, fds, sock,
                              keep_out=(inbound, transport.write_fd, wake_read, wake_write))
            children.add(pid)
            forks.send(sock, {"op": "forked", "pid": pid})
    log.debug("fork server stopping")
    logging.shutdown()
    os._exit(0)


def _report_exits(sock: socket.socket, children: set[int]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        children.discard(pid)
        try:
            forks.send(sock, {"op": "exited", "pid": pid, "status": os.waitstatus_to_exitcode(status)})
        except OSError:
            return


def _preload(components: PluginComponents, items: Any) -> None:
    """Import the modules of the components ``items`` ([kind, type] pairs)
    names. A failure is left for the ``create`` of that component to report."""
    for kind, type_name in items or []:
        try:
            ref = components.by_kind(kind).get(type_name)
            if ref is not None:
                resolve(ref)
        except Exception:
            log.debug("preloading %s %s failed", kind, type_name, exc_info=True)


def _preload_requested() -> Any:
    """The components the core asked this process to import once it has
    answered (:data:`PRELOAD_ENV`, JSON); the variable is not passed on."""
    try:
        return json.loads(os.environ.pop(PRELOAD_ENV, "") or "[]")
    except ValueError:
        return []


def _fork_child(components: PluginComponents, request: dict[str, Any], fds: list[int],
                sock: socket.socket, keep_out: tuple[int, ...]) -> int:
    """Fork one plugin process serving RPC on ``fds``; return its pid."""
    # Imported here once, before forking: every child starts warm.
    _preload(components, request.get("preload"))
    sys.stdout.flush()
    sys.stderr.flush()
    server_pid = os.getpid()
    pid = os.fork()
    if pid:
        for fd in fds:
            os.close(fd)
        return pid
    try:
        rpc_read, rpc_write, stdout_fd, stderr_fd = fds
        os.setpgid(0, 0)  # own process group, as the core gives a spawned plugin
        os.dup2(stdout_fd, 1)
        os.dup2(stderr_fd, 2)
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        sock.close()
        for fd in (stdout_fd, stderr_fd, *keep_out):
            os.close(fd)
        os.environ[FDS_ENV] = f"{rpc_read},{rpc_write}"
        _serve(components, PipeTransport(rpc_read, rpc_write), forked_from=server_pid)
    except BaseException:
        os._exit(70)
