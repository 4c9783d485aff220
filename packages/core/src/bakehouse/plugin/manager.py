"""The plugin manager: the core's single door to components.

``create`` hands out a built-in instance or a remote proxy implementing the
same SDK interface; the orchestrator cannot tell them apart. Plugin processes
start lazily, one per (executable, build), the first time a build needs one
of their components, and are stopped in parallel by ``release``/``shutdown``.
An executable that two or more builds of the run need (``expect_builds``)
starts once as a fork server that forks each build's process: one Python
start-up and one import of the components instead of one per build.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from bakehouse.plugin.discovery import (
    KINDS,
    Catalog,
    ComponentSource,
    PluginDescription,
    discover,
    load_builtins,
)
from bakehouse.plugin.errors import PluginError, UnknownComponentError
from bakehouse.plugin.process import ForkServer, PluginProcess, handshake_timeout
from bakehouse.rpc.errors import ConnectionLost, RemoteError
from bakehouse.sdk import events
from bakehouse.sdk.journal import RUN_ID_ENV, JournalEntry, cleaner_for, new_run_id

log = logging.getLogger("bakehouse.plugin")

#: Seconds an ``EXE describe`` may take.
DESCRIBE_TIMEOUT = 30.0
#: Build key of the processes started to clean up journal entries.
CLEANUP_BUILD_KEY = "bakehouse-cleanup"

_ProcessKey = tuple[str, str]  # (executable path, build key)


class PluginManager:
    """Discovers plugins and runs their processes for the core."""

    def __init__(self, *, run_id: str = "", extra_dirs: Sequence[str] = ()) -> None:
        self.run_id = run_id or os.environ.get(RUN_ID_ENV, "") or new_run_id()
        self.extra_dirs = tuple(extra_dirs)
        self._lock = threading.Lock()
        self._catalog: Catalog | None = None
        self._processes: dict[_ProcessKey, PluginProcess] = {}
        self._starting: dict[_ProcessKey, threading.Lock] = {}
        self._prestarting: dict[str, list[threading.Thread]] = {}
        # Started by start_early (plugin processes or fork servers), until a build takes them.
        self._early: dict[str, PluginProcess] = {}
        self._early_starting: dict[str, threading.Thread] = {}
        self._early_gates: dict[str, threading.Lock] = {}
        # Executables that failed to start: later components fail at once
        # instead of waiting out the handshake timeout again.
        self._broken: dict[str, PluginError] = {}
        # Executables several builds need: the builds still to release, the
        # components to import before forking, and the running fork servers.
        self._shared_by: dict[str, set[str]] = {}
        self._preload: dict[str, list[tuple[str, str]]] = {}
        self._fork_servers: dict[str, ForkServer] = {}
        self._closed = False
        # Backstop for callers that forget shutdown(): no plugin outlives us.
        atexit.register(_shutdown_if_alive, weakref.ref(self))

    # -- discovery -------------------------------------------------------

    @property
    def catalog(self) -> Catalog:
        with self._lock:
            if self._catalog is None:
                # Describing is a one-off (then cached): be patient with a busy machine.
                self._catalog = discover(self.extra_dirs, max(handshake_timeout(), DESCRIBE_TIMEOUT))
            return self._catalog

    def find(self, kind: str, type: str) -> ComponentSource | None:
        """Where ``type`` of ``kind`` comes from; starts no plugin process."""
        return self.catalog.components.get((kind, type))

    def known_types(self, kind: str) -> list[str]:
        return sorted(t for k, t in self.catalog.components if k == kind)

    def problems(self) -> list[str]:
        """Why plugin executables found could not be used (describe failed,
        incompatible protocol), one line each naming the executable."""
        return list(self.catalog.problems)

    def installed(self) -> list[PluginDescription]:
        """Plugin executables found, in discovery order (built-ins excluded)."""
        return list(self.catalog.plugins)

    # -- components --------------------------------------------------------

    def create(self, kind: str, type: str, build_key: str) -> Any:
        """A new component instance for one use in build ``build_key``."""
        if kind not in KINDS:
            raise ValueError(f"unknown component kind {kind!r}")
        source = self.find(kind, type)
        if source is None:
            raise UnknownComponentError(kind, type, self.known_types(kind), self.problems())
        if source.path is None:
            return load_builtins()[kind][type]()
        if source.description is not None and not source.description.compatible:
            raise PluginError(
                f"plugin {source.path} speaks RPC protocol {source.description.protocol_version!r}, "
                "which this bakehouse does not support"
            )
        process = self._process_for(source.path, build_key)
        try:
            return process.create(kind, type)
        except (RemoteError, ConnectionLost) as exc:
            raise PluginError(f"plugin {process.name}: cannot create {kind} {type!r}: {exc}") from None

    def prestart(self, components: Sequence[tuple[str, str]], build_key: str) -> None:
        """Start, concurrently and in the background, the plugin processes
        ``components`` (kind, type) of build ``build_key`` will need, so that
        their handshakes overlap instead of adding up. Still lazy: only the
        executables named here. A failure is kept and reported by the
        ``create`` that needs the plugin."""
        paths = list(dict.fromkeys(path for path, _, _ in self._plugin_components(components)))

        def start(path: str) -> None:
            try:
                self._process_for(path, build_key)
            except PluginError:
                pass  # recorded in _broken; create says it with the component's name

        # Not joined here: built-in components are created (and the core's own
        # imports done) while the plugins start. ``create`` waits on the same
        # per-process lock; ``release`` waits for these threads.
        threads = [
            threading.Thread(target=start, args=(path,), name=f"plugin-start-{i}", daemon=True)
            for i, path in enumerate(paths)
        ]
        with self._lock:
            self._prestarting.setdefault(build_key, []).extend(threads)
        for thread in threads:
            thread.start()

    def start_early(self, components_by_build: Mapping[str, Sequence[tuple[str, str]]]) -> None:
        """Start, in the background, the plugin processes of the components
        (kind, type) each build will use, before the builds are known: the
        template's syntax names them (:mod:`bakehouse.template.prescan`)
        while the core still imports and evaluates it. Still lazy: only the
        executables named here. One that a single build uses starts as a
        plugin process, which the first build that needs it takes; one that
        two or more builds use starts as their fork server (as
        :meth:`expect_builds` would). What no build takes stops with
        :meth:`shutdown`."""
        users, preload = self._users(components_by_build)
        spawned: list[threading.Event] = []
        for index, path in enumerate(users):
            shared = len(users[path]) >= 2
            event = threading.Event()
            thread = threading.Thread(target=self._start_early, args=(path, shared, preload[path], event),
                                      name=f"plugin-early-{index}", daemon=True)
            with self._lock:
                if self._closed or path in self._early_gates:
                    continue
                self._early_gates[path] = threading.Lock()
                self._early_starting[path] = thread
            thread.start()
            spawned.append(event)
        # Back to the caller once the processes exist: it would otherwise keep
        # the GIL (importing, evaluating) while their spawn waits for it.
        for event in spawned:
            event.wait(handshake_timeout())

    def _start_early(self, path: str, shared: bool, preload: list[tuple[str, str]],
                     spawned: threading.Event) -> None:
        try:
            self._start_early_process(path, shared, preload, spawned)
        finally:
            spawned.set()  # also when it failed before spawning

    def _start_early_process(self, path: str, shared: bool, preload: list[tuple[str, str]],
                             spawned: threading.Event) -> None:
        process: PluginProcess
        if shared:
            process = ForkServer(path, run_id=self.run_id, preload=preload)
        else:
            process = PluginProcess(path, build_key="the first build that needs it", run_id=self.run_id,
                                    preload=preload)
        try:
            process.start(spawned=spawned.set)
        except PluginError as exc:
            with self._lock:
                self._broken.setdefault(path, exc)
            return
        if isinstance(process, ForkServer) and not process.supported:
            process.stop()  # an older SDK: the builds start their own processes
            return
        with self._lock:
            closed = self._closed
            if not closed:
                self._early[path] = process
        if closed:
            process.stop()

    def _take_early(self, path: str) -> PluginProcess | None:
        """What :meth:`start_early` started for ``path``, once its start is
        over: a fork server joins the running ones (None is returned), a
        plugin process is returned to the first caller. None when there is
        nothing (left)."""
        with self._lock:
            gate = self._early_gates.get(path)
        if gate is None:
            return None
        with gate:  # a second build of the same executable waits for the first to settle it
            with self._lock:
                thread = self._early_starting.pop(path, None)
            if thread is not None:
                thread.join()
            with self._lock:
                started = self._early.pop(path, None)
                if (isinstance(started, ForkServer) and not self._closed and started.alive
                        and path not in self._fork_servers):
                    self._fork_servers[path] = started
                    return None
            if started is not None and (isinstance(started, ForkServer) or not started.alive):
                started.stop()
                return None
            return started

    def _plugin_components(self, components: Sequence[tuple[str, str]]) -> list[tuple[str, str, str]]:
        """(executable, kind, type) of the components that come from a usable plugin."""
        found = []
        for kind, type in components:
            source = self.find(kind, type) if kind in KINDS else None
            if source is None or source.path is None:
                continue
            if source.description is not None and not source.description.compatible:
                continue
            found.append((source.path, kind, type))
        return found

    def expect_builds(self, components_by_build: Mapping[str, Sequence[tuple[str, str]]]) -> None:
        """Say which components (kind, type) each build of the run will use.
        An executable needed by two or more builds is then started once, as a
        fork server (with those components imported), and forks each build's
        process; it stops when the last of those builds is released."""
        users, preload = self._users(components_by_build)
        with self._lock:
            for path, keys in users.items():
                if len(keys) >= 2:
                    self._shared_by[path] = keys
                    self._preload[path] = preload[path]

    def _users(self, components_by_build: Mapping[str, Sequence[tuple[str, str]]]
               ) -> tuple[dict[str, set[str]], dict[str, list[tuple[str, str]]]]:
        """Per plugin executable: the builds that use it, and its components they use."""
        users: dict[str, set[str]] = {}
        preload: dict[str, list[tuple[str, str]]] = {}
        for build_key, components in components_by_build.items():
            for path, kind, type in self._plugin_components(components):
                users.setdefault(path, set()).add(build_key)
                if (kind, type) not in preload.setdefault(path, []):
                    preload[path].append((kind, type))
        return users, preload

    def _fork_server_for(self, path: str) -> ForkServer | None:
        """The running fork server of ``path``, started if needed; None when
        ``path`` is not shared or its plugin cannot be one (older SDK)."""
        with self._lock:
            if path not in self._shared_by or self._closed:
                return None
            start_lock = self._starting.setdefault((path, "fork server"), threading.Lock())
        with start_lock:
            with self._lock:
                server = self._fork_servers.get(path)
            if server is not None and server.alive and not server.lost.is_set():
                return server
            server = ForkServer(path, run_id=self.run_id, preload=self._preload.get(path, []))
            server.start()  # a PluginError is the plugin's: the caller records it
            if not server.supported:
                log.debug("%s cannot fork for builds (older SDK): one process per build", server.name)
                server.stop()
                with self._lock:
                    self._shared_by.pop(path, None)
                return None
            log.debug("fork server of %s ready (pid %d)", server.name, server.pid)
            with self._lock:
                closed = self._closed
                if not closed:
                    self._fork_servers[path] = server
            if closed:
                server.stop()
                return None
            return server

    def _process_for(self, path: str, build_key: str) -> PluginProcess:
        key = (path, build_key)
        with self._lock:
            if self._closed:
                raise PluginError(f"plugin {path}: bakehouse is shutting down")
            start_lock = self._starting.setdefault(key, threading.Lock())
        # Per-key lock: two components of one build share one process, while
        # different builds start their own processes concurrently.
        with start_lock:
            with self._lock:
                process = self._processes.get(key)
                broken = self._broken.get(path)
            if broken is not None:
                raise PluginError(str(broken))
            if process is not None and process.alive:
                return process
            if process is not None:
                log.debug("%s for %s is gone; starting a new one", process.name, build_key)
            try:
                process = self._take_early(path)
                if process is not None:
                    process.build_key = build_key
                    log.debug("%s (pid %d) goes to build %s", process.name, process.pid, build_key)
                else:
                    with self._lock:
                        broken = self._broken.get(path)  # its early start failed
                    if broken is not None:
                        raise PluginError(str(broken))
                    fork_server = self._fork_server_for(path)
                    process = PluginProcess(path, build_key=build_key, run_id=self.run_id, fork_server=fork_server)
                    process.start()
            except PluginError as exc:
                with self._lock:
                    self._broken[path] = exc
                raise
            events.emit("plugin-started", plugin=process.name, path=path, plugin_pid=process.pid, build=build_key)
            with self._lock:
                closed = self._closed
                if not closed:
                    self._processes[key] = process
            if closed:
                process.stop()
                raise PluginError(f"plugin {path}: bakehouse is shutting down")
            return process

    def processes(self, build_key: str | None = None) -> list[PluginProcess]:
        """Running plugin processes (of one build, or all)."""
        with self._lock:
            return [p for (_, key), p in self._processes.items() if build_key is None or key == build_key]

    def unanswered(self) -> list[str]:
        """``plugin (pid N) has not answered method`` for each plugin with calls in flight."""
        waiting = []
        for process in self.processes():
            methods = process.session.waiting_for() if process.session is not None else []
            if methods:
                waiting.append(f"{process.name} (pid {process.pid}) has not answered "
                               + ", ".join(sorted(set(methods))))
        return waiting

    # -- stopping ----------------------------------------------------------

    def release(self, build_key: str) -> None:
        """Stop the plugin processes of one build (in parallel)."""
        with self._lock:
            starting = self._prestarting.pop(build_key, [])
        for thread in starting:
            thread.join()
        with self._lock:
            keys = [key for key in self._processes if key[1] == build_key]
            victims = [self._processes.pop(key) for key in keys]
            idle_servers = []
            for path, users in list(self._shared_by.items()):
                users.discard(build_key)
                if not users and path in self._fork_servers:
                    idle_servers.append(self._fork_servers.pop(path))
        _stop_all(victims)
        _stop_all(idle_servers)

    def shutdown(self) -> None:
        """Stop every plugin process, in parallel, and reap them; the fork
        servers last (their children get SIGTERM when they exit)."""
        with self._lock:
            self._closed = True
            early = list(self._early_starting.values())
            self._early_starting.clear()
        for thread in early:
            thread.join()  # it sees _closed and stops what it started
        with self._lock:
            victims = list(self._processes.values())
            victims += [p for p in self._early.values() if not isinstance(p, ForkServer)]
            early_servers = [p for p in self._early.values() if isinstance(p, ForkServer)]
            self._processes.clear()
            self._early.clear()
            servers = list(self._fork_servers.values()) + early_servers
            self._fork_servers.clear()
        _stop_all(victims)
        _stop_all(servers)

    # -- journal -------------------------------------------------------------

    def cleanup_entry(self, entry: JournalEntry) -> None:
        """Ask the plugin that created a leftover resource to remove it."""
        if entry.plugin in ("", "builtin"):
            load_builtins()  # built-ins register their cleaners on import
            cleaner = cleaner_for(entry.kind)
            if cleaner is None:
                raise PluginError(f"no built-in cleaner for {entry.kind!r} resources")
            cleaner(entry)
            return
        description = next(
            (p for p in self.catalog.plugins if entry.plugin in (p.name, p.plugin)), None
        )
        if description is None:
            raise PluginError(
                f"plugin {entry.plugin} is not installed; cannot remove {entry.kind} {entry.resource_id}"
            )
        process = self._process_for(description.path, CLEANUP_BUILD_KEY)
        try:
            process.call_service("cleanup_entry", entry)
        except RemoteError as exc:
            raise PluginError(
                f"plugin {process.name}: cannot remove {entry.kind} {entry.resource_id}: {exc}"
            ) from None


def _shutdown_if_alive(ref: weakref.ref[PluginManager]) -> None:
    manager = ref()
    if manager is not None:
        manager.shutdown()


def _stop_all(processes: Sequence[PluginProcess]) -> None:
    if not processes:
        return
    threads = [
        threading.Thread(target=_stop_quietly, args=(p,), name=f"stop-{p.name}", daemon=True)
        for p in processes
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _stop_quietly(process: PluginProcess) -> None:
    try:
        process.stop()
    except Exception:  # stopping the others matters more than this one's error
        log.exception("stopping %s (pid %d) failed", process.name, process.pid)
