"""The journal is files: an entry is on disk before the resource is used and
gone once it is forgotten, so a run killed with -9 can be cleaned up later."""

from __future__ import annotations

import json
from pathlib import Path

from bakehouse.sdk import Journal
from bakehouse.sdk.journal import cleaner_for, load_entries, register_cleaner


def test_record_writes_an_entry_and_forget_removes_it(bakehouse_home: Path) -> None:
    journal = Journal(run_id="run-1", plugin="bakehouse-plugin-test")
    entry = journal.record("test-thing", "thing-42", region="eu-west-1")
    path = bakehouse_home / "journal" / "run-1" / f"{entry.entry_id}.json"
    data = json.loads(path.read_text())
    assert data["kind"] == "test-thing" and data["resource_id"] == "thing-42"
    assert data["plugin"] == "bakehouse-plugin-test" and data["details"] == {"region": "eu-west-1"}
    assert [e.resource_id for e in load_entries(path.parent)] == ["thing-42"]
    journal.forget(entry)
    assert not path.exists()
    journal.forget(entry)  # forgetting twice is harmless


def test_run_id_comes_from_the_environment(monkeypatch, bakehouse_home: Path) -> None:
    monkeypatch.setenv("BAKEHOUSE_RUN_ID", "from-env")
    assert Journal().directory == bakehouse_home / "journal" / "from-env"


def test_load_entries_skips_the_run_marker_and_broken_files(bakehouse_home: Path) -> None:
    journal = Journal(run_id="run-2")
    journal.record("k", "good")
    (journal.directory / "run.json").write_text('{"pid": 1}')
    (journal.directory / "broken.json").write_text("{not json")
    assert [e.resource_id for e in load_entries(journal.directory)] == ["good"]


def test_cleaners_are_registered_by_kind() -> None:
    removed: list[str] = []
    register_cleaner("test-kind-x", lambda entry: removed.append(entry.resource_id))
    cleaner = cleaner_for("test-kind-x")
    assert cleaner is not None and cleaner_for("no-such-kind") is None


def test_journal_is_private_files_0600_in_0700_directories(bakehouse_home: Path) -> None:
    import stat

    (bakehouse_home / "journal").mkdir(parents=True)
    (bakehouse_home / "journal").chmod(0o755)  # made by an older version: tightened
    journal = Journal(run_id="run-private")
    entry = journal.record("k", "thing")
    path = journal.directory / f"{entry.entry_id}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(journal.directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(journal.directory.parent.stat().st_mode) == 0o700


def test_run_ids_are_version_4_uuids_in_their_text_form() -> None:
    import uuid

    from bakehouse.sdk.journal import new_run_id

    ids = {new_run_id() for _ in range(200)}
    assert len(ids) == 200
    for text in ids:
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == text
