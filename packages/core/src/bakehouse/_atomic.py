"""Replace a file in one step, for the caches that concurrent runs share."""

from __future__ import annotations

import os
from pathlib import Path


def replace_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a scratch file beside it and a rename:
    a reader (another run sharing the directory) sees the old file or the new
    one, never part of one. Raises ``OSError``; the scratch file never stays."""
    scratch = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        scratch.write_bytes(data)
        os.replace(scratch, path)
    except BaseException:
        try:
            scratch.unlink()
        except OSError:
            pass
        raise
