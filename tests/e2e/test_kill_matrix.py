"""Kill matrix: signals x moments x builders, through the real CLI.

Each case starts ``bakehouse build`` in a session of its own (so a signal can
go to the whole group, as a terminal's Ctrl-C does), waits for a moment of the
build, delivers a signal, and then asserts that nothing of the run is left:
no process carrying the run's ``BAKEHOUSE_RUN_ID``, no ``bakehouse-*`` entry in
the run's own ``TMPDIR`` (supervisor, docker and key directories), and for
docker no build container and no image committed by the run (labelled with
the run id through ``changes``), for amazon-ebs (the local EC2: moto over HTTP,
each instance a container) no instance that is not terminated and no instance
container, no key pair, security group, volume or AMI of the run. For the SIGKILL cases the
check runs after ``bakehouse cleanup``, which is what a user does after a
``kill -9``; what was left before that command is recorded too.

Signals: ``int-group`` (SIGINT to the process group), ``term`` (SIGTERM to the
``bakehouse`` pid), ``kill-supervisor`` / ``kill-worker`` / ``kill-plugin`` (the
builder's plugin) / ``kill-group`` / ``kill-all`` (SIGKILL; the group is the
CLI's, the plugins run in process groups of their own, so ``kill-all`` is the one
where every process of the run dies at once and only ``bakehouse cleanup`` can
remove the container or instance). Moments: ``prepare`` (a
provisioner plugin that never answers ``create`` holds the run in prepare),
``provision`` (a shell provisioner sleeping), ``commit`` (the docker commit or
the AMI creation is under way; the signal is sent when the build says so, so
it can land just after the step: either way nothing may be left).

Not the full cross product (7 x 3 x 2 = 42 cases, several minutes): at
``provision`` (where temporary resources exist and a process is working) every
signal for docker and all but ``term``, ``kill-group`` and ``kill-worker`` for
amazon-ebs (an amazon-ebs case costs 6-10 s, and those act on the core exactly
as for docker; the worker's SIGKILL is taken at AMI creation instead); at
``prepare`` the Ctrl-C and the SIGKILL of the supervisor for docker and SIGTERM
for amazon-ebs; at ``commit`` Ctrl-C and a SIGKILL of the worker for both.
18 cases: about two minutes at load 5, four at load 10 on 2 cores.

Set ``BAKEHOUSE_KILL_MATRIX_LOG`` to a file to collect each case's figures (one
JSON object a line: time from the signal to the exit, and to nothing left;
what was left before ``bakehouse cleanup``), as recorded in bench/RESULTS.md.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_aws_build import hcl, register_ami, remote_sleeps, shell
from tests.e2e.test_aws_build import template as aws_template
from tests.e2e.test_docker_lifecycle import RunningBuild, core_pids
from tests.fixtures.docker import write_template
from tests.fixtures.processes import (
    PluginDir,
    kill_9_at_once,
    pid_alive,
    run_processes,
    wait_until_gone,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

SIGNALS = ("int-group", "term", "kill-supervisor", "kill-worker", "kill-plugin", "kill-group",
           "kill-all")

CASES = (
    [("docker", s, "provision") for s in SIGNALS]
    + [("amazon-ebs", s, "provision") for s in SIGNALS
       if s not in ("term", "kill-group", "kill-worker")]
    + [("docker", "int-group", "prepare"), ("docker", "kill-supervisor", "prepare"),
       ("amazon-ebs", "term", "prepare")]
    + [("docker", "int-group", "commit"), ("docker", "kill-worker", "commit"),
       ("amazon-ebs", "int-group", "commit"), ("amazon-ebs", "kill-worker", "commit")]
)

DOCKER_TEMPLATE = '''
source "docker" "k" {
  image   = "@IMAGE@"
  pull    = false
  commit  = true
  changes = ["LABEL io.bakehouse.test-kill-matrix=@RUN_ID@"]
}
build {
  sources = ["source.docker.k"]
  @PROVISIONERS@
}
'''

MUTE = 'provisioner "mute" {}'
#: Set on the image a docker case commits, so the test finds the run's images.
MATRIX_LABEL = "io.bakehouse.test-kill-matrix"


@dataclass
class Case:
    builder: str
    signal: str
    moment: str
    run_id: str
    tmpdir: Path
    leftovers: Callable[[], dict[str, list[str]]]
    plugin_name: str


def temp_entries(tmpdir: Path) -> list[str]:
    return sorted(p.name for p in tmpdir.iterdir() if p.name.startswith("bakehouse-"))


def worker_pid(build: RunningBuild) -> int:
    workers = [pid for pid in core_pids(build) if pid != build.process.pid]
    assert len(workers) == 1, workers
    return workers[0]


def plugin_pid(run_id: str, name: str) -> int:
    found = []
    for pid in run_processes(run_id):
        try:
            if name.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:
            continue
    assert len(found) == 1, found
    return found[0]


def deliver(build: RunningBuild, case: Case) -> None:
    pid = build.process.pid
    if case.signal == "int-group":
        os.killpg(pid, signal.SIGINT)
    elif case.signal == "term":
        os.kill(pid, signal.SIGTERM)
    elif case.signal == "kill-supervisor":
        os.kill(pid, signal.SIGKILL)
    elif case.signal == "kill-worker":
        os.kill(worker_pid(build), signal.SIGKILL)
    elif case.signal == "kill-plugin":
        os.kill(plugin_pid(case.run_id, case.plugin_name), signal.SIGKILL)
    elif case.signal == "kill-group":
        os.killpg(pid, signal.SIGKILL)
    elif case.signal == "kill-all":  # nobody is left to clean up: `bakehouse cleanup` must
        kill_9_at_once(set(run_processes(case.run_id)) | set(core_pids(build)))
    else:  # pragma: no cover - a typo in CASES
        raise AssertionError(case.signal)


def wait_for_moment(build: RunningBuild, case: Case, plugin_dir: PluginDir | None) -> None:
    if case.moment == "provision":
        build.wait_for("provisioning-started")
    elif case.moment == "commit":
        build.wait_for("Committing the container" if case.builder == "docker" else "Creating AMI")
    else:
        assert plugin_dir is not None
        deadline = time.monotonic() + 120
        while "bakehouse-plugin-muteprov" not in plugin_dir.served():
            assert build.process.poll() is None and time.monotonic() < deadline, build.output
            time.sleep(0.05)
        time.sleep(1.0)  # the core now waits for the plugin's answer to `create`


def run_case(case: Case, bakehouse: Any, cwd: Path, plugin_dir: PluginDir | None) -> dict[str, Any]:
    env = {"BAKEHOUSE_RUN_ID": case.run_id, "TMPDIR": str(case.tmpdir)}
    build = RunningBuild(["build", "t.pkr.hcl"], cwd, env)
    try:
        wait_for_moment(build, case, plugin_dir)
        signalled = time.monotonic()
        deliver(build, case)
        code = build.finish(timeout=90)
        exited = time.monotonic() - signalled
    finally:
        if build.process.poll() is None:
            os.killpg(build.process.pid, signal.SIGKILL)
            build.finish(timeout=10)
    output = build.output
    assert "Traceback" not in output, output
    if case.signal == "kill-supervisor":
        assert code == -signal.SIGKILL
    elif case.signal in ("kill-group", "kill-all"):
        assert code == -signal.SIGKILL
    elif case.moment != "commit":  # at commit the signal may come after the last step
        assert code == 1, output
    if case.signal == "kill-worker":
        assert "killed by signal SIGKILL" in output and "always a bug" not in output, output
    if case.signal in ("int-group", "term") and code == 1:
        word = "interrupt" if case.signal == "int-group" else "terminated"
        assert f"Cancelling build after receiving {word}" in output, output
    if case.moment == "prepare" and case.signal in ("int-group", "term"):
        assert "bakehouse-plugin-muteprov" in output and "has not answered create" in output, output

    # Processes first: after SIGKILL of the core, plugins clean up on their own (EOF).
    stray = wait_until_gone(run_processes(case.run_id), timeout=60)
    assert stray == [], [Path(f"/proc/{p}/cmdline").read_bytes() for p in stray if pid_alive(p)]
    left_before = {kind: names for kind, names in case.leftovers().items() if names}
    if case.signal.startswith("kill-"):
        cleanup = bakehouse("cleanup", cwd=cwd, timeout=120,
                            env={"TMPDIR": str(case.tmpdir), "BAKEHOUSE_RUN_ID": case.run_id + "-cleanup"})
        assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr
    left_after = {kind: names for kind, names in case.leftovers().items() if names}
    clean = time.monotonic() - signalled
    figures = {"builder": case.builder, "signal": case.signal, "moment": case.moment,
               "exit": code, "exit_s": round(exited, 2), "clean_s": round(clean, 2),
               "left_before_cleanup": left_before, "left_after": left_after,
               "cancelled": code != 0}
    report = os.environ.get("BAKEHOUSE_KILL_MATRIX_LOG")
    if report:
        with open(report, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(figures) + "\n")
    if code == 0:
        # The signal came after the last step: the image is the build's artifact.
        assert case.moment == "commit", output
        left_after.pop("images", None)
    assert left_after == {}, (left_after, output)
    return figures


# -- docker ------------------------------------------------------------------------------

def docker_leftovers(client: Any, run_id: str, tmpdir: Path) -> Callable[[], dict[str, list[str]]]:
    from tests.fixtures.docker import LABEL_RUN_ID

    def find() -> dict[str, list[str]]:
        containers = client.containers.list(all=True, filters={"label": f"{LABEL_RUN_ID}={run_id}"})
        # The low-level list: the high-level one inspects every image of the
        # engine, and other tests remove theirs meanwhile.
        images = [image["Id"] for image in client.api.images(
            all=True, filters={"label": f"{MATRIX_LABEL}={run_id}"})]
        return {"containers": [c.name for c in containers], "images": images,
                "temp": temp_entries(tmpdir)}

    return find


@pytest.fixture
def run_tmpdir(tmp_path: Path) -> Path:
    path = tmp_path / "tmp"
    path.mkdir()
    return path


def docker_provisioners(moment: str) -> str:
    if moment == "prepare":
        return MUTE
    if moment == "commit":
        # Enough written for the commit to take a moment.
        return shell("dd if=/dev/urandom of=/filler bs=1M count=48 2>/dev/null", "echo provisioned")
    return shell("echo provisioning-started", f"sleep {random.randint(700, 799)}")


@pytest.mark.docker
@pytest.mark.parametrize(("signal_name", "moment"),
                         [(s, m) for b, s, m in CASES if b == "docker"],
                         ids=[f"{s}@{m}" for b, s, m in CASES if b == "docker"])
def test_docker(signal_name: str, moment: str, bakehouse: Any, tmp_path: Path, run_tmpdir: Path,
                busybox_image: str, docker_client: Any, request: pytest.FixtureRequest) -> None:
    run_id = "km-" + uuid.uuid4().hex[:12]
    plugin_dir = None
    if moment == "prepare":
        plugin_dir = request.getfixturevalue("plugin_dir")
        plugin_dir.add("bakehouse-plugin-muteprov")
    write_template(tmp_path, DOCKER_TEMPLATE, image=busybox_image, run_id=run_id,
                   provisioners=docker_provisioners(moment))
    case = Case("docker", signal_name, moment, run_id, run_tmpdir,
                docker_leftovers(docker_client, run_id, run_tmpdir), "bakehouse-plugin-docker")
    try:
        run_case(case, bakehouse, tmp_path, plugin_dir)
    finally:
        for image_id in docker_leftovers(docker_client, run_id, run_tmpdir)()["images"]:
            try:  # a build that finished before the signal made a real artifact
                docker_client.images.remove(image_id, force=True)
            except Exception:
                pass


# -- amazon-ebs ----------------------------------------------------------------------------

def aws_leftovers(local: Any, ami_name: str, tmpdir: Path, base_ami: str) -> Callable[[], dict[str, list[str]]]:
    # The local EC2's own base AMIs are there before the run.
    before = {i["ImageId"] for i in local.client().describe_images(Owners=["self"])["Images"]}

    def find() -> dict[str, list[str]]:
        ec2 = local.client()
        instances = [i["InstanceId"] for r in ec2.describe_instances()["Reservations"]
                     for i in r["Instances"] if i["State"]["Name"] != "terminated"]
        volumes = [v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]]
        images = [i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]
                  if i["ImageId"] != base_ami and i["ImageId"] not in before]
        return {"instances": instances, "volumes": volumes, "images": images,
                "containers": [c.name for c in local.instances.containers()],
                "key_pairs": [k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]],
                "security_groups": [g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]
                                    if g["GroupName"] != "default"],
                "temp": temp_entries(tmpdir)}

    return find


@pytest.mark.moto
@pytest.mark.ssh
@pytest.mark.parametrize(("signal_name", "moment"),
                         [(s, m) for b, s, m in CASES if b == "amazon-ebs"],
                         ids=[f"{s}@{m}" for b, s, m in CASES if b == "amazon-ebs"])
def test_amazon_ebs(signal_name: str, moment: str, bakehouse: Any, tmp_path: Path, run_tmpdir: Path,
                    local_ec2_env: Any, request: pytest.FixtureRequest) -> None:
    run_id = "km-" + uuid.uuid4().hex[:12]
    base_ami = register_ami(local_ec2_env, "base-image")
    ami_name = f"km-{uuid.uuid4().hex[:8]}"
    plugin_dir = None
    seconds = random.randint(800, 899)
    if moment == "prepare":
        plugin_dir = request.getfixturevalue("plugin_dir")
        plugin_dir.add("bakehouse-plugin-muteprov")
        provisioner = MUTE
    elif moment == "commit":
        provisioner = shell("echo provisioned")
    else:
        provisioner = shell("echo provisioning-started", f"sleep {seconds}")
    (tmp_path / "t.pkr.hcl").write_text(aws_template(
        source=f"source_ami = {hcl(base_ami)}", options={"ami_name": ami_name},
        provisioner=provisioner))
    case = Case("amazon-ebs", signal_name, moment, run_id, run_tmpdir,
                aws_leftovers(local_ec2_env, ami_name, run_tmpdir, base_ami), "bakehouse-plugin-aws")
    try:
        run_case(case, bakehouse, tmp_path, plugin_dir)
    finally:
        for pid in remote_sleeps(seconds):  # a sleep in an instance container outliving a failure
            os.kill(pid, signal.SIGKILL)
