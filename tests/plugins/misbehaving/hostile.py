"""Plugins that complete the handshake and then misbehave on the RPC pipe.

* ``main_nestbomb`` answers the first call with a 2 KB value made of 400
  nested msgpack extension types (it once overflowed the core's reader stack).
* ``main_mute`` answers nothing, ever: every call the core makes waits
  (``main_mute_provisioner``, ``main_mute_datasource``: the same, offering a
  provisioner or a data source).
* ``main_deaf`` serves a provisioner whose ``provision`` ignores cancellation.
"""

from __future__ import annotations

import os
import time

from _describe import describe_or_continue
from multiprocess.connection import Connection


def _handshake(plugin: str, type_name: str, kind: str = "builders") -> tuple[Connection, Connection]:
    import msgpack

    read_fd, write_fd = (int(fd) for fd in os.environ["BAKEHOUSE_PLUGIN_FDS"].split(","))
    inbound = Connection(read_fd, writable=False)
    outbound = Connection(write_fd, readable=False)
    hello = {"t": "hello", "protocol_version": "1.0", "plugin": plugin, "version": "0.0.1",
             "components": {kind: [type_name]}, "pid": os.getpid()}
    outbound.send_bytes(msgpack.packb(hello, use_bin_type=True))
    return inbound, outbound


def main_nestbomb() -> None:
    describe_or_continue("bakehouse-plugin-nestbomb", "builder", "nestbomb")
    import msgpack

    inbound, outbound = _handshake("bakehouse-plugin-nestbomb", "nestbomb")
    call = msgpack.unpackb(inbound.recv_bytes(), raw=False, strict_map_key=False,
                           ext_hook=lambda code, data: None)
    value: bytes = msgpack.packb(None)
    for _ in range(400):
        value = msgpack.packb(msgpack.ExtType(6, value), use_bin_type=True)
    bomb = msgpack.ExtType(6, value)
    outbound.send_bytes(msgpack.packb({"t": "return", "id": call["id"], "value": bomb},
                                      use_bin_type=True))
    time.sleep(600)


def main_mute() -> None:
    describe_or_continue("bakehouse-plugin-mute", "builder", "mute")
    inbound, _outbound = _handshake("bakehouse-plugin-mute", "mute")
    while True:  # read (so the core never blocks writing) and never answer
        inbound.recv_bytes()


def main_chatty() -> None:
    """Prints 200 MB on stdout with no newline, then fails its first call."""
    describe_or_continue("bakehouse-plugin-chatty", "builder", "chatty")
    import sys

    inbound, _outbound = _handshake("bakehouse-plugin-chatty", "chatty")
    chunk = b"x" * (1024 * 1024)
    for _ in range(200):
        sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.write(b"\nchatter done\n")
    sys.stdout.buffer.flush()
    inbound.recv_bytes()
    sys.exit(3)


def main_mute_provisioner() -> None:
    """Offers the provisioner ``mute`` and, like :func:`main_mute`, never answers."""
    describe_or_continue("bakehouse-plugin-muteprov", "provisioner", "mute")
    inbound, _outbound = _handshake("bakehouse-plugin-muteprov", "mute", kind="provisioners")
    while True:
        inbound.recv_bytes()


def main_deaf() -> None:
    """A well-formed provisioner ``deaf`` whose ``provision`` never returns and
    ignores cancellation: only stopping the plugin ends it."""
    describe_or_continue("bakehouse-plugin-deaf", "provisioner", "deaf")
    import sys

    from bakehouse.sdk import Config, Provisioner, serve

    class DeafConfig(Config):
        pass

    class DeafProvisioner(Provisioner):
        config_schema = DeafConfig

        def provision(self, ui, communicator, generated, ctx):  # type: ignore[no-untyped-def]
            print(f"deaf provisioner waiting in pid {os.getpid()}", file=sys.stderr, flush=True)
            ui.say("deaf provisioner started")
            while True:
                time.sleep(1)

    serve(plugin="bakehouse-plugin-deaf", version="0.0.1", provisioners={"deaf": DeafProvisioner})


def main_mute_datasource() -> None:
    """Offers the data source ``mute`` and never answers (templates load data
    sources before any build: the core waits on its main thread)."""
    describe_or_continue("bakehouse-plugin-muteds", "datasource", "mute")
    inbound, _outbound = _handshake("bakehouse-plugin-muteds", "mute", kind="datasources")
    while True:
        inbound.recv_bytes()
