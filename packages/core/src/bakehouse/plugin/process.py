"""One running plugin process: start, handshake, output capture, stop.

The process gets two anonymous pipes for RPC (``BAKEHOUSE_PLUGIN_FDS``) and
separate stdout/stderr pipes that are read line by line into the logger
``bakehouse.plugin.<executable>``, so a stray ``print`` in a plugin can never
corrupt the RPC stream. The last stderr lines are kept for crash reports.
"""

from __future__ import annotations

import collections
import fcntl
import json
import logging
import os
import queue
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from bakehouse.plugin.errors import PluginError
from bakehouse.rpc import forks
from bakehouse.rpc.transport import CORE_PID_ENV, FDS_ENV, PRELOAD_ENV, PipeTransport
from bakehouse.rpc.version import PROTOCOL_VERSION, ProtocolError, compatible

if TYPE_CHECKING:
    import socket

    from bakehouse.rpc.codec import Hello
    from bakehouse.rpc.session import Session

log = logging.getLogger("bakehouse.plugin")

#: Environment variable overriding the handshake timeout (seconds).
TIMEOUT_ENV = "BAKEHOUSE_PLUGIN_TIMEOUT"
DEFAULT_TIMEOUT = 10.0
#: How long each stop phase (polite, SIGTERM) waits before escalating.
STOP_GRACE_SECONDS = 2.0
STDERR_LINES_KEPT = 20
#: Longest line of a plugin's stdout/stderr the core keeps; the rest of a longer
#: line is dropped (a plugin printing a huge blob cannot grow the core's memory).
MAX_OUTPUT_LINE_BYTES = 64 * 1024


def handshake_timeout() -> float:
    try:
        return float(os.environ.get(TIMEOUT_ENV, "") or DEFAULT_TIMEOUT)
    except ValueError:
        return DEFAULT_TIMEOUT


def describe_exit(returncode: int | None) -> str:
    if returncode is None:
        return "still running"
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


_F_SETPIPE_SZ = 1031  # Linux fcntl; not exported by the fcntl module of Python 3.11
PIPE_BYTES = 1024 * 1024


def _enlarge_pipe(fd: int) -> None:
    """Use 1 MiB pipe buffers (the default 64 KiB costs a context switch every
    quarter of a stream frame). Best effort: the limit is a sysctl."""
    try:
        fcntl.fcntl(fd, _F_SETPIPE_SZ, PIPE_BYTES)
    except OSError:
        pass


class _Spawner:
    """Starts every plugin process from one long-lived thread.

    ``PR_SET_PDEATHSIG`` fires when the *thread* that forked the child ends,
    not the process: a plugin started from a build's worker thread would get
    SIGTERM as soon as that build thread finished. A single daemon thread that
    lives as long as the core avoids that.
    """

    _instance: _Spawner | None = None
    _instance_lock = threading.Lock()

    def __init__(self) -> None:
        self._requests: queue.SimpleQueue[tuple[Callable[[], Any], queue.SimpleQueue[Any]]] = queue.SimpleQueue()
        self._pid = os.getpid()
        threading.Thread(target=self._loop, name="plugin-spawner", daemon=True).start()

    @classmethod
    def get(cls) -> _Spawner:
        with cls._instance_lock:
            # After a fork (the supervisor's worker) the old thread does not exist.
            if cls._instance is None or cls._instance._pid != os.getpid():
                cls._instance = cls()
            return cls._instance

    def _loop(self) -> None:
        while True:
            function, reply = self._requests.get()
            try:
                reply.put((True, function()))
            except BaseException as exc:
                reply.put((False, exc))

    def run(self, function: Callable[[], Any]) -> Any:
        reply: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._requests.put((function, reply))
        ok, value = reply.get()
        if not ok:
            raise value
        return value


