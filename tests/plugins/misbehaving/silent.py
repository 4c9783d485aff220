"""A plugin that starts and never says a word on the RPC pipe."""

from __future__ import annotations

import signal
import time

from _describe import describe_or_continue


def main() -> None:
    describe_or_continue("bakehouse-plugin-silent", "builder", "silent")
    # Deaf to polite requests too: only SIGKILL ends it.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(600)
