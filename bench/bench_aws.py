"""Benchmark: amazon-ebs builds against a moto server with SSH provisioning.

Measures
1. the wall time of each step of one build (in-process builder, steps timed,
   a provision hook that runs one command over SSH), and
2. the wall time of full ``bakehouse build`` runs (CLI, plugin processes, a
   ``shell`` provisioner over SSH) with 1, 3 and 6 regions in ``ami_regions``.

EC2 is a moto server on loopback; the "instance" is a loopback sshd, reached
through ``ssh_host``/``ssh_port`` with a key pair imported into moto (the
same set-up as ``bench/loopback_sshd.py``, whose helpers it uses).
Every moto region is touched once before timing, because moto loads its
default AMI catalogue lazily per region (about a second each), which is
moto's cost, not the builder's.

    .venv/bin/python bench/bench_aws.py [--runs 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
EXTRA_REGIONS = ["us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2", "ap-northeast-1",
                 "sa-east-1"]


def load_example_helpers() -> Any:
    spec = importlib.util.spec_from_file_location("loopback_sshd", REPO / "bench" / "loopback_sshd.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TEMPLATE = """
source "amazon-ebs" "bench" {{
  region               = "us-east-1"
  instance_type        = "t3.micro"
  source_ami           = "{source}"
  ami_name             = "bench-{name}"
  ami_regions          = {regions}
  tags                 = {{ Bench = "yes" }}
  snapshot_tags        = {{ Bench = "yes" }}
  ssh_username         = "{user}"
  ssh_host             = "127.0.0.1"
  ssh_port             = {port}
  ssh_keypair_name     = "bench"
  ssh_private_key_file = "{key}"
  aws_polling {{
    delay_seconds = 0.2
    max_attempts  = 600
  }}
}}

build {{
  sources = ["source.amazon-ebs.bench"]
  provisioner "shell" {{
    inline = ["echo provisioning", "uname -sr"]
  }}
}}
"""


def step_breakdown(env: dict[str, str], source: str, user: str, port: int, key: Path,
                   regions: list[str]) -> list[tuple[str, float]]:
    """One in-process build with every step's run and cleanup timed."""
    os.environ.update(env)
    from bakehouse.sdk import HOOK_PROVISION, BuildInfo, Context, Hook, NullUi, StateBag, Step
    from bakehouse_plugin_aws.builder import AmazonEBSBuilder

    timings: list[tuple[str, float]] = []

    class Timed(Step):
        def __init__(self, inner: Step) -> None:
            self.inner = inner
            self.name = inner.display_name()

        def run(self, state: StateBag) -> Any:
            started = time.perf_counter()
            try:
                return self.inner.run(state)
            finally:
                timings.append((self.name, time.perf_counter() - started))

        def cleanup(self, state: StateBag) -> None:
            started = time.perf_counter()
            try:
                self.inner.cleanup(state)
            finally:
                timings.append((f"cleanup: {self.name}", time.perf_counter() - started))

    class TimedBuilder(AmazonEBSBuilder):
        def steps(self) -> list[Step]:
            return [Timed(step) for step in super().steps()]

    class OneCommandHook(Hook):
        def run(self, name: str, ui: Any, communicator: Any, data: dict[str, Any], ctx: Any) -> None:
            if name == HOOK_PROVISION and communicator is not None:
                status = communicator.execute("echo provisioning; uname -sr", on_stdout=lambda b: None,
                                              on_stderr=lambda b: None, ctx=ctx)
                assert status == 0

    builder = TimedBuilder()
    builder.prepare({
        "region": "us-east-1", "instance_type": "t3.micro", "source_ami": source,
        "ami_name": f"bench-steps-{uuid.uuid4().hex[:8]}", "ami_regions": regions,
        "tags": {"Bench": "yes"}, "snapshot_tags": {"Bench": "yes"},
        "ssh_username": user, "ssh_host": "127.0.0.1", "ssh_port": port,
        "ssh_keypair_name": "bench", "ssh_private_key_file": str(key),
        "aws_polling": [{"delay_seconds": 0.2, "max_attempts": 600}],
    }, BuildInfo(name="bench", builder_type="amazon-ebs", run_id="bench-" + uuid.uuid4().hex[:8]))
    started = time.perf_counter()
    builder.run(NullUi(), OneCommandHook(), Context())
    timings.append(("total (in-process)", time.perf_counter() - started))
    return timings


