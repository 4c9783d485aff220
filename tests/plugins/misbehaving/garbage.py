"""A plugin whose ``serve`` writes garbage on the RPC pipe instead of a handshake."""

from __future__ import annotations

import os
import sys
import time

from _describe import describe_or_continue


def main() -> None:
    describe_or_continue("bakehouse-plugin-garbage", "builder", "garbage")
    print("hello, I am chatty on stdout", flush=True)
    write_fd = int(os.environ["BAKEHOUSE_PLUGIN_FDS"].split(",")[1])
    os.write(write_fd, b"GARBAGE! this is not a frame\n" * 3)
    time.sleep(600)
    sys.exit(0)
