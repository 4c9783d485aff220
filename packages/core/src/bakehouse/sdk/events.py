"""Run events for ``bakehouse build -json-report``.

When the core is asked for a report it sets ``BAKEHOUSE_EVENTS_FILE``; every
process of the run (the core and the plugins, which inherit the environment)
appends one JSON object per line to that file: steps run by
:class:`~bakehouse.sdk.multistep.Runner`, resources recorded in and forgotten
from the :class:`~bakehouse.sdk.journal.Journal`. Without the variable nothing
is written. Each line is a single ``write`` on an ``O_APPEND`` descriptor, so
lines of concurrent processes do not interleave.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

EVENTS_FILE_ENV = "BAKEHOUSE_EVENTS_FILE"


def emit(event: str, **fields: Any) -> None:
    """Append ``{"event": event, "time": ..., "pid": ..., **fields}`` (if enabled)."""
    path = os.environ.get(EVENTS_FILE_ENV, "")
    if not path:
        return
    line = json.dumps({"event": event, "time": time.time(), "pid": os.getpid(), **fields}, default=str)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    except OSError:
        return  # the core removed it: the run is over
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def read_events(path: str) -> list[dict[str, Any]]:
    """The events written so far (a torn last line is ignored)."""
    events = []
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    events.append(json.loads(line))
                except ValueError:
                    continue
    except OSError:
        return []
    return events
