"""Null build end to end: wall time of the real CLI, median of several runs.

Three figures, each the median of RUNS runs with a warm describe cache (the
first run of a fresh install also probes every plugin executable):

* ``bakehouse version``: start-up of the supervisor and worker alone;
* a null build with only built-in components (``sleep 0s``): template
  loading, orchestration, no plugin process;
* a null build with a ``shell-local`` provisioner: the same plus starting,
  driving and stopping one plugin process.

If ``packer`` is on PATH the shell-local template is also timed under
Packer, side by side.

Run: .venv/bin/python bench/bench_null.py
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BAKEHOUSE = str(Path(sys.executable).parent / "bakehouse")
RESULTS = REPO / "bench" / "RESULTS.md"
SECTION = "## Null build"
RUNS = 7

BUILTIN_ONLY = """
source "null" "bench" {}
build {
  sources = ["source.null.bench"]
  provisioner "sleep" {
    duration = "0s"
  }
}
"""

SHELL_LOCAL = """
source "null" "bench" {
  communicator = "none"
}
build {
  sources = ["source.null.bench"]
  provisioner "shell-local" {
    inline = ["echo hello"]
  }
}
"""


def timed(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return elapsed


def median_of(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, list[float]]:
    timed(args, cwd, env)  # warm-up: describe cache, page cache
    samples = [timed(args, cwd, env) for _ in range(RUNS)]
    return statistics.median(samples), samples


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-null-") as tmp:
        work = Path(tmp)
        env = dict(os.environ, BAKEHOUSE_HOME=str(work / "home"))
        env.pop("BAKEHOUSE_LOG", None)
        (work / "builtin.pkr.hcl").write_text(BUILTIN_ONLY)
        (work / "shell.pkr.hcl").write_text(SHELL_LOCAL)
        rows: list[tuple[str, str, float, list[float]]] = []
        for label, args in (
            ("bakehouse version", [BAKEHOUSE, "version"]),
            ("null build, built-in sleep provisioner", [BAKEHOUSE, "build", "builtin.pkr.hcl"]),
            (
                "null build, shell-local provisioner (1 plugin process)",
                [BAKEHOUSE, "build", "shell.pkr.hcl"],
            ),
        ):
            median, samples = median_of(args, work, env)
            rows.append((label, " ".join(["bakehouse", *args[1:]]), median, samples))
            print(f"{label}: median {median:.3f} s of {samples}")
        packer = shutil.which("packer")
        packer_row = None
        if packer:
            median, samples = median_of([packer, "build", "shell.pkr.hcl"], work, env)
            packer_row = ("packer build shell.pkr.hcl", median, samples)
            print(f"packer: median {median:.3f} s")
    load = os.getloadavg()[0]
    lines = [
        SECTION,
        "",
        "Command: `.venv/bin/python bench/bench_null.py` (the real CLI as a subprocess, warm describe",
        f"cache, median of {RUNS} runs after one warm-up; 1-minute load average when measured: {load:.1f}).",
        "Machine: 2 cores / 24 GiB (shared with other jobs while measured).",
        "",
        "| what | command | median wall (s) | runs (s) |",
        "|---|---|---|---|",
    ]
    for label, command, median, samples in rows:
        lines.append(
            f"| {label} | `{command}` | {median:.3f} | {', '.join(f'{s:.2f}' for s in samples)} |"
        )
    if packer_row:
        lines.append(
            f"| Packer, same shell-local template | `{packer_row[0]}` | {packer_row[1]:.3f} | "
            f"{', '.join(f'{s:.2f}' for s in packer_row[2])} |"
        )
    else:
        lines.append("")
        lines.append(
            "Packer is not installed on this machine (`packer` not on PATH), so no side-by-side figure."
        )
    section = "\n".join(lines) + "\n"
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(re.escape(SECTION) + r"\n.*?(?=\n## |\Z)", re.S)
    if SECTION in text:
        text = pattern.sub(section.rstrip("\n") + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
