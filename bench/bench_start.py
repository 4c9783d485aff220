"""Fixed start-up cost of the core and CLI against Packer 1.6.6 (issue 9), wall and CPU.

The same interleaved rounds as ``bench_vs_packer.py`` (whose templates and
helpers this reuses), for the commands whose cost is mostly start-up:
``version``, ``--help``, ``validate`` and ``build`` of the null template with
one ``shell-local`` echo (both tools), that build once more on a template
file touched before each run (no remembered scan: the core parses it before
starting the plugin), and ``validate`` of the 10,000-line template. Besides the wall clock it reports each command's CPU time (user +
system of the whole process tree, from ``wait4``): on a machine other jobs
share, the wall clock of a short command mostly measures the queue for a CPU,
while its CPU time stays put.

Run: .venv/bin/python bench/bench_start.py [--runs N] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_docker import write_section  # noqa: E402
from bench_template import generate  # noqa: E402
from bench_vs_packer import BAKEHOUSE, NULL_TEMPLATE, ensure_packer, null_build_rss  # noqa: E402

SECTION = "## Start-up cost: core and CLI against Packer"


def run_measured(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process and its children) of one successful run."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=str(cwd), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {stderr}")
    return wall, usage.ru_utime + usage.ru_stime


class Measured:
    def __init__(self) -> None:
        self.walls: list[float] = []
        self.cpus: list[float] = []

    def cell(self, values: list[float]) -> str:
        return f"{statistics.median(values) * 1000:.0f} ({min(values) * 1000:.0f}-{max(values) * 1000:.0f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md alone")
    args = parser.parse_args()
    packer = ensure_packer()
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as an installed package: bytecode compiled once
    env.pop("BAKEHOUSE_LOG", None)
    env["CHECKPOINT_DISABLE"] = "1"
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="bench-start-") as tmp:
        workdir = Path(tmp)
        env["BAKEHOUSE_HOME"] = str(workdir / "home")
        env["PACKER_CACHE_DIR"] = str(workdir / "packer-cache")
        (workdir / "null.pkr.hcl").write_text(NULL_TEMPLATE)
        # The same template, touched before each run: the core finds no
        # remembered scan of it (prescan-cache.json) and parses it before it
        # starts the plugin, as on the first run after an edit or in a fresh CI checkout.
        (workdir / "touched.pkr.hcl").write_text(NULL_TEMPLATE)
        (workdir / "big.pkr.hcl").write_text(generate(10_000))
        big_lines = (workdir / "big.pkr.hcl").read_text().count("\n")
        commands: dict[str, list[str]] = {
            "bakehouse version": [BAKEHOUSE, "version"],
            "bakehouse --help": [BAKEHOUSE, "--help"],
            "bakehouse validate (null + shell-local)": [BAKEHOUSE, "validate", "null.pkr.hcl"],
            "packer validate (null + shell-local)": [packer, "validate", "null.pkr.hcl"],
            "bakehouse build (null + shell-local)": [BAKEHOUSE, "build", "null.pkr.hcl"],
            "bakehouse build (null + shell-local), file just changed": [BAKEHOUSE, "build", "touched.pkr.hcl"],
            "packer build (null + shell-local)": [packer, "build", "null.pkr.hcl"],
            f"bakehouse validate ({big_lines}-line template)": [BAKEHOUSE, "validate", "big.pkr.hcl"],
        }
        results = {name: Measured() for name in commands}
        def measure(argv: list[str]) -> tuple[float, float]:
            if argv[-1] == "touched.pkr.hcl":
                os.utime(workdir / "touched.pkr.hcl")
            return run_measured(argv, workdir, env)

        runs: dict[str, Callable[[], tuple[float, float]]] = {
            name: (lambda argv=argv: measure(argv)) for name, argv in commands.items()
        }
        for run in runs.values():  # warm-up: page cache, bytecode, describe cache
            run()
        for _ in range(args.runs):
            for name, run in runs.items():
                wall, cpu = run()
                results[name].walls.append(wall)
                results[name].cpus.append(cpu)
            loads.append(os.getloadavg()[0])
        rss = null_build_rss(workdir, env)

    def ratio(tool_a: str, tool_b: str, attr: str) -> str:
        a = statistics.median(getattr(results[tool_a], attr))
        b = statistics.median(getattr(results[tool_b], attr))
        return f"{a / b:.2f}x"

    rows = ["| command | wall ms, median (min-max) | CPU ms, median (min-max) |", "|---|---|---|"]
    rows += [f"| `{name}` | {m.cell(m.walls)} | {m.cell(m.cpus)} |" for name, m in results.items()]
    ratios = []
    for what in ("validate", "build"):
        a, b = f"bakehouse {what} (null + shell-local)", f"packer {what} (null + shell-local)"
        ratios.append(f"- `{what}`: wall {ratio(a, b, 'walls')} Packer's, CPU {ratio(a, b, 'cpus')} Packer's")
    section = "\n".join([
        SECTION,
        "",
        f"Reproduce: `.venv/bin/python bench/bench_start.py --runs {args.runs}` (interleaved rounds after one "
        "warm-up; CPU is user + system time of the command's whole process tree, plugins included).",
        f"Machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; 1-minute load average "
        f"{min(loads):.1f}-{max(loads):.1f} during the run (other sessions shared the machine; the wall clock",
        "of a short command includes waiting for a CPU, its CPU time does not).",
        "",
        *rows,
        "",
        "Bakehouse against Packer 1.6.6 (medians):",
        "",
        *ratios,
        "",
        "Peak RSS (VmHWM) in the null build: " + ", ".join(f"{name} {mib:.1f} MiB" for name, mib in rss) + ".",
        "",
    ])
    print(section)
    if not args.no_write:
        write_section(section, SECTION)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
