"""``bakehouse cleanup [-dry-run] [-grace=DURATION] [RUN_ID...]``: remove what dead runs left.

Every temporary resource is journalled under ``$BAKEHOUSE_HOME/journal/<run
id>/`` before it is used and forgotten once removed, so the entries of a
journal whose run is over are exactly its leftovers. A run is over when the
core recorded in its ``run.json`` is no longer alive (or its pid now belongs
to a process started later), or, with no ``run.json``, when nothing was
written to the journal for longer than the grace period. Runs that still have
processes of their own (plugins still cleaning up after the core died) are
left alone.

Each leftover is removed by the plugin that created it
(:meth:`PluginManager.cleanup_entry`); the output names the resource id of
everything removed or not (with ``-machine-readable``: ``cleanup-removed``,
``cleanup-failed`` and, for ``-dry-run``, ``cleanup-pending`` lines with the
run id, kind and resource id). Exit status 1 when anything could not be
removed or a named run has no journal.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import stat
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bakehouse.cli.common import add_ui_flags, bool_flag, flag, make_ui

#: Default age after which a journal without ``run.json`` counts as abandoned.
DEFAULT_GRACE = "1h"
#: Slack between the core's start and the moment it wrote ``run.json``.
_START_SLACK_SECONDS = 5.0


def _duration(text: str) -> float:
    from bakehouse.sdk.problems import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    bool_flag(parser, "dry-run", "list what would be removed, remove nothing")
    flag(parser, "grace", dest="grace", type=_duration, default=_duration(DEFAULT_GRACE),
         metavar="DURATION",
         help=f"a journal without run.json is abandoned after this long (default {DEFAULT_GRACE})")
    add_ui_flags(parser)
    parser.add_argument("run_ids", nargs="*", metavar="RUN_ID",
                        help="only these runs (default: every run found)")


@dataclass
class RunJournal:
    """One run's journal directory and what is known about its core."""

    directory: Path
    core_pid: int | None = None
    started: float | None = None  #: unix time the core wrote run.json
    entries: list[Any] = field(default_factory=list)  # list[JournalEntry]
    supervisor_dir: str | None = None  #: the supervisor's ``bakehouse-run-*`` directory

    @property
    def run_id(self) -> str:
        return self.directory.name


