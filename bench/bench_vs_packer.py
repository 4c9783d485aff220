"""Bakehouse against Packer 1.6.6 and the raw docker CLI, side by side (issue 9).

Every round runs each command once, in turn (interleaved), so both tools see
the same machine load; the table gives medians, min/max and ratios:

* a null build with one ``shell-local`` ``echo``;
* ``validate`` of the same template;
* docker: a busybox base imported locally (``docker import``), ``pull = false``,
  one ``shell`` provisioner with 3 inline lines, one ``file`` upload, commit,
  ``docker-tag``; also the same work as a raw ``docker`` CLI sequence.

Then Bakehouse alone: ``version``, ``--help``, ``validate`` of a 10,000-line
template, one build of 8 (and 32) sources against one source (null and
docker), and the peak RSS of the core and of each plugin in the null build.

Packer is Debian's ``packer`` package (1.6.6, builders built in); the bench
installs it with ``apt-get install -y packer`` when it is missing (never
``scripts/setup``). The same HCL2 templates run on both tools unchanged.

Run: .venv/bin/python bench/bench_vs_packer.py [--runs N] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_docker import (  # noqa: E402  (one copy of the docker template and CLI sequence)
    COMMANDS,
    TEMPLATE,
    hcl_list,
    make_base_image,
    raw_cli_once,
    remove_image,
    write_section,
)
from bench_template import generate  # noqa: E402

from tests.fixtures.processes import peak_rss_kib, run_processes  # noqa: E402

BAKEHOUSE = str(Path(sys.executable).parent / "bakehouse")
SECTION = "## Bakehouse vs Packer 1.6.6 vs raw docker CLI"

NULL_TEMPLATE = """
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


def ensure_packer() -> str:
    found = shutil.which("packer")
    if found:
        return found
    print("packer is missing: apt-get install -y packer (Debian's 1.6.6)", flush=True)
    subprocess.run(["apt-get", "install", "-y", "packer"], check=True,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, capture_output=True)
    found = shutil.which("packer")
    if not found:
        raise SystemExit("apt-get installed no packer executable")
    return found


class Series:
    def __init__(self) -> None:
        self.walls: list[float] = []

    def add(self, wall: float) -> None:
        self.walls.append(wall)

    @property
    def median(self) -> float:
        return statistics.median(self.walls)

    def cell(self) -> str:
        return f"{self.median:.3f} ({min(self.walls):.3f}-{max(self.walls):.3f})"


