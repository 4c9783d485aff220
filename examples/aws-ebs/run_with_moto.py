#!/usr/bin/env python3
"""Run examples/aws-ebs/build.pkr.hcl without an AWS account.

Starts a moto server (``pip install 'moto[server]'``) and an OpenSSH server
(/usr/sbin/sshd) on free loopback ports, registers a base AMI and imports a
key pair into moto, runs ``bakehouse build`` against them, prints the AMIs
moto now holds, and stops everything it started.

    python examples/aws-ebs/run_with_moto.py
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{what} exited with status {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"{what} did not start listening on port {port}")


def start_sshd(workdir: Path, user: str) -> tuple[subprocess.Popen[bytes], int, Path]:
    """A loopback sshd accepting one generated key, standing in for the instance."""
    for name in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(workdir / name)], check=True)
    (workdir / "authorized_keys").write_text((workdir / "client_key.pub").read_text())
    port = free_port()
    config = workdir / "sshd_config"
    config.write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {workdir / 'host_key'}",
        f"PidFile {workdir / 'sshd.pid'}", f"AuthorizedKeysFile {workdir / 'authorized_keys'}",
        "PasswordAuthentication no", "UsePAM no", "StrictModes no", "PermitRootLogin yes",
        "Subsystem sftp internal-sftp", "LogLevel ERROR",
    ]) + "\n")
    if os.getuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privilege separation directory
    log = open(workdir / "sshd.log", "wb")  # connection probes would otherwise show up
    proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(config)], stderr=log)
    wait_port(port, proc, "sshd")
    return proc, port, workdir / "client_key"


def main() -> int:
    user = os.environ.get("USER") or __import__("pwd").getpwuid(os.getuid()).pw_name
    workdir = Path(tempfile.mkdtemp(prefix="bakehouse-aws-example-"))
    moto_port = free_port()
    moto = subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sshd = None
    try:
        wait_port(moto_port, moto, "moto_server")
        sshd, ssh_port, client_key = start_sshd(workdir, user)
        endpoint = f"http://127.0.0.1:{moto_port}"
        env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing",
                   AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
        ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=endpoint,
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        base = ec2.register_image(
            Name="example-base-2024", Architecture="x86_64", RootDeviceName="/dev/sda1",
            VirtualizationType="hvm",
            BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 8}}],
        )["ImageId"]
        ec2.import_key_pair(KeyName="example", PublicKeyMaterial=(workdir / "client_key.pub").read_bytes())
        print(f"moto server on {endpoint}, sshd on 127.0.0.1:{ssh_port}, base AMI {base}", flush=True)
        build = subprocess.run(
            [str(BIN / "bakehouse"), "build",
             "-var", "ssh_host=127.0.0.1", "-var", f"ssh_port={ssh_port}",
             "-var", f"ssh_username={user}", "-var", f"ssh_private_key_file={client_key}",
             "-var", "ssh_keypair_name=example", str(HERE / "build.pkr.hcl")],
            env=env,
        )
        for region in ("us-east-1", "us-west-2"):
            client = boto3.client("ec2", region_name=region, endpoint_url=endpoint,
                                  aws_access_key_id="testing", aws_secret_access_key="testing")
            for image in client.describe_images(Owners=["self"])["Images"]:
                if image["Name"].startswith("bakehouse-example-"):
                    print(f"moto now holds {region}: {image['ImageId']} {image['Name']}")
        return build.returncode
    finally:
        for proc in (sshd, moto):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
