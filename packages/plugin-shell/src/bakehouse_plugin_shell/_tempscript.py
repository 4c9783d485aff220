"""Temporary local scripts (``inline`` commands of ``shell-local``), journalled
like any temporary resource: removed when the provisioner is done, by the
command's watchdog when the plugin is killed while it runs, and by ``bakehouse
cleanup`` when even the watchdog was killed."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bakehouse.sdk import BuildInfo, Journal, JournalEntry, register_cleaner

PLUGIN = "bakehouse-plugin-shell"
TEMP_SCRIPT_KIND = "shell-temp-script"
#: Packer's prefix, so the paths printed look as users know them.
TEMP_SCRIPT_PREFIX = "packer-shell"


@dataclass(frozen=True)
class TemporaryScript:
    path: str
    #: Files to remove if this process dies: the script and its journal entry.
    orphan_files: tuple[str, ...]


@contextmanager
def temporary_script(content: bytes, build: BuildInfo, *, suffix: str = "") -> Iterator[TemporaryScript]:
    """A file holding ``content`` (mode 0700) for the duration of the ``with`` block."""
    fd, path = tempfile.mkstemp(prefix=TEMP_SCRIPT_PREFIX, suffix=suffix)
    journal = Journal(run_id=build.run_id or None, plugin=PLUGIN)
    entry: JournalEntry | None = None
    try:
        with os.fdopen(fd, "wb") as fh:
            entry = journal.record(TEMP_SCRIPT_KIND, path)
            fh.write(content)
        os.chmod(path, 0o700)
        yield TemporaryScript(path, (path, str(journal.directory / f"{entry.entry_id}.json")))
    finally:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        if entry is not None:
            journal.forget(entry)


def remove_temporary_script(entry: JournalEntry) -> None:
    """Cleaner for ``bakehouse cleanup``: only ever one of our own temporary scripts."""
    path = Path(entry.resource_id)
    if not path.name.startswith(TEMP_SCRIPT_PREFIX):
        raise ValueError(f"refusing to remove {path}: not a shell plugin temporary script")
    path.unlink(missing_ok=True)


register_cleaner(TEMP_SCRIPT_KIND, remove_temporary_script)
