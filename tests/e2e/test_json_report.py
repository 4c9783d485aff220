"""``bakehouse build -json-report FILE``: schema and content of the report of
real null and docker builds (steps, durations, artifacts, resources created and
removed, plugin processes started)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

NULL = """
source "null" "n" {
  communicator = "none"
}
build {
  sources = ["source.null.n"]
}
build {
  name    = "broken"
  sources = ["source.null.n"]
  provisioner "shell-local" {
    inline = ["exit 3"]
  }
}
"""

DOCKER = """
source "docker" "d" {
  image  = "%s"
  pull   = false
  commit = true
}
build {
  sources = ["source.docker.d"]
  provisioner "shell" {
    inline = ["echo hi"]
  }
}
"""

BUILD_KEYS = {"name", "status", "error", "duration", "artifacts", "steps"}
TOP_KEYS = {"version", "run_id", "template", "started", "duration", "exit_code", "builds",
            "resources_created", "resources_removed", "plugin_processes"}


def check_schema(report: dict[str, Any]) -> None:
    assert set(report) == TOP_KEYS
    assert report["version"] == 1 and isinstance(report["duration"], float)
    for build in report["builds"]:
        assert set(build) == BUILD_KEYS
        assert build["status"] in ("ok", "failed", "cancelled")
        for step in build["steps"]:
            assert set(step) == {"step", "status", "duration"} and step["duration"] >= 0
        for artifact in build["artifacts"]:
            assert set(artifact) == {"builder_id", "id", "string", "files"}
    for key in ("resources_created", "resources_removed"):
        for resource in report[key]:
            assert set(resource) == {"kind", "id", "plugin", "time"}
    for process in report["plugin_processes"]:
        assert set(process) == {"plugin", "path", "pid", "build", "started"} and process["pid"] > 0


def test_null_builds_report(bakehouse, tmp_path: Path) -> None:
    (tmp_path / "t.pkr.hcl").write_text(NULL)
    (tmp_path / "out").mkdir()
    result = bakehouse("build", "-json-report", "out/report.json", "t.pkr.hcl")
    assert result.returncode == 1, result.stdout
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    check_schema(report)
    assert report["exit_code"] == 1 and report["template"] == "t.pkr.hcl"
    builds = {b["name"]: b for b in report["builds"]}
    ok, broken = builds["null.n"], builds["broken.null.n"]
    assert ok["status"] == "ok" and ok["error"] is None
    assert [a["builder_id"] for a in ok["artifacts"]] == ["fnoeding.null"]
    assert [s["step"] for s in ok["steps"]] == ["StepConnect", "StepProvision"]
    assert broken["status"] == "failed" and "exit" in broken["error"].lower()
    assert broken["artifacts"] == []
    assert {"step": 'provisioner "shell-local"', "status": "failed"}.items() <= broken["steps"][-2].items()
    assert [p["plugin"] for p in report["plugin_processes"]] == ["bakehouse-plugin-shell"]
    assert report["plugin_processes"][0]["build"] == "broken.null.n"


@pytest.mark.docker
def test_docker_build_report(bakehouse, busybox_image: str, docker_client, tmp_path: Path) -> None:
    (tmp_path / "t.pkr.hcl").write_text(DOCKER % busybox_image)
    result = bakehouse("build", "-json-report", str(tmp_path / "r.json"), "t.pkr.hcl")
    assert result.returncode == 0, result.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    check_schema(report)
    [build] = report["builds"]
    try:
        assert build["status"] == "ok" and build["duration"] > 0
        steps = [s["step"] for s in build["steps"]]
        assert steps[:3] == ["StepTempDir", "StepPull", "StepRunContainer"]
        assert 'provisioner "shell"' in steps and "StepCommit" in steps
        assert all(s["status"] == "ok" for s in build["steps"])
        [artifact] = build["artifacts"]
        assert artifact["id"].startswith("sha256:")
        created = {(r["kind"], r["id"]) for r in report["resources_created"]}
        removed = {(r["kind"], r["id"]) for r in report["resources_removed"]}
        assert {kind for kind, _ in created} >= {"docker-temp-dir", "docker-container"}
        assert created == removed, "every temporary resource was removed (or became the artifact)"
        assert sorted(p["plugin"] for p in report["plugin_processes"]) == [
            "bakehouse-plugin-docker", "bakehouse-plugin-shell"]
    finally:
        docker_client.images.remove(build["artifacts"][0]["id"], force=True) if build["artifacts"] else None


def test_report_to_an_unwritable_place_is_an_error_not_a_traceback(bakehouse, tmp_path: Path) -> None:
    (tmp_path / "t.pkr.hcl").write_text(NULL.split("build {\n  name")[0])
    result = bakehouse("build", "-json-report", str(tmp_path / "missing" / "r.json"), "t.pkr.hcl")
    assert "cannot write the JSON report" in result.stdout
    assert result.returncode == 1, "the report asked for is missing: the command failed"
    assert "Traceback" not in result.stderr
