"""A local EC2 for ``amazon-ebs`` without an AWS account.

A moto server plays the EC2 API; a thin HTTP layer in front of it turns
instances into Docker containers reachable over SSH on their own loopback
address and AMIs into Docker images. Start it with ``bakehouse-ec2-local``
or, in Python, ``with LocalEC2() as ec2: ...``. Needs ``moto[server]`` and
the Docker SDK (``pip install 'bakehouse-plugin-aws[local-ec2]'``).
"""

from bakehouse_plugin_aws.localec2.base_image import DEBIAN_IMAGE, DEBIAN_USER, build_debian_image
from bakehouse_plugin_aws.localec2.instances import (
    AMI_REPOSITORY,
    LABEL_INSTANCE,
    LABEL_SERVER,
    InstanceError,
)
from bakehouse_plugin_aws.localec2.server import DEBIAN_AMI_NAME, FAULTS, LocalEC2, local_ec2
from bakehouse_plugin_aws.localec2.ssh import login, run_over_ssh

__all__ = [
    "AMI_REPOSITORY", "DEBIAN_AMI_NAME", "DEBIAN_IMAGE", "DEBIAN_USER", "FAULTS", "LABEL_INSTANCE",
    "LABEL_SERVER", "InstanceError", "LocalEC2", "build_debian_image", "local_ec2", "login", "run_over_ssh",
]
