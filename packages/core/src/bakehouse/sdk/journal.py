"""The journal of temporary resources.

Every temporary resource a component creates (container, instance, key pair,
security group, temp dir) is recorded here *before* it is used and removed
once its cleanup succeeded. Entries are files, so they survive ``kill -9`` of
every process: ``bakehouse cleanup`` reads the journals of runs whose core is
gone and asks the owning plugin to remove what they list (see
:func:`register_cleaner`).

Layout: ``$BAKEHOUSE_HOME/journal/<run_id>/<entry_id>.json`` (``BAKEHOUSE_HOME``
defaults to ``~/.bakehouse.d``), plus ``<run_id>/run.json`` with the core's
pid, written by the core.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bakehouse.sdk import events

#: Environment variable carrying the run id from the core to its plugins.
RUN_ID_ENV = "BAKEHOUSE_RUN_ID"

Cleaner = Callable[["JournalEntry"], None]
_CLEANERS: dict[str, Cleaner] = {}


def _random_hex(digits: int) -> str:
    """Random lowercase hex digits (as ``uuid.uuid4().hex``, without importing uuid
    and platform into every plugin's start-up)."""
    return os.urandom((digits + 1) // 2).hex()[:digits]


def new_run_id() -> str:
    """A fresh run id: a random (version 4) UUID in its usual text form, as
    ``str(uuid.uuid4())`` (without importing uuid before the first plugin starts)."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40
    raw[8] = raw[8] & 0x3F | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def home() -> Path:
    return Path(os.environ.get("BAKEHOUSE_HOME") or Path.home() / ".bakehouse.d")


def journal_root() -> Path:
    return home() / "journal"


@dataclass
class JournalEntry:
    """One temporary resource: ``kind`` names the cleaner, ``resource_id`` the thing."""

    plugin: str  #: plugin executable name (``bakehouse-plugin-docker``) or ``builtin``
    kind: str  #: e.g. ``docker-container``, ``ec2-instance``
    resource_id: str
    details: dict[str, Any] = field(default_factory=dict)
    entry_id: str = field(default_factory=lambda: _random_hex(32))
    run_id: str = ""


class Journal:
    """Records and forgets temporary resources of one run."""

    def __init__(self, run_id: str | None = None, plugin: str = "builtin") -> None:
        self.run_id = run_id or os.environ.get(RUN_ID_ENV, "") or "norun-" + _random_hex(12)
        self.plugin = plugin
        self.directory = journal_root() / self.run_id

    def record(self, kind: str, resource_id: str, **details: Any) -> JournalEntry:
        """Write the entry to disk (fsync'd) and return it."""
        entry = JournalEntry(self.plugin, kind, resource_id, details, run_id=self.run_id)
        make_private_dir(self.directory)
        path = self.directory / f"{entry.entry_id}.json"
        tmp = path.with_suffix(".tmp")
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as fh:
            json.dump(asdict(entry), fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        events.emit("resource-created", plugin=self.plugin, kind=kind, id=resource_id, entry=entry.entry_id)
        return entry

    def forget(self, entry: JournalEntry) -> None:
        """The resource is gone: drop its entry."""
        try:
            (self.directory / f"{entry.entry_id}.json").unlink()
        except FileNotFoundError:
            pass
        events.emit("resource-removed", plugin=entry.plugin, kind=entry.kind, id=entry.resource_id,
                    entry=entry.entry_id)


def make_private_dir(directory: Path) -> None:
    """``directory`` (and the journal root above it) exist with mode 0700:
    entries name resources and endpoints that are nobody else's business."""
    for path in (journal_root(), directory):
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        if path.stat().st_mode & 0o077:
            path.chmod(0o700)


def load_entries(directory: Path) -> list[JournalEntry]:
    entries = []
    for path in sorted(directory.glob("*.json")):
        if path.name == "run.json":
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            # The run is the directory's: an entry cannot claim another run's
            # id (cleaners check ownership tags against it).
            data["run_id"] = directory.name
            entries.append(JournalEntry(**data))
        except (OSError, ValueError, TypeError):
            continue
    return entries


def register_cleaner(kind: str, cleaner: Cleaner) -> None:
    """Declare how a plugin removes a leftover resource of ``kind``
    (used by ``bakehouse cleanup`` through the plugin process)."""
    _CLEANERS[kind] = cleaner


def cleaner_for(kind: str) -> Cleaner | None:
    return _CLEANERS.get(kind)
