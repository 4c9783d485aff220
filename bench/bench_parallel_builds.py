"""The docker template and N parallel builds: Bakehouse, Packer 1.6.6 and the raw docker CLI (issue 9).

Every round runs each command once, in turn (interleaved), so the three see the
same machine load; the section gives medians, min-max and ratios:

* the docker template of ``bench_docker.py`` (busybox base, ``pull = false``,
  one ``shell`` with 3 inline lines, one ``file`` upload, commit,
  ``docker-tag``): ``bakehouse build`` wall clock and the build itself (the
  core's ``finished after``), ``packer build``, and the same work as a raw
  ``docker`` CLI sequence;
* one ``build`` of 1, 8 and 32 sources of that template (without the tag) and
  of a null source with one ``shell-local`` ``echo``: Bakehouse and Packer
  (both run the sources of one build in parallel), and for docker N raw CLI
  sequences run at the same time; then each tool's N-source wall against its
  own 1-source wall.

Packer is Debian's ``packer`` (1.6.6, builders built in; installed by
``bench_vs_packer.ensure_packer`` when missing). The templates are the same
files for both tools.

With ``--baseline DIR`` (another checkout with its own ``.venv``, e.g. a worktree
of an older commit made with ``git worktree add --detach DIR COMMIT`` and
``bash scripts/setup`` in it), that checkout's ``bakehouse build`` of the docker
template and of the 1, 8 and 32 docker sources join the same interleaved rounds:
a before/after pair under one load.

Run: .venv/bin/python bench/bench_parallel_builds.py [--runs N] [--big-runs N] [--baseline DIR] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import re
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

from bench_docker import (  # noqa: E402  (one copy of the docker template and CLI sequence)
    COMMANDS,
    TEMPLATE,
    finished_after,
    hcl_list,
    make_base_image,
    raw_cli_once,
    remove_image,
    write_section,
)
from bench_vs_packer import (  # noqa: E402  (one way to time, interleave and build N-source templates)
    BAKEHOUSE,
    Series,
    ensure_packer,
    interleaved,
    multi_source,
    run_timed,
)

SECTION = "## Docker build and parallel builds (issue 9)"
COUNTS = (1, 8, 32)


def bakehouse_docker(workdir: Path, env: dict[str, str], repository: str,
                     builds: Series, executable: str = BAKEHOUSE) -> Callable[[], float]:
    """One ``bakehouse build`` of the docker template; its ``finished after`` goes to ``builds``."""
    def once() -> float:
        started = time.perf_counter()
        result = subprocess.run([executable, "build", "docker.pkr.hcl"], cwd=str(workdir), env=env,
                                capture_output=True, text=True)
        wall = time.perf_counter() - started
        for image_id in re.findall(r"Imported Docker image: (sha256:[0-9a-f]{64})", result.stdout):
            remove_image(image_id)
        remove_image(f"{repository}:bench")
        if result.returncode != 0:
            raise RuntimeError(f"bakehouse build failed:\n{result.stdout}\n{result.stderr}")
        build = finished_after(result.stdout)
        if build is not None:
            builds.add(build)
        return wall
    return once


def raw_cli_parallel(workdir: Path, image: str, count: int) -> float:
    """``count`` raw CLI sequences at the same time; wall seconds until the last ends."""
    errors: list[BaseException] = []

    def one(index: int) -> None:
        try:
            raw_cli_once(workdir, image, f"bakehouse-bench/raw-{uuid.uuid4().hex[:6]}-{index}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"raw CLI sequence failed: {errors[0]}")
    return wall


def targets(template: dict[str, Series], build_itself: Series,
            scaling: dict[tuple[str, str, int], Series]) -> list[str]:
    """Issue 9's targets for this section, each with its figure and whether it is met."""
    def ratio(kind: str, count: int) -> float:
        return scaling[("bakehouse", kind, count)].median / scaling[("bakehouse", kind, 1)].median

    def met(ok: bool) -> str:
        return "met" if ok else "not met"

    wall = template["bakehouse"].median / template["raw"].median
    itself = build_itself.median / template["raw"].median
    docker8, null8 = ratio("docker", 8), ratio("null", 8)
    return [
        "Issue 9 targets (medians above):",
        "",
        "| target | figure | |",
        "|---|---|---|",
        f"| docker template <= 1.2x the raw CLI sequence (wall clock) | {wall:.2f}x | {met(wall <= 1.2)} |",
        f"| the build itself faster than the raw CLI sequence | {itself:.2f}x | {met(itself < 1.0)} |",
        f"| 8 docker builds <= 3x one | {docker8:.2f}x (32: {ratio('docker', 32):.2f}x) | {met(docker8 <= 3.0)} |",
        f"| 8 null builds <= 1.5x one | {null8:.2f}x (32: {ratio('null', 32):.2f}x) | {met(null8 <= 1.5)} |",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="rounds for the template and 1/8 sources")
    parser.add_argument("--big-runs", type=int, default=3, help="rounds for 32 sources")
    parser.add_argument("--baseline", type=Path, metavar="DIR",
                        help="another checkout with its own .venv: its build of the docker template joins the rounds")
    parser.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md alone")
    args = parser.parse_args()
    baseline = str(args.baseline.resolve() / ".venv" / "bin" / "bakehouse") if args.baseline else ""
    if baseline and not os.access(baseline, os.X_OK):
        parser.error(f"--baseline: {baseline} is not an executable (run scripts/setup in {args.baseline})")
    packer = ensure_packer()
    packer_version = subprocess.run([packer, "version"], capture_output=True, text=True).stdout.strip()
    load_before = os.getloadavg()
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as bench_vs_packer: time installed bytecode
    env.pop("BAKEHOUSE_LOG", None)
    env.pop("PACKER_LOG", None)
    with tempfile.TemporaryDirectory(prefix="bench-parallel-") as tmp:
        workdir = Path(tmp)
        env["BAKEHOUSE_HOME"] = str(workdir / "home")
        env["PACKER_CACHE_DIR"] = str(workdir / "packer-cache")
        env["CHECKPOINT_DISABLE"] = "1"
        (workdir / "payload.txt").write_text("payload\n" * 100)
        image = make_base_image()
        repository = f"bakehouse-bench/par-{uuid.uuid4().hex[:6]}"
        (workdir / "docker.pkr.hcl").write_text(
            TEMPLATE.replace("@IMAGE@", image).replace("@COMMANDS@", hcl_list(COMMANDS))
            .replace("@REPOSITORY@", repository))
        for kind in ("null", "docker"):
            for count in COUNTS:
                (workdir / f"{kind}-{count}.pkr.hcl").write_text(multi_source(kind, count, image))

        def tool(executable: str, template: str) -> Callable[[], float]:
            return lambda: run_timed([executable, "build", template], workdir, env)

        def packer_docker() -> float:
            wall = run_timed([packer, "build", "docker.pkr.hcl"], workdir, env)
            remove_image(f"{repository}:bench")
            return wall

        build_itself, baseline_itself = Series(), Series()
        try:
            commands = {
                "bakehouse": bakehouse_docker(workdir, env, repository, build_itself),
                "packer": packer_docker,
                "raw": lambda: raw_cli_once(workdir, image, repository),
            }
            if baseline:
                commands["baseline"] = bakehouse_docker(workdir, env, repository, baseline_itself, baseline)
            template = interleaved(args.runs, commands)
            scaling: dict[tuple[str, str, int], Series] = {}
            for count in COUNTS:
                commands: dict[str, Callable[[], float]] = {}
                for kind in ("null", "docker"):
                    name = f"{kind}-{count}.pkr.hcl"
                    commands[f"bakehouse {kind}"] = tool(BAKEHOUSE, name)
                    commands[f"packer {kind}"] = tool(packer, name)
                if baseline:
                    commands["baseline docker"] = tool(baseline, f"docker-{count}.pkr.hcl")
                commands["raw docker"] = (lambda n=count: raw_cli_parallel(workdir, image, n))
                found = interleaved(args.big_runs if count > 8 else args.runs, commands)
                for key, series in found.items():
                    who, kind = key.split()
                    scaling[(who, kind, count)] = series
        finally:
            remove_image(f"{repository}:bench")
            remove_image(image)
    load_after = os.getloadavg()

    t = template
    lines = [
        SECTION,
        "",
        f"Reproduce: `.venv/bin/python bench/bench_parallel_builds.py --runs {args.runs} --big-runs {args.big_runs}"
        f"{' --baseline ' + args.baseline.name if baseline else ''}` "
        f"(interleaved rounds; seconds, median (min-max); {args.big_runs} rounds for 32 sources, "
        f"{args.runs} otherwise, after one warm-up each).",
        f"Machine: {os.cpu_count()} CPUs, Docker Engine 20.10, load average {load_before[0]:.2f} before / "
        f"{load_after[0]:.2f} after (other sessions were running); {packer_version} (Debian package).",
        "",
        "The docker template (busybox base, `pull = false`, `shell` with 3 inline lines, `file` upload, commit, "
        "`docker-tag`):",
        "",
        "| way | median s (min-max) | / raw CLI |",
        "|---|---|---|",
        f"| raw docker CLI sequence (run, exec, cp, commit, rm -f, tag) | {t['raw'].cell()} | 1.00x |",
        f"| `bakehouse build`, wall clock | {t['bakehouse'].cell()} | "
        f"{t['bakehouse'].median / t['raw'].median:.2f}x |",
        f"| `bakehouse build`, the build itself (`finished after`) | {build_itself.cell()} | "
        f"{build_itself.median / t['raw'].median:.2f}x |",
        f"| `packer build` | {t['packer'].cell()} | {t['packer'].median / t['raw'].median:.2f}x |",
        *([f"| baseline `{args.baseline.name}`: `bakehouse build`, wall clock | {t['baseline'].cell()} | "
           f"{t['baseline'].median / t['raw'].median:.2f}x |",
           f"| baseline `{args.baseline.name}`: the build itself | {baseline_itself.cell()} | "
           f"{baseline_itself.median / t['raw'].median:.2f}x |"] if baseline else []),
        "",
        "One `build` of N sources (docker: the template above without `docker-tag`; null: one `shell-local` "
        "`echo`); raw CLI: N sequences at once. Ratio: N sources against 1 source of the same tool.",
        "",
        "| work | N | Bakehouse | Packer 1.6.6 | raw docker CLI | Bakehouse N/1 | Packer N/1 | raw N/1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind in ("null", "docker"):
        for count in COUNTS:
            cells = []
            ratios = []
            for who in ("bakehouse", "packer", "raw"):
                series = scaling.get((who, kind, count))
                one = scaling.get((who, kind, 1))
                cells.append(series.cell() if series else "-")
                ratios.append(f"{series.median / one.median:.2f}x" if series and one else "-")
            lines.append(f"| {kind} | {count} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    if baseline:
        lines += [
            "",
            f"The same docker sources with the baseline `{args.baseline.name}` in the same rounds:",
            "",
            f"| N | baseline `{args.baseline.name}` | Bakehouse | baseline N/1 | Bakehouse N/1 | raw N/1 |",
            "|---|---|---|---|---|---|",
        ]
        for count in COUNTS:
            base, now, raw = (scaling[(who, "docker", count)] for who in ("baseline", "bakehouse", "raw"))
            base1, now1, raw1 = (scaling[(who, "docker", 1)] for who in ("baseline", "bakehouse", "raw"))
            lines.append(f"| {count} | {base.cell()} | {now.cell()} | {base.median / base1.median:.2f}x | "
                         f"{now.median / now1.median:.2f}x | {raw.median / raw1.median:.2f}x |")
    lines += ["", *targets(t, build_itself, scaling), ""]
    section = "\n".join(lines)
    print(section)
    if not args.no_write:
        write_section(section, SECTION)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
