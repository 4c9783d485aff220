"""Log in to a local EC2 instance: what tests, the example and the benchmark
use to look inside an AMI they launched."""

from __future__ import annotations

import io
import socket
import time
from typing import Any


def _private_key(text: str) -> Any:
    import paramiko

    for kind in (paramiko.RSAKey, paramiko.Ed25519Key, paramiko.ECDSAKey):
        try:
            return kind.from_private_key(io.StringIO(text))
        except Exception:
            continue
    raise ValueError("not a private key paramiko can read (RSA, Ed25519 or ECDSA)")


def public_key_of(private_key: str) -> str:
    """The OpenSSH public key line of a PEM/OpenSSH private key ("" if unreadable)."""
    try:
        key = _private_key(private_key)
    except ValueError:
        return ""
    return f"{key.get_name()} {key.get_base64()}"


def _banner(address: str) -> bool:
    try:
        with socket.create_connection((address, 22), timeout=2) as probe:
            probe.settimeout(2)
            return probe.recv(4) == b"SSH-"
    except OSError:
        return False


def login(address: str, user: str, private_key: str, *, timeout: float = 60) -> Any:
    """A connected ``paramiko.SSHClient``, retrying until the instance's sshd
    accepts the key or ``timeout`` seconds have passed."""
    import paramiko

    key = _private_key(private_key)
    deadline = time.monotonic() + timeout
    while True:
        # Docker's proxy accepts connections before sshd runs; wait for the
        # banner rather than let paramiko fail (and log) on each early try.
        if not _banner(address) and time.monotonic() < deadline:
            time.sleep(0.05)
            continue
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # a fresh instance: new host key
        try:
            client.connect(address, port=22, username=user, pkey=key, timeout=5, banner_timeout=5,
                           auth_timeout=5, allow_agent=False, look_for_keys=False)
            return client
        except (OSError, paramiko.SSHException):
            client.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def run_over_ssh(address: str, user: str, private_key: str, command: str, *, timeout: float = 60) -> tuple[int, str]:
    """Run ``command`` on the instance at ``address``: (exit status, stdout + stderr)."""
    client = login(address, user, private_key, timeout=timeout)
    try:
        _, stdout, stderr = client.exec_command(command, timeout=timeout)
        output = stdout.read().decode(errors="replace") + stderr.read().decode(errors="replace")
        return stdout.channel.recv_exit_status(), output
    finally:
        client.close()
