"""The shell plugin: command overhead, output streaming, memory.

Figures:

* in-process ``shell-local`` overhead per command (temporary script, process
  group, watchdog, line splitting) next to a bare ``subprocess.run`` of the
  same ``/bin/sh -c true``;
* output streaming through the real CLI: a ``shell-local`` provisioner
  printing LINES lines (one Ui call over RPC per output chunk); wall
  time, lines per second, and the peak RSS (VmHWM) of the shell plugin and of
  the core's worker process;
* the ``shell`` provisioner through RPC against the localdir test builder:
  cost per script (upload, run, remove, each relayed by the core to the
  builder plugin), from builds with 1 and with SCRIPTS provisioners.

Run: .venv/bin/python bench/bench_shell.py
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BAKEHOUSE = str(Path(sys.executable).parent / "bakehouse")
RESULTS = REPO / "bench" / "RESULTS.md"
SECTION = "## Shell plugin"
LINES = 50_000
SCRIPTS = 10
RUNS = 5
LOCALDIR = REPO / "tests" / "plugins" / "localdir" / "localdir_plugin.py"


def in_process_overhead() -> tuple[float, float]:
    from bakehouse.sdk import BuildInfo, Context, NullUi
    from bakehouse_plugin_shell.shell_local import ShellLocalProvisioner

    prov = ShellLocalProvisioner()
    prov.prepare({"inline": ["true"]}, BuildInfo(name="bench", builder_type="null"))
    ours, bare = [], []
    for _ in range(30):
        started = time.perf_counter()
        prov.provision(NullUi(), None, {}, Context())
        ours.append(time.perf_counter() - started)
        started = time.perf_counter()
        subprocess.run(["/bin/sh", "-c", "true"], check=True)
        bare.append(time.perf_counter() - started)
    return statistics.median(ours), statistics.median(bare)


def _status_kib(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants(root: int) -> dict[int, str]:
    """pid -> argv[0] basename of every process below ``root``."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        # Console scripts run as "python /path/to/script ...": keep both basenames.
        names[int(entry.name)] = " ".join(os.path.basename(a.decode(errors="replace")) for a in cmdline[:2])
    found = {root}
    changed = True
    while changed:
        changed = False
        for pid, parent in parents.items():
            if parent in found and pid not in found:
                found.add(pid)
                changed = True
    return {pid: names.get(pid, "") for pid in found}


def build_with_rss(template: Path, env: dict[str, str]) -> tuple[float, int, int, str]:
    """Wall time, peak RSS (KiB) of the shell plugin and of the core worker."""
    peaks = {"plugin": 0, "worker": 0}
    started = time.perf_counter()
    proc = subprocess.Popen([BAKEHOUSE, "build", template.name], cwd=template.parent, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    done = threading.Event()

    def sample() -> None:
        # VmHWM only grows: the last sample before a process exits is its peak.
        while not done.is_set():
            for pid, name in _descendants(proc.pid).items():
                words = name.split()
                if "bakehouse-plugin-shell" in words:
                    peaks["plugin"] = max(peaks["plugin"], _status_kib(pid, "VmHWM"))
                elif "bakehouse" in words and pid != proc.pid:
                    peaks["worker"] = max(peaks["worker"], _status_kib(pid, "VmHWM"))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    output = proc.communicate()[0].decode(errors="replace")
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"build failed:\n{output[-3000:]}")
    return elapsed, peaks["plugin"], peaks["worker"], output


