"""The docker template's way to its first Engine API request: exec to container create, and CPU per process (issue 9).

One ``bakehouse build`` of the docker template of ``bench_docker.py`` (busybox
base, ``pull = false``, ``shell`` with 3 inline lines, ``file`` upload,
commit, ``docker-tag``), timed three ways per run:

* wall clock of the command;
* when the engine saw the container's create (``docker events``, read live;
  the container carries the run's ``io.bakehouse.run-id`` label), counted
  from the command's exec;
* CPU seconds (user + system, ``getrusage`` as each Python process exits) of
  the supervisor, the worker and each plugin process, recorded by a
  ``sitecustomize`` module that this bench puts on ``PYTHONPATH`` for the run.

With ``--baseline DIR`` (another checkout with its own ``.venv``) that
checkout's build joins the same interleaved rounds.

Run: .venv/bin/python bench/bench_precreate.py [--runs N] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_docker import COMMANDS, TEMPLATE, hcl_list, make_base_image, remove_image  # noqa: E402
from bench_vs_packer import BAKEHOUSE  # noqa: E402

#: Written into the run's PYTHONPATH: each Python process of the build appends
#: one JSON line (its role and CPU seconds) when it exits, by ``os._exit`` too.
RECORDER = '''
import os, sys
_out = os.environ.get("BENCH_CPU_LOG")
if _out:
    _real_exit, _done = os._exit, []

    def _record():
        if os.getpid() in _done:
            return
        _done.append(os.getpid())
        usage = __import__("resource").getrusage(__import__("resource").RUSAGE_SELF)
        role = os.path.basename(sys.argv[0]) + " " + " ".join(sys.argv[1:2])
        with open(_out, "a") as f:
            f.write(__import__("json").dumps({"pid": os.getpid(), "ppid": os.getppid(), "role": role,
                                              "cpu": usage.ru_utime + usage.ru_stime}) + "\\n")

    def _exit(code):
        _record()
        _real_exit(code)

    os._exit = _exit
    __import__("atexit").register(_record)
'''


def roles(records: list[dict[str, object]]) -> dict[str, float]:
    """CPU seconds by role: supervisor, worker (the supervisor's forked child), each plugin."""
    by_pid = {int(r["pid"]): r for r in records}  # type: ignore[call-overload]
    found: dict[str, float] = {}
    for record in records:
        role = str(record["role"])
        if role.startswith("bakehouse "):
            role = "worker" if int(record["ppid"]) in by_pid else "supervisor"  # type: ignore[call-overload]
        else:
            role = role.split()[0].removeprefix("bakehouse-plugin-") + " plugin"
        found[role] = found.get(role, 0.0) + float(record["cpu"])  # type: ignore[arg-type]
    return found


def watch_create(run_id: str) -> subprocess.Popen[str]:
    """``docker events`` of the run's container create, read live: the engine keeps
    only its last events, which a busy machine's other jobs can push out."""
    return subprocess.Popen(
        ["docker", "events", "--filter", "type=container", "--filter", "event=create",
         "--filter", f"label=io.bakehouse.run-id={run_id}", "--format", "{{.TimeNano}}"],
        stdout=subprocess.PIPE, text=True,
    )


def create_time(watcher: subprocess.Popen[str], run_id: str) -> float:
    """Unix time at which the engine created the run's container."""
    assert watcher.stdout is not None
    ready = select.select([watcher.stdout], [], [], 30)[0]
    line = watcher.stdout.readline() if ready else ""
    watcher.terminate()
    watcher.wait()
    if not line.strip():
        raise RuntimeError(f"docker events showed no container create for run {run_id}")
    return int(line) / 1e9


class Figures:
    def __init__(self) -> None:
        self.wall: list[float] = []
        self.create: list[float] = []
        self.cpu: dict[str, list[float]] = {}


def once(executable: str, workdir: Path, env: dict[str, str], repository: str, figures: Figures | None) -> None:
    run_id = "bench-pre-" + uuid.uuid4().hex[:10]
    cpu_log = workdir / f"cpu-{run_id}.jsonl"
    run_env = {**env, "BAKEHOUSE_RUN_ID": run_id, "BENCH_CPU_LOG": str(cpu_log)}
    watcher = watch_create(run_id)
    time.sleep(0.2)  # the watcher subscribes before the build starts
    started_unix = time.time()
    started = time.perf_counter()
    result = subprocess.run([executable, "build", "docker.pkr.hcl"], cwd=str(workdir), env=run_env,
                            capture_output=True, text=True)
    wall = time.perf_counter() - started
    remove_image(f"{repository}:bench")
    for line in result.stdout.splitlines():
        if "Imported Docker image: sha256:" in line:
            remove_image(line.rsplit(" ", 1)[1])
    if result.returncode != 0:
        watcher.kill()
        raise RuntimeError(f"bakehouse build failed:\n{result.stdout}\n{result.stderr}")
    created = create_time(watcher, run_id)
    records = [json.loads(line) for line in cpu_log.read_text().splitlines()]
    if figures is not None:
        figures.wall.append(wall)
        figures.create.append(created - started_unix)
        for role, cpu in roles(records).items():
            figures.cpu.setdefault(role, []).append(cpu)


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f} ({min(values) * 1000:.0f}-{max(values) * 1000:.0f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="interleaved rounds")
    parser.add_argument("--baseline", type=Path, metavar="DIR",
                        help="another checkout with its own .venv: its build joins the rounds")
    args = parser.parse_args()
    executables = {"now": BAKEHOUSE}
    if args.baseline:
        executables["baseline"] = str(args.baseline.resolve() / ".venv" / "bin" / "bakehouse")
        if not os.access(executables["baseline"], os.X_OK):
            parser.error(f"--baseline: {executables['baseline']} is not an executable (run scripts/setup there)")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-precreate-") as tmp:
        workdir = Path(tmp)
        hook = workdir / "hook"
        hook.mkdir()
        (hook / "sitecustomize.py").write_text(RECORDER)
        env = dict(os.environ)
        for name in ("PYTHONDONTWRITEBYTECODE", "BAKEHOUSE_LOG", "BAKEHOUSE_LOG_PATH"):
            env.pop(name, None)
        env["PYTHONPATH"] = str(hook)
        env["BAKEHOUSE_HOME"] = str(workdir / "home")
        (workdir / "payload.txt").write_text("payload\n" * 100)
        image = make_base_image()
        repository = f"bakehouse-bench/pre-{uuid.uuid4().hex[:6]}"
        (workdir / "docker.pkr.hcl").write_text(
            TEMPLATE.replace("@IMAGE@", image).replace("@COMMANDS@", hcl_list(COMMANDS))
            .replace("@REPOSITORY@", repository))
        figures = {name: Figures() for name in executables}
        try:
            for executable in executables.values():  # warm-up: bytecode, describe and prescan caches
                once(executable, workdir, env, repository, None)
            for _ in range(args.runs):
                for name, executable in executables.items():
                    once(executable, workdir, env, repository, figures[name])
        finally:
            remove_image(image)
    print(f"{args.runs} interleaved rounds, load average {load_before[0]:.2f} before, "
          f"{os.getloadavg()[0]:.2f} after; ms, median (min-max)")
    print()
    print("| | " + " | ".join(executables) + " |")
    print("|---|" + "---|" * len(executables))
    print("| wall clock | " + " | ".join(ms(f.wall) for f in figures.values()) + " |")
    print("| exec to container create (docker events) | "
          + " | ".join(ms(f.create) for f in figures.values()) + " |")
    role_names = sorted({role for f in figures.values() for role in f.cpu})
    for role in role_names:
        print(f"| CPU: {role} | " + " | ".join(ms(f.cpu[role]) if role in f.cpu else "-"
                                               for f in figures.values()) + " |")
    totals = {name: [sum(values[i] for values in f.cpu.values()) for i in range(len(f.wall))]
              for name, f in figures.items()}
    print("| CPU: all processes | " + " | ".join(ms(t) for t in totals.values()) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
