"""HCL benchmark: parse + evaluate wall time and peak RSS, and grammar-cache cost.

Usage: .venv/bin/python bench/bench_hcl.py [--repeat N] [--no-write]

* Generated templates of about 100, 1 000 and 10 000 lines (variables, locals
  with templates and heredocs, for expressions, function calls, sources and
  builds). Each size runs in a fresh process (so peak RSS is that size's own),
  with a warm grammar cache; every attribute of every block is evaluated.
* First use of the parser in a fresh process: a valid template (the generated
  LALR tables, no cache involved), and a syntax error, which Lark reports,
  with a cold cache directory (Lark compiles its tables and writes them)
  versus a warm one (loads them).

Prints a table and replaces the "## HCL" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "RESULTS.md"
SECTION = "## HCL"

CHUNK = '''\
variable "image_{i}" {{
  type    = object({{name = string, tag = optional(string, "latest")}})
  default = {{ name = "ubuntu-{i}" }}
}}

locals {{
  name_{i}    = "${{var.base}}-{i}-${{upper(var.env)}}"
  tags_{i}    = {{ for k, v in var.tags : k => "${{v}}-{i}" }}
  list_{i}    = [for n in range(5) : n * {i} if n % 2 == 0]
  cond_{i}    = length(var.tags) > 2 ? "many" : "few"
  joined_{i}  = join(",", [for s in var.servers : s.name])
  script_{i}  = <<-EOT
    #!/bin/sh
    %{{ for s in var.servers ~}}
    echo "${{s.name}} ${{s.port}}"
    %{{ endfor ~}}
    echo done-{i}
  EOT
}}

source "null" "s{i}" {{
  communicator = "none"
  note         = "${{var.base}}/${{var.servers[0].name}}"
}}

build {{
  name    = "b{i}"
  sources = ["source.null.s{i}"]
  provisioner "shell-local" {{
    inline = ["echo ${{var.servers.*.name[0]}} ${{join(\" \", var.servers[*].name)}}", jsonencode(var.tags), format("%s-%03d", var.env, {i})]
  }}
}}

'''

CHILD = textwrap.dedent(
    """
    import json, resource, sys, time
    t0 = time.perf_counter()
    c0 = time.process_time()
    from bakehouse.hcl.parser import parse_text, fast_tables
    from bakehouse.hcl.evaluator import EvalContext, evaluate, evaluate_type
    from bakehouse.hcl.values import from_python
    t_import = time.perf_counter()
    assert fast_tables() is not None
    t_grammar = time.perf_counter()
    c_grammar = time.process_time()
    text = open(sys.argv[1], encoding="utf-8").read()
    body = parse_text(text, sys.argv[1])
    t_parse = time.perf_counter()
    c_parse = time.process_time()
    ctx = EvalContext({
        "var": from_python({"base": "img", "env": "prod", "tags": {"a": "x", "b": "y", "c": "z"},
                            "servers": [{"name": "web", "port": 80}, {"name": "db", "port": 5432}]}),
    })
    count = 0
    def walk(b):
        global count
        for a in b.attributes.values():
            evaluate_type(a.expr) if a.name == "type" else evaluate(a.expr, ctx)
            count += 1
        for blk in b.blocks:
            walk(blk.body)
    walk(body)
    t_eval = time.perf_counter()
    c_eval = time.process_time()
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"import": t_import - t0, "grammar": t_grammar - t_import, "parse": t_parse - t_grammar,
                      "evaluate": t_eval - t_parse, "cpu_parse": c_parse - c_grammar, "cpu_evaluate": c_eval - c_parse,
                      "attributes": count, "rss_mib": rss_kib / 1024}))
    """
)

FIRST_USE = "import time; t=time.perf_counter(); from bakehouse.hcl.parser import parse_text; parse_text('a = 1\\n'); print(time.perf_counter()-t)"
FIRST_ERROR = (
    "import time; t=time.perf_counter()\n"
    "from bakehouse.hcl.diagnostics import Diagnostics\n"
    "from bakehouse.hcl.parser import parse_text\n"
    "try:\n    parse_text('a = \\n')\nexcept Diagnostics:\n    print(time.perf_counter()-t)\n"
)


def generate(lines: int) -> str:
    chunk_lines = CHUNK.count("\n")
    chunks = max(1, round(lines / chunk_lines))
    header = 'variable "base" {\n  default = "img"\n}\n\n'
    return header + "".join(CHUNK.format(i=i) for i in range(chunks))


def run_child(path: Path, env: dict[str, str]) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, str(path)], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit("benchmark child failed:\n" + out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def first_use(env: dict[str, str], code: str = FIRST_USE) -> tuple[float, float]:
    """(whole process wall seconds, in-process import+first parse seconds)."""
    import time

    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
    return time.perf_counter() - start, float(out.stdout.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only; do not touch RESULTS.md")
    args = parser.parse_args()

    rows: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-hcl-") as tmp:
        tmpdir = Path(tmp)
        warm_cache = tmpdir / "cache-warm"
        env = dict(os.environ, BAKEHOUSE_CACHE_DIR=str(warm_cache))
        first_use(env, FIRST_ERROR)  # warm Lark's cache once

        print(f"{'lines':>7} {'attrs':>6} {'parse s':>8} {'eval s':>8} {'total s':>8} {'cpu s':>7} {'peak RSS MiB':>13}")
        for lines in (100, 1_000, 10_000):
            path = tmpdir / f"gen-{lines}.pkr.hcl"
            text = generate(lines)
            path.write_text(text, encoding="utf-8")
            real_lines = text.count("\n")
            samples = [run_child(path, env) for _ in range(args.repeat)]
            parse_s = statistics.median(s["parse"] for s in samples)
            eval_s = statistics.median(s["evaluate"] for s in samples)
            cpu_s = statistics.median(s["cpu_parse"] + s["cpu_evaluate"] for s in samples)
            rss = statistics.median(s["rss_mib"] for s in samples)
            attrs = int(samples[0]["attributes"])
            print(f"{real_lines:>7} {attrs:>6} {parse_s:>8.3f} {eval_s:>8.3f} {parse_s + eval_s:>8.3f} {cpu_s:>7.3f} {rss:>13.1f}")
            rows.append(f"| {real_lines} | {attrs} | {parse_s:.3f} | {eval_s:.3f} | {parse_s + eval_s:.3f} | {cpu_s:.3f} | {rss:.0f} |")

        cold_samples = []
        warm_samples = []
        valid_samples = []
        for n in range(args.repeat):
            cold_env = dict(os.environ, BAKEHOUSE_CACHE_DIR=str(tmpdir / f"cache-cold-{n}"))
            cold_samples.append(first_use(cold_env, FIRST_ERROR))
            warm_samples.append(first_use(env, FIRST_ERROR))
            valid_samples.append(first_use(cold_env))
        cold_proc = statistics.median(c[0] for c in cold_samples)
        cold_in = statistics.median(c[1] for c in cold_samples)
        warm_proc = statistics.median(w[0] for w in warm_samples)
        warm_in = statistics.median(w[1] for w in warm_samples)
        valid_proc = statistics.median(v[0] for v in valid_samples)
        valid_in = statistics.median(v[1] for v in valid_samples)
        print(f"first use, valid text: process {valid_proc:.3f} s (import + first parse {valid_in:.3f} s)")
        print(f"first syntax error, cold cache: process {cold_proc:.2f} s (import + first parse {cold_in:.2f} s)")
        print(f"first syntax error, warm cache: process {warm_proc:.2f} s (import + first parse {warm_in:.2f} s)")

    section = "\n".join(
        [
            SECTION,
            "",
            f"Command: `.venv/bin/python bench/bench_hcl.py --repeat {args.repeat}` (medians; machine: 2 cores / 24 GiB, "
            f"Python {platform.python_version()}; load average {os.getloadavg()[0]:.1f} during the run: other test runs shared",
            "the 2 cores, so wall times are upper bounds; CPU time is the steadier figure).",
            "",
            "Parse + evaluate every attribute of generated templates (variables, locals with templates, heredocs with",
            "`%{ for }`, for expressions, function calls, sources, builds), one fresh process per size (parsing runs",
            "the generated LALR tables of `bakehouse/hcl/_lalr_tables.json`; no grammar cache is involved):",
            "",
            "| lines | attributes | parse s | evaluate s | total wall s | total CPU s | peak RSS MiB (whole process) |",
            "|---:|---:|---:|---:|---:|---:|---:|",
            *rows,
            "",
            "First use of the parser in a new process (`import` + one small parse). Valid text never loads Lark; a",
            "syntax error is reported by Lark, whose tables are compiled once into `$BAKEHOUSE_CACHE_DIR` (cold) and",
            "loaded from it afterwards (warm):",
            "",
            "| first parse | whole process s | import + first parse s |",
            "|---|---:|---:|",
            f"| valid text (generated tables) | {valid_proc:.3f} | {valid_in:.3f} |",
            f"| syntax error, Lark cache cold | {cold_proc:.2f} | {cold_in:.2f} |",
            f"| syntax error, Lark cache warm | {warm_proc:.2f} | {warm_in:.2f} |",
            "",
            "The cache directory is `$BAKEHOUSE_CACHE_DIR`, else `$XDG_CACHE_HOME/bakehouse` (`~/.cache/bakehouse`), else",
            "`$BAKEHOUSE_HOME/cache`, else the temp dir; the first syntax error (or `fmt`) that finds it cold pays the",
            "compile once.",
            "",
        ]
    )
    if not args.no_write:
        write_section(section)
    return 0


def write_section(section: str) -> None:
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    start = text.find("\n" + SECTION + "\n")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        before = text[:start].rstrip("\n") + "\n\n"
        after = "\n" + text[end + 1 :] if end >= 0 else ""
        text = before + section.rstrip("\n") + "\n" + after
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
