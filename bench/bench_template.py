"""`bakehouse validate` wall time and peak RSS on generated templates.

Templates of about 100, 1 000 and 10 000 lines (variables, locals that refer to
each other, a source and a build with `sleep` provisioners, all built in so no
plugin process is involved) are validated with a warm grammar cache, and the
100-line one also with an empty cache directory (the first run of a fresh
install). Each figure is the median of several runs of the real CLI, measured
with GNU time (wall seconds, maximum resident set size of the process tree).

Run: .venv/bin/python bench/bench_template.py
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BAKEHOUSE = str(Path(sys.executable).parent / "bakehouse")
RESULTS = REPO / "bench" / "RESULTS.md"
SECTION = "## Template: validate on generated templates"
RUNS = 5


def generate(target_lines: int) -> str:
    """A template of about ``target_lines`` lines; every unit below is 10 lines."""
    parts = ['source "null" "base" {\n  communicator = "none"\n}\n']
    provisioners = []
    for i in range(max(1, target_lines // 10)):
        # each local depends on the previous one: a long dependency chain
        previous = f"${{length(local.l{i - 1})}}" if i else "start"
        parts.append(f'variable "v{i}" {{\n  type    = string\n  default = "value-{i}"\n}}\n'
                     f'locals {{\n  l{i} = "${{var.v{i}}}-{previous}"\n}}\n')
        provisioners.append('  provisioner "sleep" {\n    duration = "0s"\n  }\n')
    return "".join(parts) + 'build {\n  sources = ["source.null.base"]\n' + "".join(provisioners) + "}\n"


def measure(args: list[str], env: dict[str, str]) -> tuple[float, int, int]:
    """(wall seconds, peak RSS KiB, exit code) of one run under GNU time."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        proc = subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", report.name, BAKEHOUSE, *args],
                              env=env, capture_output=True, text=True)
        wall, rss = report.read().strip().splitlines()[-1].split()
    if proc.returncode != 0:
        raise SystemExit(f"validate failed:\n{proc.stdout}\n{proc.stderr}")
    return float(wall), int(rss), proc.returncode


def median_of(args: list[str], env: dict[str, str], runs: int = RUNS) -> tuple[float, float]:
    samples = [measure(args, env) for _ in range(runs)]
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples) / 1024


def main() -> None:
    load_before = os.getloadavg()[0]
    rows: list[str] = []
    with tempfile.TemporaryDirectory() as work:
        base_env = dict(os.environ)
        base_env["BAKEHOUSE_HOME"] = os.path.join(work, "home")
        warm_cache = os.path.join(work, "cache-warm")
        env = dict(base_env, BAKEHOUSE_CACHE_DIR=warm_cache)
        for size in (100, 1000, 10000):
            path = Path(work) / f"t{size}.pkr.hcl"
            path.write_text(generate(size), encoding="utf-8")
            lines = path.read_text().count("\n")
            measure(["validate", str(path)], env)  # warm the grammar cache and the page cache
            wall, rss = median_of(["validate", str(path)], env)
            syntax_wall, syntax_rss = median_of(["validate", "-syntax-only", str(path)], env)
            rows.append(f"| {lines} | warm | {wall:.2f} | {rss:.0f} | {syntax_wall:.2f} | {syntax_rss:.0f} |")
            print(rows[-1], flush=True)
        small = Path(work) / "t100.pkr.hcl"
        cold_walls = []
        cold_rss = []
        for i in range(3):
            cold_env = dict(base_env, BAKEHOUSE_CACHE_DIR=os.path.join(work, f"cache-cold-{i}"))
            wall, rss, _ = measure(["validate", str(small)], cold_env)
            cold_walls.append(wall)
            cold_rss.append(rss / 1024)
        lines = small.read_text().count("\n")
        rows.append(f"| {lines} | cold (empty cache dir) | {statistics.median(cold_walls):.2f} | "
                    f"{statistics.median(cold_rss):.0f} | – | – |")
        print(rows[-1], flush=True)

    section = "\n".join([
        SECTION,
        "",
        "Command: `.venv/bin/python bench/bench_template.py` (machine: 2 cores / 24 GiB).",
        f"Median of {RUNS} runs of the real CLI (`bakehouse validate`, which forks its worker), GNU time;",
        "RSS is the peak of the process tree. Templates: N/10 variables, N/10 chained locals,",
        "one null source and N/10 built-in `sleep` provisioners (prepared in-process).",
        f"1-minute load average when the run started: {load_before:.1f} (other work shared the machine;",
        "figures on an idle machine are lower). The python-hcl2/Lark parse is most of the time for",
        "large files; the cold row pays the one-time LALR table build into BAKEHOUSE_CACHE_DIR.",
        "",
        "| lines | grammar cache | validate s | validate MiB | -syntax-only s | -syntax-only MiB |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
    ])
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(re.escape(SECTION) + r".*?(?=\n## |\Z)", re.S)
    text = pattern.sub(section.rstrip("\n") + "\n", text) if SECTION in text else text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
