"""What a docker build leaves behind when things go wrong, and how builds share
the machine: failing provisioners, Ctrl-C, kill -9 of the core, -on-error=abort,
parallel builds and memory during a 1 GiB upload. Real CLI, real plugins,
real engine."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import docker
import pytest

from tests.fixtures.docker import (
    engine_events,
    leftover_temp_dirs,
    show,
    wait_for_nothing_left,
    write_template,
)
from tests.fixtures.processes import (
    kill_9_at_once,
    peak_rss_kib,
    pid_alive,
    run_processes,
    wait_until_gone,
)
from tests.support import bakehouse_exe

pytestmark = pytest.mark.docker

SLEEPING_TEMPLATE = '''
source "docker" "sleepy" {
  image  = "@IMAGE@"
  pull   = false
  commit = true
}
build {
  sources = ["source.docker.sleepy"]
  provisioner "shell" {
    inline = ["echo provisioning-started", "sleep 600", "echo never-reached"]
  }
}
'''


class RunningBuild:
    """``bakehouse build`` in the background, its output collected line by line."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.process = subprocess.Popen(
            [bakehouse_exe(), *args], cwd=str(cwd), env={**os.environ, **env},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()

    def wait_for(self, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not any(text in line for line in self.lines):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.process.poll() is not None:
                    raise AssertionError(f"never saw {text!r}:\n{self.output}")
                self._changed.wait(min(remaining, 0.5))

    def finish(self, timeout: float = 120) -> int:
        code = self.process.wait(timeout)
        self._reader.join(10)
        return code

    @property
    def output(self) -> str:
        return "".join(self.lines)


def core_pids(build: RunningBuild) -> list[int]:
    """The supervisor and its worker: every process of the run that is not a plugin."""
    pids = [build.process.pid]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == build.process.pid and "bakehouse-plugin-" not in cmdline:
            pids.append(int(entry.name))
    return pids


def kill_9_everything(build: RunningBuild, run_id: str) -> None:
    """kill -9 of the core *and* the plugins of a running build: nothing is
    left to clean up but the journal."""
    everything = set(run_processes(run_id)) | set(core_pids(build))
    kill_9_at_once(everything)
    build.finish(timeout=30)
    assert wait_until_gone(everything, 10) == []



def test_failing_provisioner_leaves_no_container_temp_dir_or_process(
    bakehouse, tmp_path: Path, busybox_image: str, docker_resources, run_id: str,
    cli_env: dict[str, str], docker_tmpdir: Path,
) -> None:
    write_template(tmp_path, '''
source "docker" "failing" {
  image  = "@IMAGE@"
  pull   = false
  commit = true
}
build {
  sources = ["source.docker.failing"]
  provisioner "shell" {
    inline = ["echo about to fail", "exit 3"]
  }
}
''', image=busybox_image)
    result = bakehouse("build", "t.pkr.hcl", env=cli_env)
    assert result.returncode == 1, show(result)
    assert "about to fail" in result.stdout
    assert "exit status: 3" in result.stdout + result.stderr, show(result)
    assert "Killing the container" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    wait_for_nothing_left(docker_resources, run_id, docker_tmpdir, timeout=5)


def test_ctrl_c_mid_provision_cleans_up_everything(
    tmp_path: Path, busybox_image: str, docker_resources, run_id: str, cli_env: dict[str, str], docker_tmpdir: Path,
) -> None:
    write_template(tmp_path, SLEEPING_TEMPLATE, image=busybox_image)
    build = RunningBuild(["build", "t.pkr.hcl"], tmp_path, cli_env)
    build.wait_for("provisioning-started")
    assert len(docker_resources.build_containers(run_id)) == 1
    interrupted = time.monotonic()
    # Ctrl-C in a terminal: SIGINT to the whole foreground process group.
    os.killpg(build.process.pid, signal.SIGINT)
    code = build.finish(timeout=120)
    assert code != 0, build.output
    assert time.monotonic() - interrupted < 60, "the build did not stop promptly"
    assert "never-reached" not in build.output
    assert "Killing the container" in build.output, build.output
    wait_for_nothing_left(docker_resources, run_id, docker_tmpdir, timeout=10)


def test_kill_9_of_the_core_mid_provision_still_removes_the_container(
    tmp_path: Path, busybox_image: str, docker_resources, run_id: str, cli_env: dict[str, str], docker_tmpdir: Path,
    bakehouse_home: Path,
) -> None:
    write_template(tmp_path, SLEEPING_TEMPLATE, image=busybox_image)
    build = RunningBuild(["build", "t.pkr.hcl"], tmp_path, cli_env)
    build.wait_for("provisioning-started")
    plugins = [pid for pid in run_processes(run_id) if pid not in core_pids(build)]
    assert plugins, "no plugin process found"
    assert len(docker_resources.build_containers(run_id)) == 1
    for pid in core_pids(build):
        os.kill(pid, signal.SIGKILL)
    build.finish(timeout=30)
    # The plugins see EOF on their pipes, cancel, run the builder's cleanups, exit.
    wait_for_nothing_left(docker_resources, run_id, docker_tmpdir, timeout=60)
    assert wait_until_gone(plugins, 5) == []
    leftovers = [p for p in (bakehouse_home / "journal" / run_id).glob("*.json") if p.name != "run.json"]
    assert leftovers == [], "the journal still lists resources that were removed"


def test_on_error_abort_keeps_the_container_and_says_how_to_remove_it(
    bakehouse, tmp_path: Path, docker_client: docker.DockerClient, busybox_image: str, docker_resources,
    run_id: str, cli_env: dict[str, str],
) -> None:
    write_template(tmp_path, '''
source "docker" "abort" {
  image  = "@IMAGE@"
  pull   = false
  commit = true
}
build {
  sources = ["source.docker.abort"]
  provisioner "shell" {
    inline = ["echo evidence > /tmp/evidence", "exit 1"]
  }
}
''', image=busybox_image)
    result = bakehouse("build", "-on-error=abort", "t.pkr.hcl", env=cli_env)
    assert result.returncode == 1, show(result)
    kept = docker_resources.build_containers(run_id)
    assert len(kept) == 1, show(result)
    docker_resources.container(kept[0].id)
    output = result.stdout + result.stderr
    assert f"docker rm -f {kept[0].id}" in output, show(result)
    assert "Killing the container" not in output
    assert kept[0].status == "running"
    assert kept[0].exec_run("cat /tmp/evidence").output == b"evidence\n"
    assert run_processes(run_id) == []
    removal = re.search(r"docker rm -f ([0-9a-f]{64})", output)
    assert removal is not None
    docker_client.api.remove_container(removal.group(1), force=True)
    assert docker_resources.build_containers(run_id) == []


def test_four_builds_with_parallel_builds_2_run_two_at_a_time(
    bakehouse, tmp_path: Path, docker_client: docker.DockerClient, busybox_image: str, docker_resources,
    run_id: str, cli_env: dict[str, str], docker_tmpdir: Path,
) -> None:
    repository = docker_resources.name("parallel")
    names = ["one", "two", "three", "four"]
    for name in names:
        docker_resources.image(f"{repository}:{name}")
    sources = "\n".join(f'''
source "docker" "{name}" {{
  image  = "@IMAGE@"
  pull   = false
  commit = true
}}''' for name in names)
    write_template(tmp_path, sources + '''
build {
  sources = [''' + ", ".join(f'"source.docker.{n}"' for n in names) + ''']
  provisioner "shell" {
    inline = ["sleep 3", "echo ${source.name} > /built-as"]
  }
  post-processor "docker-tag" {
    repository = "@REPOSITORY@"
    tags       = [source.name]
  }
}
''', image=busybox_image, repository=repository)
    # The engine's own record of when each build container ran.
    with engine_events(docker_client, {"type": "container", "label": f"io.bakehouse.run-id={run_id}"},
                       count=4) as events:
        result = bakehouse("build", "-parallel-builds=2", "t.pkr.hcl", env=cli_env, timeout=600)
    assert result.returncode == 0, show(result)

    for name in names:
        image = docker_client.images.get(f"{repository}:{name}")
        assert docker_client.containers.run(image.id, ["-c", "cat /built-as"], entrypoint="/bin/sh", remove=True) == f"{name}\n".encode()

    changes = sorted(
        (event["timeNano"], +1 if event["Action"] == "start" else -1)
        for event in events if event["Action"] in ("start", "die")
    )
    starts = [c for c in changes if c[1] == 1]
    assert len(starts) == 4, changes
    running = peak = 0
    for _, delta in changes:
        running += delta
        peak = max(peak, running)
    assert peak == 2, f"expected two containers at a time, saw at most {peak}"
    assert docker_resources.build_containers(run_id) == []
    assert leftover_temp_dirs(docker_tmpdir) == []


def test_uploading_1_gib_keeps_core_and_plugins_under_150_mb(
    bakehouse, tmp_path: Path, busybox_image: str, docker_resources, run_id: str,
    cli_env: dict[str, str], docker_tmpdir: Path,
) -> None:
    """1 GiB up into the container and back down, core + docker plugin sampled all along.

    The template uses only the (built-in) file provisioner, so the processes
    measured are exactly those moving the bytes: the core and the docker plugin.
    """
    big = tmp_path / "big.bin"
    digest = hashlib.sha256()
    with open(big, "wb") as out:
        block = os.urandom(1024 * 1024)
        for _ in range(1024):
            out.write(block)
            digest.update(block)
    write_template(tmp_path, '''
source "docker" "big" {
  image   = "@IMAGE@"
  pull    = false
  discard = true
}
build {
  sources = ["source.docker.big"]
  provisioner "file" {
    source      = "big.bin"
    destination = "/tmp/big.bin"
  }
  provisioner "file" {
    direction   = "download"
    source      = "/tmp/big.bin"
    destination = "back.bin"
  }
}
''', image=busybox_image)
    # A normal run starts no process for plugin discovery: fill the describe
    # cache first, as any earlier command would have.
    warm = bakehouse("validate", "t.pkr.hcl", env={**cli_env, "BAKEHOUSE_RUN_ID": run_id + "-warm"})
    assert warm.returncode == 0, show(warm)

    build = RunningBuild(["build", "t.pkr.hcl"], tmp_path, cli_env)
    peaks: dict[int, int] = {}
    commands: dict[int, str] = {}
    while build.process.poll() is None:
        for pid in run_processes(run_id) + [build.process.pid]:
            try:
                peaks[pid] = max(peaks.get(pid, 0), peak_rss_kib(pid))
                commands.setdefault(pid, Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:400])
            except (OSError, ValueError):
                pass
        time.sleep(0.1)
    code = build.finish()
    assert code == 0, build.output
    back = tmp_path / "back.bin"
    assert back.stat().st_size == 1024 * 1024 * 1024
    with open(back, "rb") as downloaded:
        check = hashlib.sha256()
        for chunk in iter(lambda: downloaded.read(1024 * 1024), b""):
            check.update(chunk)
    assert check.hexdigest() == digest.hexdigest()
    total_mb = sum(peaks.values()) / 1024
    report = {pid: (kib // 1024, commands.get(pid, "?")) for pid, kib in peaks.items()}
    assert any("bakehouse-plugin-docker serve" in command for command in commands.values()), report
    assert total_mb < 150, f"summed peak RSS {total_mb:.0f} MB: {report}"
    assert not any(pid_alive(pid) for pid in peaks)


def test_bakehouse_cleanup_removes_what_a_kill_9_of_everything_left(
    bakehouse, tmp_path: Path, busybox_image: str, docker_resources, run_id: str,
    cli_env: dict[str, str], docker_tmpdir: Path,
) -> None:
    """kill -9 of the core *and* the plugins: nothing can clean up at once, but
    the journal knows the container and the temporary directory, and
    `bakehouse cleanup` removes them through the docker plugin."""
    write_template(tmp_path, SLEEPING_TEMPLATE, image=busybox_image)
    build = RunningBuild(["build", "t.pkr.hcl"], tmp_path, cli_env)
    build.wait_for("provisioning-started")
    kill_9_everything(build, run_id)
    left = docker_resources.build_containers(run_id)
    assert len(left) == 1, "the build container should survive a kill -9 of everything"
    docker_resources.container(left[0].id)
    assert len(leftover_temp_dirs(docker_tmpdir)) == 1

    # A run id of its own: the cleanup command must not look like a process of the dead run.
    result = bakehouse("cleanup", run_id, env={"TMPDIR": str(docker_tmpdir), "BAKEHOUSE_RUN_ID": run_id + "-cleanup"})
    assert result.returncode == 0, show(result)
    assert left[0].name in result.stdout + result.stderr, show(result)
    assert docker_resources.build_containers(run_id) == []
    assert leftover_temp_dirs(docker_tmpdir) == []
    assert run_processes(run_id) == []


def test_provisioner_timeout_kills_the_command_inside_the_container(
    bakehouse, tmp_path: Path, busybox_image: str, docker_resources, run_id: str,
    cli_env: dict[str, str], docker_tmpdir: Path,
) -> None:
    """Packer leaves a timed-out command running in the machine; Bakehouse stops it."""
    write_template(tmp_path, '''
source "docker" "timeout" {
  image   = "@IMAGE@"
  pull    = false
  discard = true
}
build {
  sources = ["source.docker.timeout"]
  provisioner "shell" {
    timeout           = "3s"
    continue_on_error = true
    inline            = ["echo started", "sleep 40", "touch /should-not-exist"]
  }
  provisioner "shell" {
    inline = ["echo sleeping=$(ps -o args | grep -c '[s]leep 40')", "test -e /should-not-exist || echo marker-absent"]
  }
}
''', image=busybox_image)
    result = bakehouse("build", "t.pkr.hcl", env=cli_env)
    assert result.returncode == 0, show(result)
    assert "Cancelling provisioner after a timeout" in result.stdout, show(result)
    assert "sleeping=0" in result.stdout, show(result)
    assert "marker-absent" in result.stdout, show(result)
    assert docker_resources.build_containers(run_id) == []
    assert leftover_temp_dirs(docker_tmpdir) == []
    assert run_processes(run_id) == []


def images_committed_by_run(docker_client, run_id: str) -> list[str]:
    """Images committed from a build container of ``run_id`` (the engine keeps the
    container's labels in the image's ContainerConfig)."""
    import docker.errors

    found = []
    for image in docker_client.api.images(all=True):
        try:
            attrs = docker_client.api.inspect_image(image["Id"])
        except docker.errors.ImageNotFound:
            continue  # removed meanwhile (tests run side by side on one engine)
        labels = (attrs.get("ContainerConfig") or {}).get("Labels") or {}
        if labels.get("io.bakehouse.run-id") == run_id:
            found.append(attrs["Id"])
    return found


def test_ctrl_c_during_commit_leaves_no_image(
    tmp_path: Path, busybox_image: str, docker_client, docker_resources, run_id: str,
    cli_env: dict[str, str], docker_tmpdir: Path,
) -> None:
    # 200 MB written by the provisioner make the commit last seconds; Ctrl-C is sent
    # as soon as the builder says it is committing, so it lands while the engine commits.
    write_template(tmp_path, '''
source "docker" "big" {
  image  = "@IMAGE@"
  pull   = false
  commit = true
}
build {
  sources = ["source.docker.big"]
  provisioner "shell" {
    inline = ["dd if=/dev/zero of=/big bs=1048576 count=200 2>/dev/null", "echo written"]
  }
}
''', image=busybox_image)
    build = RunningBuild(["build", "t.pkr.hcl"], tmp_path, cli_env)
    try:
        build.wait_for("Committing the container")
        os.killpg(build.process.pid, signal.SIGINT)
        code = build.finish(timeout=120)
    finally:
        for image_id in images_committed_by_run(docker_client, run_id):
            docker_resources.image(image_id)
    assert code != 0, build.output
    assert "Imported Docker image" not in build.output, build.output
    assert images_committed_by_run(docker_client, run_id) == [], build.output
    wait_for_nothing_left(docker_resources, run_id, docker_tmpdir, timeout=10)


def test_bakehouse_cleanup_removes_an_image_a_kill_9_during_commit_left(
    bakehouse, tmp_path: Path, busybox_image: str, docker_client, docker_resources, run_id: str,
    cli_env: dict[str, str], docker_tmpdir: Path,
) -> None:
    write_template(tmp_path, '''
source "docker" "big" {
  image  = "@IMAGE@"
  pull   = false
  commit = true
}
build {
  sources = ["source.docker.big"]
  provisioner "shell" {
    inline = ["dd if=/dev/zero of=/big bs=1048576 count=200 2>/dev/null"]
  }
}
''', image=busybox_image)
    build = RunningBuild(["build", "t.pkr.hcl"], tmp_path, cli_env)
    try:
        build.wait_for("Committing the container")
        # The line comes just before the commit request: kill once the engine has
        # it (it pauses the container while committing), not before it was sent.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(
            c.status == "paused" for c in docker_resources.build_containers(run_id)
        ) and not images_committed_by_run(docker_client, run_id):
            time.sleep(0.01)
        everything = set(run_processes(run_id)) | set(core_pids(build))
        kill_9_at_once(everything)
        build.finish(timeout=30)
        assert wait_until_gone(everything, 10) == []
        # The engine finishes the commit on its own; nobody is left to remove the image.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not images_committed_by_run(docker_client, run_id):
            time.sleep(0.5)
        left = images_committed_by_run(docker_client, run_id)
        assert len(left) == 1, build.output
        for container in docker_resources.build_containers(run_id):
            docker_resources.container(container.id)
    finally:
        for image_id in images_committed_by_run(docker_client, run_id):
            docker_resources.image(image_id)

    result = bakehouse("cleanup", run_id, env={"TMPDIR": str(docker_tmpdir), "BAKEHOUSE_RUN_ID": run_id + "-cleanup"})
    assert result.returncode == 0, show(result)
    assert images_committed_by_run(docker_client, run_id) == [], show(result)
    assert docker_resources.build_containers(run_id) == []
    assert leftover_temp_dirs(docker_tmpdir) == []
