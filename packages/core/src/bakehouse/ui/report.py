"""``bakehouse build -json-report FILE``: what a run did, as one JSON document.

The core collects three things: the results of the builds (status, duration,
artifacts) from the orchestrator; the events every process of the run appends
to a temporary file (:mod:`bakehouse.sdk.events`: builder steps, resources
recorded in and forgotten from the journal, plugin processes started); and
the run's own facts (run id, template, exit status). :func:`write_report`
turns them into the document described in docs/cli.md.
"""

from __future__ import annotations

import datetime
import json
import os
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bakehouse.sdk.events import EVENTS_FILE_ENV, read_events

REPORT_VERSION = 1


class ReportCollector:
    """Created when ``-json-report`` is given: owns the events file of the run."""

    def __init__(self, path: str, run_id: str, template: str) -> None:
        self.path = path
        self.run_id = run_id
        self.template = template
        self.started = time.time()
        fd, self.events_file = tempfile.mkstemp(prefix="bakehouse-events-", suffix=".jsonl")
        os.close(fd)
        os.environ[EVENTS_FILE_ENV] = self.events_file
        self.builds: list[dict[str, Any]] = []

    def add_results(self, results: Iterable[Any]) -> None:
        """Record the builds' results while their artifacts can still be read
        (a plugin's artifact is a handle into its process)."""
        for result in results:
            status = "cancelled" if result.cancelled else ("failed" if result.error else "ok")
            self.builds.append({
                "name": result.name,
                "status": status,
                "error": result.error,
                "duration": round(result.duration, 6),
                "artifacts": [_artifact(a) for a in result.artifacts],
            })

    def write(self, exit_code: int) -> None:
        """Write the report file; the events file is removed."""
        events = read_events(self.events_file)
        os.environ.pop(EVENTS_FILE_ENV, None)
        try:
            os.unlink(self.events_file)
        except OSError:
            pass
        steps: dict[str, list[dict[str, Any]]] = {}
        for event in events:
            if event["event"] == "step":
                steps.setdefault(event.get("build", ""), []).append(
                    {"step": event["step"], "status": event["status"], "duration": event["duration"]}
                )
        for build in self.builds:
            build["steps"] = steps.get(build["name"], [])

        def resources(kind: str) -> list[dict[str, Any]]:
            return [
                {"kind": e["kind"], "id": e["id"], "plugin": e["plugin"], "time": _iso(e["time"])}
                for e in events
                if e["event"] == kind
            ]

        document = {
            "version": REPORT_VERSION,
            "run_id": self.run_id,
            "template": self.template,
            "started": _iso(self.started),
            "duration": round(time.time() - self.started, 6),
            "exit_code": exit_code,
            "builds": self.builds,
            "resources_created": resources("resource-created"),
            "resources_removed": resources("resource-removed"),
            "plugin_processes": [
                {"plugin": e["plugin"], "path": e["path"], "pid": e["plugin_pid"], "build": e["build"],
                 "started": _iso(e["time"])}
                for e in events
                if e["event"] == "plugin-started"
            ],
        }
        target = Path(self.path)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, target)


def _artifact(artifact: Any) -> dict[str, Any]:
    def read(attribute: str, default: Any) -> Any:
        try:
            value = getattr(artifact, attribute)
            return value() if callable(value) else value
        except Exception:  # a handle whose plugin is gone: report what is known
            return default

    return {
        "builder_id": read("builder_id", ""),
        "id": read("id", ""),
        "string": read("string", ""),
        "files": list(read("files", []) or []),
    }


def _iso(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).isoformat(timespec="milliseconds")