class PluginProcess:
    """A started plugin process and its RPC session."""

    def __init__(self, path: str, *, build_key: str, run_id: str, environ: Mapping[str, str] | None = None,
                 fork_server: ForkServer | None = None, preload: Sequence[tuple[str, str]] = ()) -> None:
        self.path = path
        #: Components the plugin imports right after its handshake (spawned processes).
        self.preload_after_hello = [list(item) for item in preload]
        self.name = Path(path).name
        self.build_key = build_key
        self.run_id = run_id
        self.environ = dict(os.environ if environ is None else environ)
        self.logger = logging.getLogger(f"bakehouse.plugin.{self.name}")
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_LINES_KEPT)
        self.proc: subprocess.Popen[bytes] | ForkedChild | None = None
        self.session: Session | None = None
        self.hello: Hello | None = None
        self._transport: PipeTransport | None = None
        self._output_threads: list[threading.Thread] = []
        self._stopping = False
        self._stop_lock = threading.Lock()
        self._handshake_reader: threading.Thread | None = None
        #: Set: this process is forked by that fork server instead of spawned.
        self.fork_server = fork_server
        # What a fork server adds to the spawn (its socket's end).
        self._extra_env: dict[str, str] = {}
        self._extra_fds: tuple[int, ...] = ()

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc else 0

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None and not (
            self.session is not None and self.session.closed
        )

    # -- start -------------------------------------------------------------

    def start(self, timeout: float | None = None, spawned: Callable[[], None] | None = None) -> None:
        """Start the process and complete the handshake, or raise a one-line
        :class:`PluginError` (the process is then killed and reaped).
        ``spawned`` is called once the process exists (or could not be made)."""
        timeout = handshake_timeout() if timeout is None else timeout
        started = time.monotonic()
        try:
            if self.fork_server is not None:
                self._fork(self.fork_server)
            else:
                _Spawner.get().run(self._spawn)
        finally:
            if spawned is not None:
                spawned()
        log.debug("spawned %s (pid %d) for %s%s", self.name, self.pid, self.build_key,
                  " by its fork server" if self.fork_server is not None else "")
        try:
            self._handshake(timeout - (time.monotonic() - started), timeout)
        except BaseException:
            self._kill_and_reap()
            raise
        log.debug("started %s (pid %d) for %s in %.0f ms", self.name, self.pid, self.build_key,
                  (time.monotonic() - started) * 1000)

    def _fork(self, server: ForkServer) -> None:
        """Have ``server`` fork this process, with pipes made here as for a spawn."""
        core_to_plugin_r, core_to_plugin_w = os.pipe()
        plugin_to_core_r, plugin_to_core_w = os.pipe()
        stdout_r, stdout_w = os.pipe()
        stderr_r, stderr_w = os.pipe()
        _enlarge_pipe(core_to_plugin_w)
        _enlarge_pipe(plugin_to_core_w)
        theirs = (core_to_plugin_r, plugin_to_core_w, stdout_w, stderr_w)
        try:
            child = server.fork(theirs)
        except BaseException:
            for fd in (core_to_plugin_w, plugin_to_core_r, stdout_r, stderr_r):
                os.close(fd)
            raise
        finally:
            for fd in theirs:
                os.close(fd)
        child.stdout = os.fdopen(stdout_r, "rb")
        child.stderr = os.fdopen(stderr_r, "rb")
        self.proc = child
        self._transport = PipeTransport(plugin_to_core_r, core_to_plugin_w)
        self._start_output_threads(child.stdout, child.stderr)

    def _spawn(self) -> None:
        core_to_plugin_r, core_to_plugin_w = os.pipe()
        plugin_to_core_r, plugin_to_core_w = os.pipe()
        _enlarge_pipe(core_to_plugin_w)
        _enlarge_pipe(plugin_to_core_w)
        env = dict(self.environ)
        env[FDS_ENV] = f"{core_to_plugin_r},{plugin_to_core_w}"
        env[CORE_PID_ENV] = str(os.getpid())
        if self.run_id:
            env["BAKEHOUSE_RUN_ID"] = self.run_id
        if self.preload_after_hello:
            env[PRELOAD_ENV] = json.dumps(self.preload_after_hello)
        env.update(self._extra_env)
        try:
            self.proc = subprocess.Popen(
                [self.path, "serve"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(core_to_plugin_r, plugin_to_core_w, *self._extra_fds),
                env=env,
                # Own process group: the terminal's Ctrl-C goes to the core
                # only (it cancels over RPC), and leftovers can be reaped by group.
                process_group=0,
            )
        except OSError as exc:
            for fd in (core_to_plugin_r, core_to_plugin_w, plugin_to_core_r, plugin_to_core_w):
                os.close(fd)
            raise PluginError(f"plugin {self.path}: cannot start: {exc.strerror or exc}") from None
        os.close(core_to_plugin_r)
        os.close(plugin_to_core_w)
        self._transport = PipeTransport(plugin_to_core_r, core_to_plugin_w)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._start_output_threads(self.proc.stdout, self.proc.stderr)

    def _start_output_threads(self, stdout: IO[bytes], stderr: IO[bytes]) -> None:
        self._output_threads = [
            threading.Thread(target=self._pump_output, args=(stdout, "stdout"), daemon=True,
                             name=f"{self.name}-stdout"),
            threading.Thread(target=self._pump_output, args=(stderr, "stderr"), daemon=True,
                             name=f"{self.name}-stderr"),
        ]
        for thread in self._output_threads:
            thread.start()

    def _pump_output(self, stream: IO[bytes], which: str) -> None:
        pid = self.pid
        dropping = False  # inside the rest of an over-long line
        while raw := stream.readline(MAX_OUTPUT_LINE_BYTES):
            complete = raw.endswith(b"\n")
            if dropping:
                dropping = not complete
                continue
            if not complete and len(raw) >= MAX_OUTPUT_LINE_BYTES:
                # A plugin writing megabytes without a newline must not make the
                # core buffer them: keep the start, drop the rest of the line.
                dropping = True
                raw += f" [... line cut at {MAX_OUTPUT_LINE_BYTES // 1024} KiB]".encode()
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if which == "stderr":
                self.stderr_tail.append(line)
            level = logging.DEBUG
            for name in ("CRITICAL", "ERROR", "WARNING"):
                if line.startswith(name + " "):
                    level = getattr(logging, name)
            self.logger.log(level, "[%d %s] %s", pid, which, line)
        stream.close()

    def _fail(self, what: str) -> PluginError:
        return PluginError(f"plugin {self.path}: {what}")

    def _handshake(self, timeout: float, announced_timeout: float) -> None:
        assert self._transport is not None and self.proc is not None
        transport = self._transport
        box: dict[str, Any] = {}
        arrived = threading.Event()

        def read_first_frame() -> None:
            try:
                box["frame"] = transport.recv()
            except BaseException as exc:
                box["error"] = exc
            finally:
                arrived.set()

        reader = threading.Thread(target=read_first_frame, name=f"{self.name}-handshake", daemon=True)
        self._handshake_reader = reader
        reader.start()
        if not arrived.wait(max(timeout, 0.0)):
            raise self._fail(f"no handshake within {announced_timeout:g}s (the plugin never answered; set {TIMEOUT_ENV} to wait longer)")
        error = box.get("error")
        if isinstance(error, EOFError):
            returncode = self._wait_exit(STOP_GRACE_SECONDS)
            raise self._fail(f"exited before the handshake ({describe_exit(returncode)}){self._stderr_suffix()}")
        if isinstance(error, ProtocolError):
            raise self._fail(f"sent garbage instead of a handshake ({error})")
        if error is not None:
            raise self._fail(f"handshake failed: {error}")
        # The message classes load while the plugin starts, not before the spawn.
        from bakehouse.rpc.codec import Hello, decode_message

        try:
            hello = decode_message(box["frame"])
        except ProtocolError as exc:
            raise self._fail(f"sent garbage instead of a handshake ({exc})") from None
        if not isinstance(hello, Hello):
            raise self._fail(f"sent a {type(hello).__name__.lower()} message instead of a handshake")
        try:
            ok = compatible(hello.protocol_version)
        except ProtocolError as exc:
            raise self._fail(f"sent garbage instead of a handshake ({exc})") from None
        if not ok:
            raise self._fail(
                f"speaks RPC protocol {hello.protocol_version}, this bakehouse speaks {PROTOCOL_VERSION} "
                f"(major versions differ: install a plugin version made for this bakehouse)"
            )
        self.hello = hello
        self._connect(transport)

    def _connect(self, transport: PipeTransport) -> None:
        """After the handshake: the RPC session with the plugin."""
        # Imported here, not with the module: the core spawns its first
        # plugin before it needs the RPC session machinery.
        from bakehouse.rpc.session import Session

        self.session = Session(transport, initiator=True, name=self.name, lost_error=self._lost_error)
        self.session.start()

    def _stderr_suffix(self) -> str:
        for thread in self._output_threads:
            thread.join(1.0)
        lines = [line.strip() for line in self.stderr_tail if line.strip()]
        if not lines:
            return "; no stderr output"
        return "; last stderr: " + " | ".join(lines[-5:])

    def _wait_exit(self, timeout: float) -> int | None:
        assert self.proc is not None
        if isinstance(self.proc, subprocess.Popen) and self.proc.returncode is None:
            # Popen.wait(timeout) polls with sleeps of up to 50 ms: a plugin's
            # exit would be seen that much late at the end of every build.
            # A pidfd becomes readable the moment the process exits.
            if _wait_pidfd(self.proc.pid, timeout):
                return self.proc.poll()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def _lost_error(self, why: str) -> BaseException:
        """What a pending call raises when the plugin's pipe closes."""
        if self._stopping:
            return PluginError(f"plugin {self.name} (pid {self.pid}) was stopped")
        if why.startswith("protocol error"):
            self._kill_and_reap()
            error = PluginError(f"plugin {self.name} (pid {self.pid}) broke the RPC protocol ({why}); it was killed")
        else:
            returncode = self._wait_exit(3.0)
            if returncode is None:
                # Closed its pipe but still runs: it is useless to us now.
                self._kill_and_reap()
                status = "closed its RPC pipe"
            else:
                status = describe_exit(returncode)
            error = PluginError(
                f"plugin {self.name} (pid {self.pid}) exited unexpectedly ({status}){self._stderr_suffix()}"
            )
        log.error("%s", error)
        return error

    # -- use -----------------------------------------------------------------

    def create(self, kind: str, type_name: str) -> Any:
        """A remote proxy for a fresh component instance in this process."""
        if self.session is None:
            raise PluginError(f"plugin {self.name} is not running")
        from bakehouse.rpc.session import ROOT_HANDLE

        return self.session.call(ROOT_HANDLE, "create", (kind, type_name), {})

    def call_service(self, method: str, *args: Any) -> Any:
        if self.session is None:
            raise PluginError(f"plugin {self.name} is not running")
        from bakehouse.rpc.session import ROOT_HANDLE

        return self.session.call(ROOT_HANDLE, method, args, {})

    # -- stop ----------------------------------------------------------------

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Polite shutdown, then SIGTERM, then SIGKILL; always reaped."""
        with self._stop_lock:
            if self._stopping and (self.proc is None or self.proc.returncode is not None):
                return
            self._stopping = True
        if self.proc is None:
            return
        if self.proc.poll() is None:
            # From a helper thread: a plugin that stopped reading could leave
            # the pipe full, and stop() must not hang on it.
            if self.session is not None:
                session = self.session
                polite = threading.Thread(target=session.send_shutdown,
                                          args=("bakehouse is done with this plugin",), daemon=True)
            elif self._transport is not None:
                polite = threading.Thread(target=self._transport.close_write, daemon=True)
            else:
                polite = None
            if polite is not None:
                polite.start()
            if self._wait_exit(grace) is None:
                log.debug("%s (pid %d) ignored shutdown; sending SIGTERM", self.name, self.pid)
                self._signal(signal.SIGTERM)
                if self._wait_exit(grace) is None:
                    log.warning("%s (pid %d) ignored SIGTERM; killing it", self.name, self.pid)
                    self._kill_and_reap()
        self._reap()

    def _signal(self, signum: int) -> None:
        assert self.proc is not None
        try:
            self.proc.send_signal(signum)
        except ProcessLookupError:
            pass

    def _kill_and_reap(self) -> None:
        if self.proc is None:
            return
        self._stopping = True
        if self.proc.poll() is None:
            self._signal(signal.SIGKILL)
        self._reap()

    def _reap(self) -> None:
        assert self.proc is not None
        self.proc.wait()
        # Whatever the plugin started in its process group and left behind
        # (a shell command's children) goes with it.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
            log.debug("%s: killed leftover processes of group %d", self.name, self.proc.pid)
        except (ProcessLookupError, PermissionError):
            pass
        for thread in self._output_threads:
            thread.join(1.0)
        if self._transport is not None:
            self._transport.close_write()
            if self.session is None and self._handshake_reader is not None:
                # Handshake failed: nobody else will ever read this pipe.
                self._handshake_reader.join(1.0)
                if not self._handshake_reader.is_alive():
                    self._transport.close_read()


def _wait_pidfd(pid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for child ``pid`` to exit, without
    polling. False (and no wait) where pidfds are not available."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        return False
    try:
        select.select([fd], [], [], max(timeout, 0.0))
    finally:
        os.close(fd)
    return True


class ForkedChild:
    """The part of ``subprocess.Popen`` a :class:`PluginProcess` uses, for a
    process its fork server forked: the server reaps it and reports the exit
    status over its socket; signals go straight to the pid."""

    def __init__(self, pid: int, server: ForkServer) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self.stdout: IO[bytes] | None = None
        self.stderr: IO[bytes] | None = None
        self._server = server
        self._exited = threading.Event()

    def set_exited(self, status: int) -> None:
        self.returncode = status
        self._exited.set()

    def poll(self) -> int | None:
        if self.returncode is None and self._server.lost.is_set() and not _running(self.pid):
            # Nobody reports it any more: the fork server is gone, and with it
            # went a SIGTERM to each of its children (PR_SET_PDEATHSIG).
            self.returncode = -int(signal.SIGTERM)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (status := self.poll()) is None:
            remaining = 0.5 if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout or 0.0)
            if self._server.lost.is_set():
                time.sleep(min(0.02, remaining))
            else:
                self._exited.wait(min(0.5, remaining))
        return status

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)


def _running(pid: int) -> bool:
    """Whether ``pid`` is alive (a zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


class _ForkReply:
    """Where the answer to one fork request is left for the thread that asked."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._value: ForkedChild | PluginError | None = None
        self._abandoned = False

    def give(self, value: ForkedChild | PluginError) -> bool:
        """Leave ``value``; False when the asker gave up waiting."""
        with self._lock:
            if self._abandoned:
                return False
            self._value = value
        self._done.set()
        return True

    def wait(self, timeout: float) -> ForkedChild | PluginError | None:
        """The answer, or None (and the slot abandoned) after ``timeout`` seconds."""
        self._done.wait(timeout)
        with self._lock:
            if self._value is None:
                self._abandoned = True
            return self._value


class ForkServer(PluginProcess):
    """A plugin executable started once to fork the plugin processes of
    several builds (:mod:`bakehouse.rpc.forks`): one Python start-up and one
    import of the components for all of them, one process per build still.

    Its RPC pipe carries only the handshake; closing it stops the server.
    A plugin whose SDK predates fork servers answers the handshake without
    the ``ready`` message: then :attr:`supported` is False and the caller
    stops it and spawns per build as before.
    """

    def __init__(self, path: str, *, run_id: str, preload: Sequence[tuple[str, str]],
                 environ: Mapping[str, str] | None = None) -> None:
        # Imported right after the handshake (as a spawned plugin does), and
        # named again with each fork request for a server that missed that.
        super().__init__(path, build_key="fork server", run_id=run_id, environ=environ, preload=preload)
        self.preload = [list(item) for item in preload]
        self.supported = False
        self.lost = threading.Event()
        self._socket: socket.socket | None = None
        self._request_lock = threading.Lock()
        # One slot per fork request on the socket, oldest first: the server
        # answers them in order, so requests need not wait for each other's
        # answer (the builds' forks follow each other without a round trip).
        self._waiting: collections.deque[_ForkReply] = collections.deque()
        self._children: dict[int, ForkedChild] = {}
        self._children_lock = threading.Lock()
        self._socket_reader: threading.Thread | None = None

    def _spawn(self) -> None:
        core_end, server_end = forks.socket_pair()
        self._socket = core_end
        self._extra_env = {forks.FORK_SERVER_ENV: str(server_end.fileno())}
        self._extra_fds = (server_end.fileno(),)
        try:
            super()._spawn()
        finally:
            server_end.close()

    def _connect(self, transport: PipeTransport) -> None:
        assert self._socket is not None
        # ``ready`` is sent before the handshake: it is here by now, or never.
        if not select.select([self._socket], [], [], 0)[0]:
            super()._connect(transport)  # an older SDK: a plain plugin process
            return
        try:
            message, fds = forks.recv(self._socket)
        except (OSError, ValueError) as exc:
            raise self._fail(f"fork server sent garbage ({exc})") from None
        for fd in fds:
            os.close(fd)
        if message != {"op": "ready"}:
            raise self._fail(f"fork server sent {message!r} instead of ready")
        self.supported = True
        self._socket_reader = threading.Thread(target=self._read_socket, name=f"{self.name}-forks", daemon=True)
        self._socket_reader.start()

    def fork(self, fds: Sequence[int]) -> ForkedChild:
        """A new plugin process with ``fds`` (RPC read, RPC write, stdout, stderr)."""
        assert self._socket is not None
        slot = _ForkReply()
        with self._request_lock:  # a slot's place in the queue is its request's on the socket
            if self.lost.is_set():
                raise PluginError(f"plugin {self.path}: its fork server has exited")
            self._waiting.append(slot)
            try:
                forks.send(self._socket, {"op": "fork", "preload": self.preload}, fds)
            except OSError as exc:
                self._waiting.remove(slot)
                raise PluginError(f"plugin {self.path}: its fork server is gone ({exc})") from None
        reply = slot.wait(handshake_timeout())
        if reply is None:
            raise PluginError(
                f"plugin {self.path}: its fork server did not fork within {handshake_timeout():g}s "
                f"(set {TIMEOUT_ENV} to wait longer)"
            )
        if isinstance(reply, PluginError):
            raise reply
        return reply

    def _answer(self, reply: ForkedChild | PluginError) -> None:
        """The server's answer to the oldest request still waiting."""
        with self._request_lock:
            slot = self._waiting.popleft() if self._waiting else None
        if (slot is None or not slot.give(reply)) and isinstance(reply, ForkedChild):
            # Nobody waits for it any more (its request timed out): it must not live on.
            # (It may be gone already: its pipes' other ends were closed. The
            # server reaped it then, and its exit report follows on the socket.)
            try:
                reply.send_signal(signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _read_socket(self) -> None:
        assert self._socket is not None
        while True:
            try:
                message, fds = forks.recv(self._socket)
            except (OSError, ValueError):
                message, fds = None, []
            for fd in fds:
                os.close(fd)
            if message is None:
                break
            op = message.get("op")
            if op == "forked":
                child = ForkedChild(int(message["pid"]), self)
                with self._children_lock:
                    self._children[child.pid] = child
                self._answer(child)
            elif op == "error":
                self._answer(PluginError(f"plugin {self.path}: fork server: {message.get('message')}"))
            elif op == "exited":
                with self._children_lock:
                    exited = self._children.pop(int(message["pid"]), None)
                if exited is not None:
                    exited.set_exited(int(message["status"]))
        with self._request_lock:
            self.lost.set()
            waiting = list(self._waiting)
            self._waiting.clear()
        for slot in waiting:
            slot.give(PluginError(f"plugin {self.path}: its fork server has exited"))

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        super().stop(grace)
        if self._socket is not None:
            if self._socket_reader is not None:
                import socket

                try:
                    self._socket.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                self._socket_reader.join(1.0)
            self._socket.close()
