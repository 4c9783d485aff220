"""A plugin that announces an RPC protocol from the future (99.0)."""

from __future__ import annotations

import os
import time

from _describe import describe_or_continue
from multiprocess.connection import Connection


def main() -> None:
    describe_or_continue("bakehouse-plugin-protocol99", "builder", "future")
    import msgpack

    write_fd = int(os.environ["BAKEHOUSE_PLUGIN_FDS"].split(",")[1])
    hello = {"t": "hello", "protocol_version": "99.0", "plugin": "bakehouse-plugin-protocol99",
             "version": "9.9.9", "components": {"builders": ["future"]}, "pid": os.getpid()}
    connection = Connection(write_fd, readable=False)
    connection.send_bytes(msgpack.packb(hello))
    time.sleep(600)
    connection.close()
