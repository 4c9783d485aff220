"""Benchmark: the local EC2 (instances are containers, AMIs are images).

Measures
1. the aws-ebs example's ``bakehouse build`` on the local EC2 (a Debian
   instance container, temporary key pair, SSH provisioning, CreateImage as a
   ``docker commit``, a copy to us-west-2) against the same shape of build on
   a plain moto server with a loopback sshd standing in for the instance
   (the set-up the example used before; ``bench_aws.py``'s template with one
   extra region), and
2. the time from ``RunInstances`` to a successful SSH login on the new
   instance (Debian base AMI, key pair made by ``CreateKeyPair``).

    .venv/bin/python bench/bench_local_ec2.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bakehouse_plugin_aws.localec2 import LocalEC2, login

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_aws  # noqa: E402  (its CLI build with the loopback sshd is the baseline)
import loopback_sshd  # noqa: E402


def core_reported(stdout: str) -> float:
    """The build time the core prints ("finished after 2 seconds 650 milliseconds.")."""
    match = re.search(r"finished after ([^.]*)\.", stdout)
    units = {"minute": 60.0, "second": 1.0, "millisecond": 1e-3, "microsecond": 1e-6}
    return sum(int(n) * units[unit] for n, unit in
               re.findall(r"(\d+) (minute|second|millisecond|microsecond)s?", match.group(1) if match else ""))


def example_on_local_ec2(local: LocalEC2, home: Path) -> tuple[float, float]:
    env = dict(os.environ, **local.env, BAKEHOUSE_HOME=str(home), AWS_CONFIG_FILE=os.devnull,
               AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    started = time.perf_counter()
    result = subprocess.run([str(BIN / "bakehouse"), "build", str(REPO / "examples" / "aws-ebs" / "build.pkr.hcl")],
                            env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit("example build failed:\n" + result.stdout + result.stderr)
    time.sleep(1.1)  # the example's AMI name has one-second resolution
    return elapsed, core_reported(result.stdout)


def loopback_sshd_baseline(runs: int, workdir: Path) -> list[tuple[float, float]]:
    user = os.environ.get("USER") or __import__("pwd").getpwuid(os.getuid()).pw_name
    import boto3

    moto_port = loopback_sshd.free_port()
    moto = subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sshd = None
    try:
        loopback_sshd.wait_port(moto_port, moto, "moto_server")
        sshd, ssh_port, key = loopback_sshd.start_sshd(workdir, user)
        endpoint = f"http://127.0.0.1:{moto_port}"
        env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing",
                   AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
                   BAKEHOUSE_HOME=str(workdir / "home"))
        ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=endpoint,
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        source = ec2.register_image(Name="bench-base", Architecture="x86_64", RootDeviceName="/dev/sda1",
                                    VirtualizationType="hvm")["ImageId"]
        ec2.import_key_pair(KeyName="bench", PublicKeyMaterial=(workdir / "client_key.pub").read_bytes())
        bench_aws.cli_build(workdir, env, source, user, ssh_port, key, ["us-west-2"])  # warm-up
        return [bench_aws.cli_build(workdir, env, source, user, ssh_port, key, ["us-west-2"])
                for _ in range(runs)]
    finally:
        for proc in (sshd, moto):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(10)


def run_instances_to_login(local: LocalEC2, runs: int) -> list[float]:
    ec2 = local.client()
    key = ec2.create_key_pair(KeyName="bench-login")["KeyMaterial"]
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        [instance] = ec2.run_instances(ImageId=local.base_ami(), MinCount=1, MaxCount=1,
                                       KeyName="bench-login")["Instances"]
        client = login(instance["PublicIpAddress"], "admin", key)
        times.append(time.perf_counter() - started)
        client.close()
        ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])
    return times


def row(name: str, values: list[float]) -> str:
    return (f"| {name} | {statistics.median(values):.2f} | {min(values):.2f} | {max(values):.2f} | "
            f"{len(values)} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-local-ec2-"))
    try:
        print("## Local EC2\n")
        print(f"Command: `.venv/bin/python bench/bench_local_ec2.py --runs {args.runs}`; "
              f"{os.cpu_count()} cores, Python {platform.python_version()}, "
              f"load average {os.getloadavg()[0]:.1f} at start.\n")
        baseline = loopback_sshd_baseline(args.runs, workdir)
        with LocalEC2() as local:
            example_on_local_ec2(local, workdir / "home")  # warm-up
            local_runs = [example_on_local_ec2(local, workdir / "home") for _ in range(args.runs)]
            logins = run_instances_to_login(local, args.runs)
        print("| what | median s | min s | max s | runs |\n|---|---|---|---|---|")
        print(row("example build on the local EC2: `bakehouse build` wall", [w for w, _ in local_runs]))
        print(row("example build on the local EC2: build (core-reported)", [b for _, b in local_runs]))
        print(row("same build on moto + loopback sshd: `bakehouse build` wall", [w for w, _ in baseline]))
        print(row("same build on moto + loopback sshd: build (core-reported)", [b for _, b in baseline]))
        print(row("RunInstances to SSH login (Debian base AMI)", logins))
        return 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
