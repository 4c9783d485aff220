"""One RPC session over a transport: calls both ways, handles, contexts, streams.

Both sides of a pipe run a :class:`Session`. A reader thread decodes frames;
every incoming call runs on its own worker thread, so a side can serve calls
while its own calls wait (the core calls ``Builder.run``, the builder calls
``Hook.run`` back on the core, which calls a provisioner in another plugin,
which calls the builder's communicator through the core...).

Values that are not plain data cross as extension types:

* objects implementing an SDK interface (Ui, Hook, Communicator, Artifact and
  the components) become *handles*; the receiver gets a proxy that calls back;
* a :class:`Context` becomes a cancellation link: cancelling the sender's
  context sends ``cancel`` and cancels the receiver's copy;
* readable streams (:class:`AsSource`) and writable streams or ``bytes``
  callbacks (:class:`AsSink`) become chunked streams with credit-based flow
  control: at most :data:`~bakehouse.rpc.streams.WINDOW` bytes are ever in
  flight per stream. The session keeps the table of open streams and routes
  their messages; the endpoints themselves live in :mod:`bakehouse.rpc.streams`.

Ids of handles, contexts, streams and calls are odd on the initiating side
(the core) and even on the other, so one number names one thing.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import msgpack

from bakehouse.rpc import interfaces
from bakehouse.rpc.codec import (
    MAX_EXT_DEPTH,
    Call,
    Cancel,
    Credit,
    Data,
    End,
    Error,
    Ext,
    Hello,
    Message,
    ProtocolError,
    Return,
    Shutdown,
    decode_message,
    encode_message,
    pack,
    unpack,
)
from bakehouse.rpc.errors import ConnectionLost, error_from_wire, error_to_wire
from bakehouse.rpc.handles import AsSink, AsSource, Proxy, RemoteRef
from bakehouse.rpc.streams import LocalSink, LocalSource, PeerSink, PeerSource, StreamEndpoint
from bakehouse.rpc.transport import PipeTransport
from bakehouse.sdk.context import Context

log = logging.getLogger("bakehouse.rpc")

ROOT_HANDLE = 0


class _Workers:
    """Threads for incoming calls: reused while busy, never a limit.

    Calls nest (a call may wait for a call back), so the pool must grow
    without bound; reusing idle threads saves a thread start per small call
    (a provisioner's output arrives as thousands of ``Ui`` calls).
    """

    IDLE_SECONDS = 30.0

    def __init__(self, name: str) -> None:
        self.name = name
        self.tasks: queue.SimpleQueue[tuple[Callable[..., None], tuple[Any, ...]]] = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.idle = 0

    def submit(self, function: Callable[..., None], *args: Any) -> None:
        with self.lock:
            spawn = self.idle == 0
            if not spawn:
                self.idle -= 1  # that idle worker now owes us this task
        self.tasks.put((function, args))
        if spawn:
            threading.Thread(target=self._work, name=f"rpc-worker-{self.name}", daemon=True).start()

    def _work(self) -> None:
        while True:
            try:
                function, args = self.tasks.get(timeout=self.IDLE_SECONDS)
            except queue.Empty:
                with self.lock:
                    if self.idle > 0:  # nobody claimed us: retire
                        self.idle -= 1
                        return
                continue  # a submitter claimed us; its task is on the way
            try:
                function(*args)
            except BaseException:  # a worker must survive whatever a task does
                log.exception("%s: worker task failed", self.name)
            with self.lock:
                self.idle += 1


@dataclass
class _Scope:
    """What encoding or decoding the values of one message created."""

    after_send: list[Callable[[], None]] = field(default_factory=list)
    #: sinks we own whose data must be written before the call returns
    sinks: list[LocalSink] = field(default_factory=list)
    #: peer streams handed to a call we serve; finished when it returns
    peer_streams: list[PeerSource | PeerSink] = field(default_factory=list)
    #: linked contexts created for a call we serve
    contexts: list[int] = field(default_factory=list)


class _Pending:
    def __init__(self, method: str = "") -> None:
        self.method = method
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None


class Session:
    """A bidirectional RPC endpoint.

    ``root`` is the object served under handle 0 (the plugin's service; the
    core serves none) and ``root_methods`` the names callable on it.
    ``lost_error`` builds the exception pending calls raise when the peer
    disappears (the plugin layer adds exit status and last stderr lines).
    """

    def __init__(
        self,
        transport: PipeTransport,
        *,
        initiator: bool,
        name: str = "peer",
        root: object | None = None,
        root_methods: frozenset[str] = frozenset(),
        lost_error: Callable[[str], BaseException] | None = None,
    ) -> None:
        self.name = name
        self._transport = transport
        self._ids = itertools.count(1 if initiator else 2, 2)
        self._root = root
        self._root_methods = root_methods
        self._lost_error_factory = lost_error or (lambda why: ConnectionLost(f"{name}: {why}"))
        self._lock = threading.Lock()
        self._pending: dict[int, _Pending] = {}
        self._exports: dict[int, tuple[object, interfaces.Interface]] = {}
        self._export_ids: dict[int, int] = {}  # id(obj) -> handle id
        self._proxies: dict[int, object] = {}
        self._linked: dict[int, Context] = {}
        self._early_cancels: dict[int, str] = {}
        self._streams: dict[int, StreamEndpoint] = {}
        self._inflight = 0
        self._idle = threading.Condition(self._lock)
        self._closed = threading.Event()
        self._lost: BaseException | None = None
        self._close_listeners: list[Callable[[str], None]] = []
        self._shutdown_listeners: list[Callable[[str], None]] = []
        self._reader: threading.Thread | None = None
        self._workers = _Workers(name)

    # -- lifecycle -------------------------------------------------------

    def start(self) -> None:
        self._reader = threading.Thread(
            target=self._read_loop, name=f"rpc-reader-{self.name}", daemon=True
        )
        self._reader.start()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def wait_closed(self, timeout: float | None = None) -> bool:
        return self._closed.wait(timeout)

    def on_close(self, listener: Callable[[str], None]) -> None:
        """``listener(reason)`` runs on the reader thread once the peer is gone."""
        self._close_listeners.append(listener)

    def on_shutdown(self, listener: Callable[[str], None]) -> None:
        """``listener(reason)`` runs when the peer politely asks us to stop."""
        self._shutdown_listeners.append(listener)

    def send_shutdown(self, reason: str = "") -> None:
        """Ask the peer to finish and exit, then close our sending side."""
        try:
            self.send_message(Shutdown(reason))
        except OSError:
            pass
        self._transport.close_write()

    def close_write(self) -> None:
        self._transport.close_write()

    def cancel_all(self, reason: str) -> None:
        """Cancel every context the peer linked to a call in flight here."""
        with self._lock:
            contexts = list(self._linked.values())
        for ctx in contexts:
            ctx.cancel(reason)

    def wait_idle(self, timeout: float | None) -> bool:
        """Wait until no incoming call is running; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._inflight == 0, timeout)

    def waiting_for(self) -> list[str]:
        """Methods of this side's calls that the peer has not answered yet."""
        with self._lock:
            return [pending.method for pending in self._pending.values()]

    @property
    def inflight(self) -> int:
        with self._lock:
            return self._inflight

    # -- calling ---------------------------------------------------------

    def call(self, obj: int, method: str, args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any]) -> Any:
        """Call ``method`` on the peer's object ``obj`` and wait for the result."""
        if self._lost is not None:
            raise self._lost
        call_id = next(self._ids)
        scope = _Scope()
        pending = _Pending(method)
        frame = encode_message(Call(call_id, obj, method, list(args), dict(kwargs)), self._default(scope))
        with self._lock:
            # Checked under the lock _on_lost takes: a call registered after the
            # pending calls were failed would wait forever.
            if self._lost is not None:
                raise self._lost
            self._pending[call_id] = pending
        try:
            self._transport.send(frame)
        except OSError:
            with self._lock:
                self._pending.pop(call_id, None)
            self._closed.wait(5)
            raise self._lost or ConnectionLost(f"{self.name}: cannot send") from None
        for action in scope.after_send:
            action()
        pending.done.wait()
        # Data written into our sinks during the call precedes its reply on the
        # pipe; let it reach the target before the caller sees the result.
        sink_error: BaseException | None = None
        for sink in scope.sinks:
            sink.wait_drained()
            sink_error = sink_error or sink.error
        if pending.error is not None:
            raise pending.error
        if sink_error is not None:
            raise sink_error
        return pending.value

    # -- sending ---------------------------------------------------------

    def send_message(self, message: Message, scope: _Scope | None = None) -> None:
        """Encode and send one message (``scope`` collects what encoding its
        values created); raises ``OSError`` when the peer is gone."""
        default = self._default(scope) if scope is not None else None
        self._transport.send(encode_message(message, default))

    def send_message_quietly(self, message: Message) -> None:
        """Send a message whose loss does not matter once the peer is gone."""
        try:
            self.send_message(message)
        except OSError:
            log.debug("%s: dropped %s, peer gone", self.name, type(message).__name__)

    def _default(self, scope: _Scope | None) -> Callable[[Any], Any]:
        def default(obj: Any) -> Any:
            return self._encode_object(obj, scope or _Scope(), default)

        return default

    def _encode_object(self, obj: Any, scope: _Scope, default: Callable[[Any], Any]) -> Any:
        def ext(code: Ext, payload: Any) -> msgpack.ExtType:
            return msgpack.ExtType(int(code), pack(payload, default))

        if isinstance(obj, Proxy) and obj._remote.session is self:
            return ext(Ext.PEER_HANDLE, {"id": obj._remote.handle_id})
        if isinstance(obj, Context):
            return ext(Ext.CONTEXT, self._link_context(obj, scope))
        if isinstance(obj, AsSource):
            sid = next(self._ids)
            source = LocalSource(self, sid, obj.stream)
            with self._lock:
                self._streams[sid] = source
            if not obj.eager:
                return ext(Ext.SOURCE, {"id": sid})
            # Its first window needs no credit: it follows the call at once.
            scope.after_send.append(source.send_first_window)
            return ext(Ext.SOURCE, {"id": sid, "eager": True})
        if isinstance(obj, AsSink):
            sid = next(self._ids)
            sink = LocalSink(self, sid, obj.target)
            with self._lock:
                self._streams[sid] = sink
            scope.sinks.append(sink)
            scope.after_send.append(sink.grant_initial)
            kind = "file" if hasattr(obj.target, "write") else "callback"
            return ext(Ext.SINK, {"id": sid, "kind": kind})
        value = interfaces.value_to_wire(obj)
        if value is not None:
            return ext(Ext.VALUE, value)
        iface = interfaces.interface_of(obj)
        if iface is not None:
            handle_id = self._export(obj, iface)
            snapshot = iface.snapshot(obj) if iface.snapshot else None
            return ext(Ext.HANDLE, {"id": handle_id, "iface": iface.name, "snapshot": snapshot})
        if isinstance(obj, PurePath):
            return str(obj)
        if isinstance(obj, (set, frozenset)):
            return sorted(obj, key=repr)
        readable = callable(getattr(obj, "read", None))
        writable = callable(getattr(obj, "write", None))
        if readable and not writable:
            return self._encode_object(AsSource(obj), scope, default)
        if writable and not readable or (callable(obj) and not readable):
            return self._encode_object(AsSink(obj), scope, default)
        raise TypeError(f"cannot send a {type(obj).__name__} over RPC")

    def _link_context(self, ctx: Context, scope: _Scope) -> dict[str, Any]:
        cid = next(self._ids)

        def forward() -> None:
            self.send_message_quietly(Cancel(cid, ctx.reason or "context canceled"))

        # Registered after the call is on the pipe, so the cancel never
        # overtakes the call that introduces the context.
        scope.after_send.append(lambda: ctx.on_cancel(forward))
        return {"id": cid, "cancelled": ctx.cancelled, "reason": ctx.reason}

    def _export(self, obj: object, iface: interfaces.Interface) -> int:
        with self._lock:
            existing = self._export_ids.get(id(obj))
            if existing is not None and self._exports[existing][0] is obj:
                return existing
            handle_id = next(self._ids)
            self._exports[handle_id] = (obj, iface)
            self._export_ids[id(obj)] = handle_id
            return handle_id

    # -- receiving -------------------------------------------------------

    def _ext_hook(self, scope: _Scope) -> Callable[[int, bytes], Any]:
        depth = 0

        def hook(code: int, data: bytes) -> Any:
            nonlocal depth
            if depth >= MAX_EXT_DEPTH:
                raise ProtocolError(f"extension values nested deeper than {MAX_EXT_DEPTH} levels")
            depth += 1
            try:
                payload = unpack(data, hook)
            finally:
                depth -= 1
            try:
                return self._decode_ext(code, payload, scope)
            except (KeyError, TypeError, ValueError) as exc:
                raise ProtocolError(f"bad extension value {code}: {exc}") from None

        return hook

    def _decode_ext(self, code: int, payload: Any, scope: _Scope) -> Any:
        if code == Ext.HANDLE:
            return self._proxy_for(int(payload["id"]), str(payload["iface"]), payload.get("snapshot"))
        if code == Ext.PEER_HANDLE:
            with self._lock:
                return self._exports[int(payload["id"])][0]
        if code == Ext.CONTEXT:
            cid = int(payload["id"])
            ctx = Context()
            with self._lock:
                self._linked[cid] = ctx
                early = self._early_cancels.pop(cid, None)
            scope.contexts.append(cid)
            if payload.get("cancelled"):
                ctx.cancel(str(payload.get("reason") or "context canceled"))
            elif early is not None:
                ctx.cancel(early)
            return ctx
        if code == Ext.SOURCE:
            source = PeerSource(self, int(payload["id"]), eager=bool(payload.get("eager")))
            with self._lock:
                self._streams[source.sid] = source
            scope.peer_streams.append(source)
            return source
        if code == Ext.SINK:
            sink = PeerSink(self, int(payload["id"]))
            with self._lock:
                self._streams[sink.sid] = sink
            scope.peer_streams.append(sink)
            return sink if payload.get("kind") == "file" else sink.as_callback()
        if code == Ext.VALUE:
            return interfaces.value_from_wire(payload)
        raise ValueError(f"unknown extension type {code}")

    def _proxy_for(self, handle_id: int, iface_name: str, snapshot: Any) -> object:
        with self._lock:
            proxy = self._proxies.get(handle_id)
            if proxy is not None:
                return proxy
        iface = interfaces.interface_named(iface_name)
        if iface is None:
            raise ValueError(f"unknown interface {iface_name!r}")
        proxy = iface.proxy(RemoteRef(self, handle_id, iface_name), snapshot)
        with self._lock:
            return self._proxies.setdefault(handle_id, proxy)

    def _read_loop(self) -> None:
        why = "connection closed"
        try:
            while True:
                frame = self._transport.recv()
                scope = _Scope()
                message = decode_message(frame, self._ext_hook(scope))
                self._dispatch(message, scope)
        except EOFError:
            why = "connection closed"
        except ProtocolError as exc:
            why = f"protocol error: {exc}"
            log.error("%s: %s", self.name, why)
        except OSError as exc:
            why = f"read failed: {exc}"
        except Exception as exc:  # a bug in dispatch must still fail the pending calls
            why = f"internal error: {type(exc).__name__}: {exc}"
            log.exception("%s: reader failed", self.name)
        finally:
            self._on_lost(why)
            self._transport.close_read()

    def _dispatch(self, message: Message, scope: _Scope) -> None:
        if isinstance(message, Call):
            with self._lock:
                self._inflight += 1
            self._workers.submit(self._serve, message, scope)
        elif isinstance(message, (Return, Error)):
            with self._lock:
                pending = self._pending.pop(message.id, None)
            if pending is None:
                log.debug("%s: reply to unknown call %s", self.name, message.id)
                return
            if isinstance(message, Return):
                pending.value = message.value
            else:
                pending.error = error_from_wire(message.error)
                if message.error.get("traceback"):
                    log.debug("%s: remote traceback:\n%s", self.name, message.error["traceback"])
            pending.done.set()
        elif isinstance(message, Cancel):
            with self._lock:
                ctx = self._linked.get(message.ctx)
                if ctx is None:
                    self._early_cancels[message.ctx] = message.reason
            if ctx is not None:
                # Cancel callbacks may do slow work (stop a remote command):
                # never on the reader thread.
                threading.Thread(target=ctx.cancel, args=(message.reason,), daemon=True).start()
        elif isinstance(message, (Data, End, Credit)):
            with self._lock:
                endpoint = self._streams.get(message.stream)
            if endpoint is None:
                log.debug("%s: message for unknown stream %s", self.name, message.stream)
            elif isinstance(message, Data):
                endpoint.on_data(message)
            elif isinstance(message, End):
                endpoint.on_end(message)
            else:
                endpoint.on_credit(message)
        elif isinstance(message, Shutdown):
            for listener in list(self._shutdown_listeners):
                listener(message.reason or "shutdown requested")
        elif isinstance(message, Hello):
            log.debug("%s: ignoring a second hello", self.name)

    def _serve(self, message: Call, scope: _Scope) -> None:
        reply: Message
        try:
            function = self._resolve(message.obj, message.method)
            result = function(*message.args, **message.kwargs)
            self._finish_call(scope)
            reply = Return(message.id, result)
        except BaseException as exc:  # every failure goes back to the caller
            self._finish_call(scope)
            reply = Error(message.id, error_to_wire(exc))
        try:
            reply_scope = _Scope()
            try:
                self.send_message(reply, reply_scope)
            except (TypeError, ValueError) as exc:
                self.send_message(Error(message.id, error_to_wire(TypeError(f"{message.method} returned a value that cannot cross RPC: {exc}"))))
            for action in reply_scope.after_send:
                action()
        except OSError:
            log.debug("%s: reply to %s dropped, peer gone", self.name, message.method)
        finally:
            with self._idle:
                self._inflight -= 1
                self._idle.notify_all()

    def _resolve(self, obj: int, method: str) -> Callable[..., Any]:
        if obj == ROOT_HANDLE:
            if self._root is None or method not in self._root_methods:
                raise AttributeError(f"no remote method {method!r} on the root service")
            function: Callable[..., Any] = getattr(self._root, method)
            return function
        with self._lock:
            entry = self._exports.get(obj)
        if entry is None:
            raise LookupError(f"no object with handle {obj}")
        target, iface = entry
        if method in iface.properties:
            return lambda: getattr(target, method)
        if method not in iface.methods:
            raise AttributeError(f"{iface.name} has no remote method {method!r}")
        function = getattr(target, method)
        return function

    def _finish_call(self, scope: _Scope) -> None:
        for stream in scope.peer_streams:
            stream.finish()
        with self._lock:
            for cid in scope.contexts:
                self._linked.pop(cid, None)

    def _on_lost(self, why: str) -> None:
        try:
            error = self._lost_error_factory(why)
        except Exception as exc:  # never let a reporting bug hang the callers
            error = ConnectionLost(f"{self.name}: {why} ({exc})")
        with self._lock:
            self._lost = error
            pending = list(self._pending.values())
            self._pending.clear()
            streams = list(self._streams.values())
            contexts = list(self._linked.values())
        self._closed.set()
        # Cancel first: code woken by a failed call (a builder's cleanup) must
        # already see its context cancelled.
        for ctx in contexts:
            ctx.cancel("connection to the peer lost")
        for call in pending:
            call.error = error
            call.done.set()
        for endpoint in streams:
            endpoint.on_lost()
        for listener in list(self._close_listeners):
            try:
                listener(why)
            except Exception:
                log.exception("%s: close listener failed", self.name)

    def forget_stream(self, sid: int) -> None:
        """Stream ``sid`` is finished: route no more messages to it."""
        with self._lock:
            self._streams.pop(sid, None)
