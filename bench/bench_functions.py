"""Cost of the HCL function library: import time and per-call time.

Each function is called through the evaluator's calling convention
(``call_function``: arity, conversion, null/unknown rules) with typical
arguments; the figure is the median of 5 repetitions of a timed loop, in
microseconds per call. Import time is measured in a fresh interpreter.

Run: .venv/bin/python bench/bench_functions.py
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bakehouse.hcl.diagnostics import SourcePos
from bakehouse.hcl.evaluator import call_function
from bakehouse.hcl.function import FunctionContext
from bakehouse.hcl.functions import FUNCTIONS
from bakehouse.hcl.values import from_python

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "RESULTS.md"
SECTION = "## HCL functions: import and per-call cost"
HERE = SourcePos("<bench>", 1, 1)

CASES: list[tuple[str, list[object]]] = [
    ("upper", ["hello world"]),
    ("format", ["%s-%05d-%.2f-%v", "name", 42, 3.14159, [1, "a"]]),
    ("formatlist", ["%s=%s", ["a", "b", "c", "d"], ["1", "2", "3", "4"]]),
    ("regex", [r"(?P<k>[a-z]+)=(?P<v>\d+)", "key=1234"]),
    ("regexall", [r"[a-z]+", "abc 123 def 456 ghi"]),
    ("regex_replace", ["a-b-c-d-e", "-", "+"]),
    ("length", ["wé́́é́́é́́!"]),
    ("jsonencode", [{"a": [1, 2, 3], "b": {"c": "d"}, "e": None}]),
    ("jsondecode", ['{"a": [1, 2, 3], "b": {"c": "d"}, "e": null}']),
    ("yamlencode", [{"a": [1, 2, 3], "b": {"c": "d\ne"}, "e": None}]),
    ("yamldecode", ["a: [1, 2, 3]\nb: {c: d}\ne: null\n"]),
    ("merge", [{"a": 1, "b": 2}, {"c": 3}, {"a": 4}]),
    ("concat", [[1, 2], [3, 4], ["x"]]),
    ("setproduct", [["a", "b", "c"], ["x", "y", "z"]]),
    ("cidrsubnets", ["10.0.0.0/16", 4, 4, 8, 4]),
    ("formatdate", ["YYYY-MM-DD'T'hh:mm:ssZ", "2006-01-02T15:04:05Z"]),
    ("timeadd", ["2017-11-22T00:00:00Z", "1h30m"]),
    ("sha256", ["hello world"]),
    ("base64gzip", ["hello world " * 20]),
    ("uuidv5", ["dns", "example.com"]),
    ("sum", [[1.1, 2.2, 3.3, 4.4]]),
]


def per_call_us(name: str, raw_args: list[object], loops: int = 2000) -> float:
    function = FUNCTIONS[name]
    args = [from_python(a) for a in raw_args]
    positions = [HERE] * len(args)
    fctx = FunctionContext()
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(loops):
            call_function(name, function, args, positions, HERE, fctx)
        samples.append((time.perf_counter() - start) / loops * 1e6)
    return statistics.median(samples)


def import_ms() -> float:
    code = "import time; t=time.perf_counter(); import bakehouse.hcl.functions; print(time.perf_counter()-t)"
    samples = [
        float(subprocess.check_output([sys.executable, "-c", code], text=True)) * 1000
        for _ in range(5)
    ]
    return statistics.median(samples)


def main() -> None:
    rows = []
    for name, args in CASES:
        us = per_call_us(name, args)
        rows.append(f"| `{name}` | {us:.1f} |")
        print(rows[-1], flush=True)
    imported = import_ms()
    load = os.getloadavg()[0]
    print(f"import: {imported:.1f} ms (load average {load:.1f})")
    section = "\n".join(
        [
            SECTION,
            "",
            "Command: `.venv/bin/python bench/bench_functions.py`. Calls go through the evaluator's",
            "calling convention (`call_function`) with typical arguments; median of 5 timed loops.",
            f"Load average (1 min) when measured: {load:.1f} on 2 cores (other work was running; figures",
            "are upper bounds).",
            "",
            f"Import of `bakehouse.hcl.functions` in a fresh interpreter (median of 5): **{imported:.0f} ms**",
            "(includes `bakehouse.hcl.values`, `regex` and `yaml`; `cryptography` and `bcrypt` load on",
            "first use of `rsadecrypt` / `bcrypt`).",
            "",
            "| function | µs per call |",
            "|---|---|",
            *rows,
            "",
        ]
    )
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(re.escape(SECTION) + r".*?(?=\n## |\Z)", re.S)
    text = (
        pattern.sub(section.rstrip("\n") + "\n", text)
        if SECTION in text
        else text.rstrip("\n") + "\n\n" + section
    )
    RESULTS.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