def cli_build(workdir: Path, env: dict[str, str], source: str, user: str, port: int, key: Path,
              regions: list[str]) -> tuple[float, float]:
    """Wall time of one ``bakehouse build`` and the build time the core reports
    ("finished after ..."): the difference is process start-up and teardown."""
    name = uuid.uuid4().hex[:10]
    template = workdir / f"{name}.pkr.hcl"
    region_list = "[" + ", ".join(f'"{r}"' for r in regions) + "]"
    template.write_text(TEMPLATE.format(source=source, name=name, regions=region_list, user=user,
                                        port=port, key=key))
    started = time.perf_counter()
    result = subprocess.run([str(BIN / "bakehouse"), "build", str(template)], cwd=workdir, env=env,
                            capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0 or result.stdout.count("ami-") < len(regions) + 1:
        raise SystemExit("build failed:\n" + result.stdout + result.stderr)
    match = re.search(r"finished after (?:(\d+) minutes? )?(?:(\d+) seconds? )?(\d+) milliseconds?",
                      result.stdout)
    reported = 0.0
    if match:
        minutes, seconds, millis = (int(g) if g else 0 for g in match.groups())
        reported = minutes * 60 + seconds + millis / 1000
    return elapsed, reported


def packer_status() -> str:
    packer = shutil.which("packer")
    if not packer:
        policy = subprocess.run(["apt-cache", "policy", "packer"], capture_output=True, text=True).stdout
        candidate = next((line.split(":", 1)[1].strip() for line in policy.splitlines()
                          if "Candidate" in line), "unknown")
        return (f"not compared: Debian's `packer` is not installed on this machine (apt candidate "
                f"{candidate}); nothing to run side by side")
    version = subprocess.run([packer, "version"], capture_output=True, text=True).stdout.strip()
    return f"`{packer}` ({version}) is installed but not wired into this benchmark"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="CLI builds per region count")
    args = parser.parse_args()
    helpers = load_example_helpers()
    import boto3

    user = os.environ.get("USER") or __import__("pwd").getpwuid(os.getuid()).pw_name
    workdir = Path(tempfile.mkdtemp(prefix="bench-aws-"))
    home = workdir / "home"
    moto_port = helpers.free_port()
    moto = subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sshd = None
    try:
        helpers.wait_port(moto_port, moto, "moto_server")
        sshd, ssh_port, key = helpers.start_sshd(workdir, user)
        endpoint = f"http://127.0.0.1:{moto_port}"
        env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing",
                   AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
                   BAKEHOUSE_HOME=str(home))

        def client(region: str) -> Any:
            return boto3.client("ec2", region_name=region, endpoint_url=endpoint,
                                aws_access_key_id="testing", aws_secret_access_key="testing")

        ec2 = client("us-east-1")
        source = ec2.register_image(
            Name="bench-base", Architecture="x86_64", RootDeviceName="/dev/sda1", VirtualizationType="hvm",
            BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 8}}])["ImageId"]
        ec2.import_key_pair(KeyName="bench", PublicKeyMaterial=(workdir / "client_key.pub").read_bytes())
        for region in ["us-east-1", *EXTRA_REGIONS]:  # moto's lazy per-region start-up, untimed
            client(region).describe_images(Owners=["self"])

        print("## AWS: amazon-ebs against moto\n")
        print(f"Command: `.venv/bin/python bench/bench_aws.py --runs {args.runs}`; "
              f"{os.cpu_count()} cores, Python {platform.python_version()}, "
              f"load average {os.getloadavg()[0]:.1f} at start.\n")

        # a warm-up CLI build: the describe cache and page cache, untimed
        cli_build(workdir, env, source, user, ssh_port, key, [])

        print("### One build, by step (in-process builder, 2 extra regions, 1 SSH command)\n")
        print("| step | seconds |\n|---|---|")
        for name, seconds in step_breakdown(env, source, user, ssh_port, key, EXTRA_REGIONS[:2]):
            print(f"| {name} | {seconds:.3f} |")

        print("\n### Full `bakehouse build` (shell provisioner over SSH) by number of `ami_regions`\n")
        print("| ami_regions | AMIs | wall median s | min s | max s | build (core-reported) median s | runs |")
        print("|---|---|---|---|---|---|---|")
        for count in (1, 3, 6):
            runs = [cli_build(workdir, env, source, user, ssh_port, key, EXTRA_REGIONS[:count])
                    for _ in range(args.runs)]
            times = [wall for wall, _ in runs]
            reported = statistics.median(build for _, build in runs)
            print(f"| {count} | {count + 1} | {statistics.median(times):.2f} | {min(times):.2f} | "
                  f"{max(times):.2f} | {reported:.2f} | {args.runs} |")
        print(f"\nPacker: {packer_status()}.")
        return 0
    finally:
        for proc in (sshd, moto):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
