#!/usr/bin/env python3
"""Run examples/aws-ebs/build.pkr.hcl on a local EC2, without an AWS account.

Starts a local EC2 (a moto server whose instances are Docker containers and
whose AMIs are Docker images; builds its Debian base image first if this
machine has none), runs ``bakehouse build`` against it, launches the AMI the
build made, logs in over SSH and shows what the provisioner left there, then
stops everything it started.

    python examples/aws-ebs/run_on_local_ec2.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bakehouse_plugin_aws.localec2 import LocalEC2, build_debian_image, run_over_ssh

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


def main() -> int:
    build_debian_image(log=print)  # cached after the first time
    with LocalEC2() as local:
        print(f"local EC2 on {local.endpoint}; base AMI {local.base_ami()}", flush=True)
        env = dict(os.environ, **local.env, AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
        build = subprocess.run([str(BIN / "bakehouse"), "build", str(HERE / "build.pkr.hcl")], env=env)
        if build.returncode != 0:
            return build.returncode
        for region in ("us-east-1", "us-west-2"):
            for image in local.client(region).describe_images(Owners=["self"])["Images"]:
                if image["Name"].startswith("bakehouse-example-"):
                    print(f"the local EC2 now holds {region}: {image['ImageId']} {image['Name']}")

        # Launch what was baked and look inside.
        ec2 = local.client()
        [ami] = [i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]
                 if i["Name"].startswith("bakehouse-example-")]
        key = ec2.create_key_pair(KeyName="example-check")["KeyMaterial"]
        [instance] = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, KeyName="example-check",
                                       InstanceType="t3.micro")["Instances"]
        address = instance["PublicIpAddress"]
        print(f"launched {instance['InstanceId']} from {ami} at {address}", flush=True)
        status, output = run_over_ssh(address, "admin", key, "cat /etc/bakehouse-release; id app")
        print(f"on {instance['InstanceId']}: /etc/bakehouse-release and user app:\n{output}", end="")
        ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])
        return status


if __name__ == "__main__":
    sys.exit(main())
