"""The aws-ebs example runs as its README says: moto + loopback sshd + bakehouse build."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.aws import MOTO_SERVER, SSHD
from tests.support import REPO, require

pytestmark = [pytest.mark.moto, pytest.mark.ssh, pytest.mark.slow]


def test_aws_ebs_example_runs_against_moto_and_loopback_sshd(tmp_path: Path) -> None:
    require(MOTO_SERVER.exists(), "moto_server (pip install 'moto[server]')")
    require(os.path.exists(SSHD), "OpenSSH server (/usr/sbin/sshd)")
    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / "aws-ebs" / "run_with_moto.py")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "AMIs were created:" in output
    held = [line for line in output.splitlines() if line.startswith("moto now holds")]
    assert [line.split()[3] for line in held] == ["us-east-1:", "us-west-2:"], output
    for line in held:  # the artifact printed by bakehouse is what moto holds
        region, ami = line.split()[3], line.split()[4]
        assert f"{region} {ami}" in output
    assert "provisioning i-" in output
