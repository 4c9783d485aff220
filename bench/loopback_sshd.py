"""A moto-server-plus-loopback-sshd set-up for benchmarks: the way
``amazon-ebs`` was exercised before the local EC2 (the "instance" is an
OpenSSH server on this machine, reached through ``ssh_host``/``ssh_port``).
Kept as the baseline ``bench_aws.py`` and ``bench_local_ec2.py`` compare against."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path


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


