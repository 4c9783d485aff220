"""A plugin that completes the handshake, then ignores shutdown and SIGTERM."""

from __future__ import annotations

import os
import signal
import time

from _describe import describe_or_continue
from multiprocess.connection import Connection


def main() -> None:
    describe_or_continue("bakehouse-plugin-stubborn", "builder", "stubborn")
    import msgpack

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    write_fd = int(os.environ["BAKEHOUSE_PLUGIN_FDS"].split(",")[1])
    hello = {"t": "hello", "protocol_version": "1.0", "plugin": "bakehouse-plugin-stubborn",
             "version": "0.0.1", "components": {"builders": ["stubborn"]}, "pid": os.getpid()}
    # Keep the connection referenced: collecting it would close the pipe.
    connection = Connection(write_fd, readable=False)
    connection.send_bytes(msgpack.packb(hello))
    time.sleep(600)
    connection.close()
