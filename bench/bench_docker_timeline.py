"""One docker build as the engine sees it: the Engine API events of ``bakehouse build``, in ms from its start.

The docker template of ``bench_docker.py`` (busybox base, ``pull = false``, one
``shell`` with 3 inline lines, one ``file`` upload, commit, ``docker-tag``) is
built ``--runs`` times while ``docker events`` streams what the engine did for
that build's container, network and tag. Each event is printed as ms from the
command's start, with the process exit last, so the gaps between Engine API
requests (the time the build spends in Python between two requests) show at a
glance; the medians (min-max) of every event and of the gaps follow. An
event is stamped when the engine has done the work: ``extract-to-dir`` ends a
``put_archive`` (about 40 ms of the engine's own on this machine), ``pause``
comes about 10 ms after the commit request and ``kill`` about 11 ms after the
forced remove's, so a gap is not all Python.

With ``--raw``, the raw ``docker`` CLI sequence of ``bench_docker.py`` (run,
exec, cp, commit, rm -f, tag) runs in the same rounds, its ``exit`` being the
end of the sequence.

With ``--baseline DIR`` (another checkout with its own ``.venv``, e.g. a worktree
of an older commit made with ``git worktree add --detach DIR COMMIT`` and
``bash scripts/setup`` in it), that checkout's ``bakehouse build`` runs in the
same rounds (interleaved), for a before/after pair under one load.

Nothing is written to RESULTS.md: the figures are read, not tabulated.

Run: .venv/bin/python bench/bench_docker_timeline.py [--runs N] [--baseline DIR] [--raw] [--quiet]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_docker import (  # noqa: E402  (one copy of the template and of the raw CLI sequence)
    COMMANDS,
    TEMPLATE,
    hcl_list,
    make_base_image,
    raw_cli_once,
    remove_image,
)

# Gaps worth watching, as (from event, to event); an event is "action" or "action#n" for its n-th
# time. A pair whose events do not both happen, or not in this order, is left out. The raw CLI
# sequence uploads no script: its only extract-to-dir is the file's, after the exec (the pairs
# marked "raw" are for it alone).
GAPS = [
    ("start", "extract-to-dir", ""),
    ("extract-to-dir", "exec_create", ""),
    ("exec_die", "extract-to-dir#2", ""),
    ("extract-to-dir#2", "pause", ""),
    ("exec_die", "extract-to-dir", "raw"),
    ("extract-to-dir", "pause", "raw"),
    ("unpause", "kill", ""),
    ("destroy", "tag", ""),
    ("tag", "exit", ""),
    ("create", "tag", ""),
]


class EventStream:
    """``docker events`` as JSON lines from a point in time, read by a thread until stopped."""

    def __init__(self, since_ns: int) -> None:
        since = f"{since_ns // 1_000_000_000}.{since_ns % 1_000_000_000:09d}"
        self.events: list[dict[str, object]] = []
        self._process = subprocess.Popen(["docker", "events", "--since", since, "--format", "{{json .}}"],
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            try:
                self.events.append(json.loads(line))
            except ValueError:
                continue

    def wait_for(self, predicate, timeout: float) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not any(predicate(event) for event in list(self.events)):
            time.sleep(0.02)

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait()
        self._reader.join(timeout=2)


#: A way to build: returns the id of the image it committed (removed afterwards)
#: and the time.time_ns() its work ended.
Run = Callable[[], tuple[str, int]]


def engine_timeline(run: Run, image: str, tag: str) -> list[tuple[str, float]]:
    """Call ``run`` and return what the engine did for the container it started
    from ``image`` and for ``tag``: (event, ms from the call's start) in order,
    ending with ``exit``, the moment its work ended."""
    started_ns = time.time_ns()
    stream = EventStream(started_ns - 1_000_000)
    try:
        committed, exited_ns = run()
    finally:
        stream.wait_for(lambda e: e.get("Action") == "tag"
                        and e.get("Actor", {}).get("Attributes", {}).get("name") == tag, timeout=3)
        stream.stop()
    container = next((e["Actor"]["ID"] for e in stream.events  # type: ignore[index]
                      if e.get("Type") == "container" and e.get("Action") == "create"
                      and e["Actor"]["Attributes"].get("image") == image), None)  # type: ignore[index]
    timeline: list[tuple[str, float]] = []
    seen: dict[str, int] = {}
    for event in stream.events:
        actor = event.get("Actor", {})
        attributes = actor.get("Attributes", {})  # type: ignore[union-attr]
        mine = container and (actor.get("ID") == container  # type: ignore[union-attr]
                              or attributes.get("container") == container)  # type: ignore[union-attr]
        if not mine and not (event.get("Type") == "image" and attributes.get("name") == tag):
            continue
        action = str(event.get("Action", "")).split(":")[0]
        seen[action] = seen.get(action, 0) + 1
        label = action if seen[action] == 1 else f"{action}#{seen[action]}"
        if event.get("Type") == "network":
            label = "network " + label
        timeline.append((label, (int(event["timeNano"]) - started_ns) / 1e6))  # type: ignore[call-overload]
    timeline.append(("exit", (exited_ns - started_ns) / 1e6))
    remove_image(tag)
    remove_image(committed)
    return timeline


def bakehouse_run(bakehouse: str, workdir: Path, home: Path) -> Run:
    def run() -> tuple[str, int]:
        env = {**os.environ, "BAKEHOUSE_HOME": str(home), "BAKEHOUSE_RUN_ID": "timeline-" + uuid.uuid4().hex[:10]}
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # time the installed bytecode, not the compiler
        result = subprocess.run([bakehouse, "build", "bench.pkr.hcl"], cwd=str(workdir), env=env,
                                capture_output=True, text=True)
        exited_ns = time.time_ns()
        if result.returncode != 0:
            raise RuntimeError(f"{bakehouse} build failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        images = re.findall(r"Imported Docker image: (sha256:[0-9a-f]{64})", result.stdout)
        return (images[0] if images else ""), exited_ns

    return run


def raw_cli_run(workdir: Path, image: str, repository: str) -> Run:
    """The raw docker CLI sequence of bench_docker.py (it removes its images itself)."""
    def run() -> tuple[str, int]:
        started_ns = time.time_ns()
        elapsed = raw_cli_once(workdir, image, repository)
        return "", started_ns + int(elapsed * 1e9)

    return run


def gaps(timeline: list[tuple[str, float]]) -> dict[str, float]:
    at = dict(timeline)
    raw = "extract-to-dir#2" not in at
    return {f"{begin} -> {end}": at[end] - at[begin] for begin, end, only in GAPS
            if begin in at and end in at and at[end] >= at[begin] and (not only or raw)}


def summary(name: str, timelines: list[list[tuple[str, float]]]) -> str:
    labels: list[str] = []
    for timeline in timelines:
        for label, _ in timeline:
            if label not in labels:
                labels.append(label)
    lines = [f"{name}: medians of {len(timelines)} runs (min-max), ms from the command's start"]
    for label in labels:
        values = [dict(t)[label] for t in timelines if label in dict(t)]
        lines.append(f"  {label:24} {statistics.median(values):7.0f}  ({min(values):.0f}-{max(values):.0f})")
    lines.append("  gaps:")
    per_gap: dict[str, list[float]] = {}
    for timeline in timelines:
        for gap, value in gaps(timeline).items():
            per_gap.setdefault(gap, []).append(value)
    for gap, values in per_gap.items():
        lines.append(f"  {gap:32} {statistics.median(values):6.0f}  ({min(values):.0f}-{max(values):.0f})")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline", type=Path, metavar="DIR",
                        help="another checkout with its own .venv, run in the same rounds")
    parser.add_argument("--raw", action="store_true", help="the raw docker CLI sequence too, in the same rounds")
    parser.add_argument("--quiet", action="store_true", help="print only the medians, not every run")
    args = parser.parse_args()
    bakehouses = {"this checkout": str(Path(sys.executable).parent / "bakehouse")}
    if args.baseline:
        baseline = args.baseline.resolve() / ".venv" / "bin" / "bakehouse"
        if not os.access(baseline, os.X_OK):
            parser.error(f"--baseline: {baseline} is not an executable (run scripts/setup in {args.baseline})")
        bakehouses[f"baseline {args.baseline.name}"] = str(baseline)
    image = make_base_image()
    home = Path(tempfile.mkdtemp(prefix="bench-timeline-home-"))
    workdir = Path(tempfile.mkdtemp(prefix="bench-timeline-"))
    repository = f"bakehouse-bench/timeline-{uuid.uuid4().hex[:6]}"
    tag = f"{repository}:bench"
    (workdir / "payload.txt").write_text("payload\n" * 100)
    (workdir / "bench.pkr.hcl").write_text(TEMPLATE.replace("@IMAGE@", image).replace("@COMMANDS@", hcl_list(COMMANDS))
                                           .replace("@REPOSITORY@", repository))
    ways = {name: bakehouse_run(bakehouse, workdir, home) for name, bakehouse in bakehouses.items()}
    if args.raw:
        ways["raw docker CLI"] = raw_cli_run(workdir, image, repository)
    results: dict[str, list[list[tuple[str, float]]]] = {way: [] for way in ways}
    try:
        for run in ways.values():  # warm: describe cache, prescan cache, page cache
            engine_timeline(run, image, tag)
        for round_ in range(args.runs):
            order = list(ways.items()) if round_ % 2 == 0 else list(reversed(ways.items()))
            for way, run in order:
                timeline = engine_timeline(run, image, tag)
                results[way].append(timeline)
                if not args.quiet:
                    print(f"{way} run {round_ + 1} (load {os.getloadavg()[0]:.1f}): "
                          + ", ".join(f"{ms:.0f} {label}" for label, ms in timeline), flush=True)
    finally:
        remove_image(image)
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)
    for way, timelines in results.items():
        if timelines:
            print()
            print(summary(way, timelines))


if __name__ == "__main__":
    main()
