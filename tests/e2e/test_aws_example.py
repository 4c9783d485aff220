"""The aws-ebs example runs as its README says: a local EC2, a real build in
a container, then the AMI is launched and shows what was provisioned."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from bakehouse_plugin_aws.localec2 import DEBIAN_IMAGE, LABEL_INSTANCE
from bakehouse_plugin_aws.localec2.base_image import debian_image_present

from tests.fixtures.aws import MOTO_SERVER
from tests.support import REPO, require

pytestmark = [pytest.mark.moto, pytest.mark.ssh, pytest.mark.slow]


def test_aws_ebs_example_builds_on_the_local_ec2_and_launches_the_ami(tmp_path: Path, docker_client) -> None:
    require(MOTO_SERVER.exists(), "moto_server (pip install 'moto[server]')")
    require(debian_image_present(), f"the local EC2's base image {DEBIAN_IMAGE} (bash scripts/setup builds it)")
    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / "aws-ebs" / "run_on_local_ec2.py")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "AMIs were created:" in output
    held = [line for line in output.splitlines() if line.startswith("the local EC2 now holds")]
    assert [line.split()[5] for line in held] == ["us-east-1:", "us-west-2:"], output
    for line in held:  # the artifact printed by bakehouse is what the local EC2 holds
        region, ami = line.split()[5], line.split()[6]
        assert f"{region} {ami}" in output
    build_instance = re.search(r"provisioning (i-\w+) as admin", output)
    assert build_instance, output
    launched = re.search(r"launched (i-\w+) from (ami-\w+) at 127\.0\.0\.(\d+)", output)
    assert launched and launched.group(2) == held[0].split()[6] and int(launched.group(3)) >= 2, output
    # what the provisioner wrote on the build instance, read on the launched one
    assert f"baked by bakehouse on {build_instance.group(1)}\nuid=" in output
    assert re.search(r"uid=\d+\(app\)", output)
    # everything it started is gone (other local EC2s may run on this engine: look for its own)
    for instance in (build_instance.group(1), launched.group(1)):
        assert docker_client.containers.list(all=True, filters={"label": f"{LABEL_INSTANCE}={instance}"}) == []
    for line in held:
        assert docker_client.images.list(name=f"bakehouse-ami/{line.split()[6]}") == []