def timed_build(template: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run([BAKEHOUSE, "build", template.name], cwd=template.parent, env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"build failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return time.perf_counter() - started


def shell_template(count: int) -> str:
    blocks = "".join(
        f'  provisioner "shell" {{\n    inline = ["echo step {i}"]\n    remote_folder = "."\n  }}\n'
        for i in range(count)
    )
    return 'source "localdir" "bench" {}\nbuild {\n  sources = ["source.localdir.bench"]\n' + blocks + "}\n"


def main() -> None:
    ours, bare = in_process_overhead()
    print(f"in-process shell-local: {ours * 1000:.1f} ms per command, bare subprocess {bare * 1000:.1f} ms")

    with tempfile.TemporaryDirectory(prefix="bench-shell-") as tmp:
        work = Path(tmp)
        plugin_dir = work / "plugins"
        plugin_dir.mkdir()
        launcher = plugin_dir / "bakehouse-plugin-localdir"
        launcher.write_text(f"#!{sys.executable}\nimport runpy\nrunpy.run_path({str(LOCALDIR)!r}, run_name='__main__')\n")
        launcher.chmod(0o755)
        env = dict(os.environ, BAKEHOUSE_HOME=str(work / "home"), BAKEHOUSE_PLUGIN_PATH=str(plugin_dir))
        env.pop("BAKEHOUSE_LOG", None)

        streaming = work / "stream.pkr.hcl"
        streaming.write_text(
            'source "null" "bench" {\n  communicator = "none"\n}\n'
            'build {\n  sources = ["source.null.bench"]\n'
            f'  provisioner "shell-local" {{\n    inline = ["seq {LINES}"]\n  }}\n}}\n'
        )
        one_line = work / "one.pkr.hcl"
        one_line.write_text(streaming.read_text().replace(f"seq {LINES}", "echo 1"))
        timed_build(one_line, env)  # warm the describe cache
        base = statistics.median(timed_build(one_line, env) for _ in range(RUNS))
        stream_runs = [build_with_rss(streaming, env) for _ in range(3)]
        stream_wall = statistics.median(r[0] for r in stream_runs)
        plugin_rss = max(r[1] for r in stream_runs)
        worker_rss = max(r[2] for r in stream_runs)
        assert f"null.bench: {LINES}" in stream_runs[0][3], "the last line did not reach the output"
        rate = LINES / max(stream_wall - base, 1e-9)
        print(f"streaming {LINES} lines: {stream_wall:.2f} s (1-line build {base:.2f} s) -> {rate:,.0f} lines/s; "
              f"peak RSS plugin {plugin_rss / 1024:.1f} MiB, worker {worker_rss / 1024:.1f} MiB")

        single = work / "single.pkr.hcl"
        single.write_text(shell_template(1))
        many = work / "many.pkr.hcl"
        many.write_text(shell_template(SCRIPTS))
        timed_build(single, env)
        single_wall = statistics.median(timed_build(single, env) for _ in range(RUNS))
        many_wall = statistics.median(timed_build(many, env) for _ in range(RUNS))
        per_script = (many_wall - single_wall) / (SCRIPTS - 1)
        print(f"shell via localdir: 1 script {single_wall:.2f} s, {SCRIPTS} scripts {many_wall:.2f} s "
              f"-> {per_script * 1000:.0f} ms per script")

    load = os.getloadavg()[0]
    lines = [
        SECTION,
        "",
        "Command: `.venv/bin/python bench/bench_shell.py` (real CLI and plugin processes, warm describe",
        f"cache; 1-minute load average when measured: {load:.1f} on 2 cores, shared with other jobs, so",
        "the figures are upper bounds). Machine: 2 cores / 24 GiB.",
        "",
        "| what | figure |",
        "|---|---|",
        f"| `shell-local` in-process, per command (`true`; temp script, process group, watchdog) | {ours * 1000:.1f} ms |",
        f"| bare `subprocess.run(['/bin/sh', '-c', 'true'])`, for comparison | {bare * 1000:.1f} ms |",
        f"| null build, `shell-local` printing 1 line (median of {RUNS}) | {base:.2f} s |",
        f"| null build, `shell-local` printing {LINES:,} lines (median of 3) | {stream_wall:.2f} s |",
        f"| output streamed to the terminal (one Ui call over RPC per output chunk), beyond the 1-line build | {rate:,.0f} lines/s |",
        f"| peak RSS of `bakehouse-plugin-shell` while streaming | {plugin_rss / 1024:.1f} MiB |",
        f"| peak RSS of the core's worker process while streaming | {worker_rss / 1024:.1f} MiB |",
        f"| `shell` through RPC against the localdir builder, per script (upload, run, remove) | {per_script * 1000:.0f} ms |",
    ]
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