def read_run(directory: Path) -> RunJournal:
    from bakehouse.sdk.journal import load_entries

    run = RunJournal(directory, entries=load_entries(directory))
    try:
        marker = json.loads((directory / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return run
    if isinstance(marker, dict):
        pid = marker.get("pid")
        run.core_pid = pid if isinstance(pid, int) and pid > 0 else None
        if isinstance(marker.get("supervisor_dir"), str):
            run.supervisor_dir = marker["supervisor_dir"]
        started = marker.get("started")
        if isinstance(started, str):
            try:
                run.started = datetime.datetime.fromisoformat(started).timestamp()
            except ValueError:
                pass
    return run


def _process_start_time(pid: int) -> float | None:
    """Unix time process ``pid`` started, or None when it is gone (zombies count as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return None
    ticks = int(fields[19])  # field 22 of stat(5), counted after the ")"
    boot = 0.0
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                boot = float(line.split()[1])
                break
    except OSError:
        pass
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def _core_alive(run: RunJournal) -> bool:
    assert run.core_pid is not None
    start = _process_start_time(run.core_pid)
    if start is None:
        return False
    # The pid now belongs to a process that started after the core wrote run.json.
    return not (run.started is not None and start > run.started + _START_SLACK_SECONDS)


def _ancestors(pid: int) -> set[int]:
    """``pid`` and every process above it."""
    chain = set()
    while pid > 1 and pid not in chain:
        chain.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return chain


def _processes_of_run(run_id: str) -> list[int]:
    """Live processes whose environment carries this run id (plugins, their children)."""
    from bakehouse.sdk.journal import RUN_ID_ENV

    needle = f"{RUN_ID_ENV}={run_id}".encode()
    # This command and its supervisor may have inherited the run id (cleanup run
    # from a shell or a hook of that run): they are not the run's processes.
    ourselves = _ancestors(os.getpid())
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) in ourselves:
            continue
        try:
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0") and _process_start_time(int(proc.name)) is not None:
            found.append(int(proc.name))
    return found


def _last_written(directory: Path) -> float:
    times = [directory.stat().st_mtime]
    for path in directory.iterdir():
        try:
            times.append(path.stat().st_mtime)
        except OSError:
            pass
    return max(times)


def _why_not_abandoned(run: RunJournal, grace: float) -> str | None:
    """Why this run must be left alone, or None when its leftovers are fair game."""
    if run.core_pid is not None:
        if _core_alive(run):
            return f"its core (pid {run.core_pid}) is still running"
    else:
        age = time.time() - _last_written(run.directory)
        if age < grace:
            return f"no run.json and written {age:.0f}s ago (grace period {grace:.0f}s)"
    survivors = _processes_of_run(run.run_id)
    if survivors:
        return "processes of the run are still cleaning up (pids " + ", ".join(map(str, survivors)) + ")"
    return None


def _forget(run: RunJournal, entry: Any) -> None:
    try:
        (run.directory / f"{entry.entry_id}.json").unlink()
    except FileNotFoundError:
        pass


def remove_journal_if_done(directory: Path) -> None:
    """Drop a journal once nothing but its run marker is left."""
    try:
        if any(p.name != "run.json" for p in directory.iterdir()):
            return
        (directory / "run.json").unlink(missing_ok=True)
        directory.rmdir()
    except OSError:
        pass


def remove_entry(manager: Any, run: RunJournal, entry: Any, ui: Any) -> bool:
    """Ask the owning plugin to remove one leftover; report it; True when removed
    (its journal entry is then dropped, otherwise it stays for next time)."""
    from bakehouse.plugin.errors import PluginError

    what = f"{entry.kind} {entry.resource_id} ({entry.plugin})"
    try:
        manager.cleanup_entry(entry)
    except Exception as exc:  # a plugin's or cleaner's error: report it, go on
        reason = str(exc) if isinstance(exc, PluginError) else f"{type(exc).__name__}: {exc}"
        ui.error(f"    failed to remove {what}: {reason}")
        ui.machine("", "cleanup-failed", run.run_id, entry.kind, entry.resource_id, reason)
        return False
    _forget(run, entry)
    ui.message(f"    removed {what}")
    ui.machine("", "cleanup-removed", run.run_id, entry.kind, entry.resource_id)
    return True


def stale_run_dir(path: Path) -> bool:
    """Whether ``path`` is the temporary directory of a ``bakehouse`` supervisor
    that was killed, and so ours to remove: named with the supervisor's prefix,
    not a link, owned by this user, holding the marker the supervisor wrote,
    whose process is gone (or whose pid now belongs to a process started later).
    A journal naming any other path (hand-written, or tampered with) removes
    nothing."""
    from bakehouse.cli.main import RUN_DIR_MARKER, RUN_DIR_PREFIX

    if not path.is_absolute() or not path.name.startswith(RUN_DIR_PREFIX):
        return False
    try:
        info = path.lstat()
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            return False
        marker = path / RUN_DIR_MARKER
        if not stat.S_ISREG(marker.lstat().st_mode):
            return False
        pid_text, started_text = marker.read_text(encoding="ascii").split()
        pid, started = int(pid_text), float(started_text)
    except (OSError, ValueError):
        return False
    start = _process_start_time(pid)
    return start is None or start > started + _START_SLACK_SECONDS


def stale_run_dirs(journalled: Iterable[str] = (), scan: bool = True) -> list[Path]:
    """Temporary directories of killed supervisors: those that journals of dead
    runs name (the run may have had another ``TMPDIR``) and, with ``scan``,
    those directly under the temporary directory."""
    import tempfile

    from bakehouse.cli.main import RUN_DIR_PREFIX

    candidates = {Path(os.path.normpath(text)) for text in journalled}
    if scan:
        try:
            base = Path(tempfile.gettempdir())
            candidates.update(p for p in base.iterdir() if p.name.startswith(RUN_DIR_PREFIX))
        except OSError:
            pass
    return sorted(path for path in candidates if stale_run_dir(path))


def _remove_stale_run_dirs(args: argparse.Namespace, ui: Any, journalled: list[str]) -> int:
    """Remove (or list, with -dry-run) stale supervisor directories; return how many."""
    import shutil

    # Named runs: only their own directory; otherwise every killed supervisor's.
    directories = stale_run_dirs(journalled, scan=not args.run_ids)
    for path in directories:
        if args.dry_run:
            ui.message(f"    would remove temporary directory {path}")
            ui.machine("", "cleanup-pending", "", "temp-dir", str(path))
            continue
        shutil.rmtree(path, ignore_errors=True)
        ui.message(f"    removed temporary directory {path}")
        ui.machine("", "cleanup-removed", "", "temp-dir", str(path))
    return len(directories)


def run(args: argparse.Namespace) -> int:
    from bakehouse.plugin.manager import PluginManager
    from bakehouse.sdk.journal import journal_root

    ui = make_ui(args)
    root = journal_root()
    directories = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if args.run_ids:
        wanted = set(args.run_ids)
        directories = [d for d in directories if d.name in wanted]
        for missing in sorted(wanted - {d.name for d in directories}):
            ui.error(f"No journal for run {missing} under {root}")
    removed = skipped = 0
    journalled_dirs: list[str] = []
    failed = len(set(args.run_ids) - {d.name for d in directories})
    manager: PluginManager | None = None
    try:
        for directory in directories:
            journal = read_run(directory)
            reason = _why_not_abandoned(journal, args.grace)
            if reason is None and journal.supervisor_dir:
                journalled_dirs.append(journal.supervisor_dir)
            if reason is not None:
                if journal.entries:
                    ui.say(f"Run {journal.run_id}: skipped, {reason}.")
                    skipped += 1
                continue
            if not journal.entries:
                if not args.dry_run:
                    remove_journal_if_done(directory)
                continue
            ui.say(f"Run {journal.run_id}: {len(journal.entries)} leftover resource(s).")
            for entry in journal.entries:
                what = f"{entry.kind} {entry.resource_id} ({entry.plugin})"
                if args.dry_run:
                    ui.message(f"    would remove {what}")
                    ui.machine("", "cleanup-pending", journal.run_id, entry.kind, entry.resource_id)
                    continue
                if manager is None:
                    manager = PluginManager(run_id=f"cleanup-{uuid.uuid4().hex[:12]}")
                if remove_entry(manager, journal, entry, ui):
                    removed += 1
                else:
                    failed += 1
            if not args.dry_run:
                remove_journal_if_done(directory)
    finally:
        if manager is not None:
            manager.shutdown()
    removed += _remove_stale_run_dirs(args, ui, journalled_dirs)
    if args.dry_run:
        ui.say("Dry run: nothing was removed.")
    elif removed or failed:
        ui.say(f"Removed {removed} resource(s); {failed} could not be removed.")
    elif not skipped:
        ui.say("Nothing to clean up.")
    return 1 if failed else 0