def run_timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    """Wall seconds of one successful run; images it committed are removed afterwards."""
    started = time.perf_counter()
    result = subprocess.run(argv, cwd=str(cwd), env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    for image_id in re.findall(r"Imported Docker image: (sha256:[0-9a-f]{64})", result.stdout):
        remove_image(image_id)
    return wall


def interleaved(rounds: int, commands: dict[str, Callable[[], float]]) -> dict[str, Series]:
    series = {name: Series() for name in commands}
    for command in commands.values():  # warm-up: page cache, describe cache
        command()
    for _ in range(rounds):
        for name, command in commands.items():
            series[name].add(command())
    return series


def multi_source(kind: str, count: int, image: str) -> str:
    if kind == "null":
        sources = "".join(f'source "null" "n{i}" {{\n  communicator = "none"\n}}\n' for i in range(count))
        names = ", ".join(f'"source.null.n{i}"' for i in range(count))
        body = '  provisioner "shell-local" {\n    inline = ["echo hello"]\n  }\n'
    else:
        sources = "".join(
            f'source "docker" "d{i}" {{\n  image = "{image}"\n  pull = false\n  commit = true\n}}\n'
            for i in range(count)
        )
        names = ", ".join(f'"source.docker.d{i}"' for i in range(count))
        body = (f'  provisioner "shell" {{\n    inline = [{hcl_list(COMMANDS)}]\n  }}\n'
                '  provisioner "file" {\n    source = "payload.txt"\n    destination = "/opt/app/payload.txt"\n  }\n')
    return f"{sources}build {{\n  sources = [{names}]\n{body}}}\n"


def null_build_rss(workdir: Path, env: dict[str, str]) -> list[tuple[str, float]]:
    """Peak RSS (MiB) of the core's processes and each plugin in one null build."""
    run_id = "bench-rss-" + uuid.uuid4().hex[:8]
    process = subprocess.Popen([BAKEHOUSE, "build", "null.pkr.hcl"], cwd=str(workdir),
                               env={**env, "BAKEHOUSE_RUN_ID": run_id},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peaks: dict[int, int] = {}
    names: dict[int, str] = {}
    while process.poll() is None:
        pids = [process.pid, *run_processes(run_id)]
        try:
            children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
            pids += [int(pid) for pid in children]
        except OSError:
            pass
        for pid in pids:
            try:
                peaks[pid] = max(peaks.get(pid, 0), peak_rss_kib(pid))
                if pid not in names:
                    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                    label = " ".join(Path(a.decode()).name for a in argv[1:3] if a)
                    names[pid] = ("core (supervisor)" if pid == process.pid else
                                  "core (worker)" if "bakehouse" in label and "plugin" not in label else label)
            except (OSError, ValueError):
                pass
        time.sleep(0.005)
    # A plugin's fork before exec of a command shows its name too: one line per name.
    ours: dict[str, float] = {}
    for pid, kib in peaks.items():
        name = names.get(pid, str(pid))
        if name.startswith(("core", "bakehouse-plugin")):
            ours[name] = max(ours.get(name, 0.0), kib / 1024)
    return sorted(ours.items())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md alone")
    args = parser.parse_args()
    packer = ensure_packer()
    packer_version = subprocess.run([packer, "version"], capture_output=True, text=True).stdout.strip()
    load_before = os.getloadavg()
    env = dict(os.environ)
    # Installed Python packages have their bytecode compiled; a development
    # environment that forbids writing it would time the compiler instead.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("BAKEHOUSE_LOG", None)
    env.pop("PACKER_LOG", None)
    rows: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-vs-packer-") as tmp:
        workdir = Path(tmp)
        env["BAKEHOUSE_HOME"] = str(workdir / "home")
        env["PACKER_CACHE_DIR"] = str(workdir / "packer-cache")
        env["CHECKPOINT_DISABLE"] = "1"
        (workdir / "null.pkr.hcl").write_text(NULL_TEMPLATE)
        (workdir / "payload.txt").write_text("payload\n" * 100)
        image = make_base_image()
        repository = f"bakehouse-bench/vs-{uuid.uuid4().hex[:6]}"
        (workdir / "docker.pkr.hcl").write_text(
            TEMPLATE.replace("@IMAGE@", image).replace("@COMMANDS@", hcl_list(COMMANDS))
            .replace("@REPOSITORY@", repository))

        def bake(*argv: str) -> Callable[[], float]:
            return lambda: run_timed([BAKEHOUSE, *argv], workdir, env)

        def pack(*argv: str) -> Callable[[], float]:
            return lambda: run_timed([packer, *argv], workdir, env)

        def docker_build(tool: str) -> Callable[[], float]:
            def once() -> float:
                wall = run_timed([tool, "build", "docker.pkr.hcl"], workdir, env)
                remove_image(f"{repository}:bench")
                return wall
            return once

        try:
            series = interleaved(args.runs, {
                "bakehouse null": bake("build", "null.pkr.hcl"),
                "packer null": pack("build", "null.pkr.hcl"),
                "bakehouse validate": bake("validate", "null.pkr.hcl"),
                "packer validate": pack("validate", "null.pkr.hcl"),
                "bakehouse docker": docker_build(BAKEHOUSE),
                "packer docker": docker_build(packer),
                "raw docker CLI": lambda: raw_cli_once(workdir, image, repository),
            })
            (workdir / "big.pkr.hcl").write_text(generate(10_000))
            big_lines = (workdir / "big.pkr.hcl").read_text().count("\n")
            alone: dict[str, Callable[[], float]] = {
                "version": bake("version"),
                "--help": bake("--help"),
                f"validate, {big_lines}-line template": bake("validate", "big.pkr.hcl"),
            }
            for kind in ("null", "docker"):
                for count in (1, 8, 32):
                    name = f"{kind}-{count}.pkr.hcl"
                    (workdir / name).write_text(multi_source(kind, count, image))
                    alone[f"build, {count} {kind} source(s)"] = bake("build", name)
            alone_series = interleaved(max(3, args.runs // 2), alone)
            rss = null_build_rss(workdir, env)
            handshakes = handshake_times(workdir, env)
            started_alone = handshakes_alone(max(9, args.runs))
        finally:
            remove_image(f"{repository}:bench")
            remove_image(image)

    load_after = os.getloadavg()
    s = series

    def ratio(a: str, b: str) -> str:
        return f"{s[a].median / s[b].median:.2f}x"

    rows = [
        "| work | Bakehouse | Packer 1.6.6 | raw docker CLI | Bakehouse / other |",
        "|---|---|---|---|---|",
        f"| null build, one shell-local echo | {s['bakehouse null'].cell()} | {s['packer null'].cell()} | - | "
        f"{ratio('bakehouse null', 'packer null')} Packer |",
        f"| validate of the same template | {s['bakehouse validate'].cell()} | {s['packer validate'].cell()} | - | "
        f"{ratio('bakehouse validate', 'packer validate')} Packer |",
        f"| docker: busybox, pull=false, shell x3 lines, file, commit, docker-tag | {s['bakehouse docker'].cell()} | "
        f"{s['packer docker'].cell()} | {s['raw docker CLI'].cell()} | {ratio('bakehouse docker', 'raw docker CLI')} raw "
        f"(Packer: {ratio('packer docker', 'raw docker CLI')} raw) |",
    ]
    a = alone_series
    alone_rows = ["| command | median s (min-max) |", "|---|---|"]
    alone_rows += [f"| `bakehouse {name}` | {a[name].cell()} |" for name in a]
    scale_rows = []
    for kind in ("null", "docker"):
        one = a[f"build, 1 {kind} source(s)"].median
        scale_rows.append(
            f"- {kind}: 8 sources {a[f'build, 8 {kind} source(s)'].median / one:.2f}x one source, "
            f"32 sources {a[f'build, 32 {kind} source(s)'].median / one:.2f}x"
        )
    rss_rows = [f"- {name}: {mib:.1f} MiB" for name, mib in rss]
    hs_rows = [f"- {name}: median {statistics.median(ms):.0f} ms (min {min(ms):.0f}, max {max(ms):.0f}, n={len(ms)})"
               for name, ms in sorted(handshakes.items())]
    hs_alone_rows = [f"- {name}: median {statistics.median(ms):.0f} ms (min {min(ms):.0f}, max {max(ms):.0f}, "
                     f"n={len(ms)})" for name, ms in sorted(started_alone.items())]
    cpu = os.cpu_count()
    section = "\n".join([
        SECTION,
        "",
        f"Reproduce: `.venv/bin/python bench/bench_vs_packer.py --runs {args.runs}` "
        f"(interleaved rounds; seconds, median (min-max) of {args.runs}).",
        f"Machine: {cpu} CPUs, load average {load_before[0]:.2f} before / {load_after[0]:.2f} after "
        f"(the load after includes this bench's own 32-source builds); {packer_version} (Debian package, "
        "builders built in).",
        "Both tools run the same HCL2 templates, unchanged: Packer 1.6.6 has its docker builder and",
        "docker-tag built in, so the template needs no `packer { required_plugins }` block (1.6.6 would",
        "not know it).",
        "",
        *rows,
        "",
        "Bakehouse alone (interleaved rounds):",
        "",
        *alone_rows,
        "",
        "One `bakehouse build` of N sources against one source:",
        "",
        *scale_rows,
        "",
        "Peak RSS (VmHWM) in the null build:",
        "",
        *rss_rows,
        "",
        "Plugin start-to-handshake, a plugin started alone (`PluginProcess.start`, the plugins in turn):",
        "",
        *hs_alone_rows,
        "",
        "Plugin start-to-handshake inside a build (from `BAKEHOUSE_LOG` of the null and docker builds; in "
        "the docker build the core and two plugins start at once on the 2 CPUs):",
        "",
        *hs_rows,
        "",
    ])
    print(section)
    if not args.no_write:
        write_section(section, SECTION)
    return 0


def handshakes_alone(rounds: int) -> dict[str, list[float]]:
    """Milliseconds from spawn to handshake of each plugin started on its own,
    the plugins interleaved round by round (as ``bench_rpc.py`` for one)."""
    from bakehouse.plugin.process import PluginProcess

    found: dict[str, list[float]] = {}
    for _ in range(rounds + 1):  # the first round warms the caches up and is dropped
        for name in ("bakehouse-plugin-shell", "bakehouse-plugin-docker", "bakehouse-plugin-aws"):
            process = PluginProcess(str(Path(BAKEHOUSE).parent / name), build_key="bench", run_id="bench")
            started = time.perf_counter()
            process.start(timeout=60)
            found.setdefault(name, []).append((time.perf_counter() - started) * 1000)
            process.stop()
    return {name: ms[1:] for name, ms in found.items()}


def handshake_times(workdir: Path, env: dict[str, str], rounds: int = 5) -> dict[str, list[float]]:
    """Milliseconds from spawn to handshake per plugin, from the core's debug log."""
    found: dict[str, list[float]] = {}
    for _ in range(rounds):
        for template in ("null.pkr.hcl", "docker-1.pkr.hcl"):
            log_path = workdir / "hs.log"
            subprocess.run([BAKEHOUSE, "build", template], cwd=str(workdir), capture_output=True,
                           env={**env, "BAKEHOUSE_LOG_PATH": str(log_path)})
            for match in re.finditer(r"started (\S+) \(pid \d+\) for .*? in (\d+) ms", log_path.read_text()):
                found.setdefault(match.group(1), []).append(float(match.group(2)))
    return found


if __name__ == "__main__":
    raise SystemExit(main())
