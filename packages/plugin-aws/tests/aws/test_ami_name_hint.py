"""An ami_name EC2 would refuse is an error whose hint is an HCL2 expression
that, applied to the name, gives one EC2 accepts (Packer's JSON-only
clean_resource_name does not exist in HCL2 templates)."""

from __future__ import annotations

import re

import pytest
from bakehouse.hcl.evaluator import evaluate
from bakehouse.hcl.parser import parse_expression
from bakehouse.sdk import BuildInfo, ConfigError
from bakehouse_plugin_aws.builder import AmazonEBSBuilder
from bakehouse_plugin_aws.config import _AMI_NAME

BAD_NAME = "app:1.0 #nightly"


def test_bad_ami_name_hint_is_a_working_expression() -> None:
    config = {"region": "us-east-1", "instance_type": "t3.micro", "source_ami": "ami-12345678",
              "ami_name": BAD_NAME, "ssh_username": "admin"}
    with pytest.raises(ConfigError) as caught:
        AmazonEBSBuilder().prepare(config, BuildInfo(name="t", builder_type="amazon-ebs"))
    message = str(caught.value)
    assert "clean_resource_name" not in message
    hint = re.search(r"\((regex_replace\(name, .*\)) makes one\)", message)
    assert hint, message
    expression = hint.group(1).replace("name", f'"{BAD_NAME}"', 1)
    cleaned = evaluate(parse_expression(expression)).as_str()
    assert cleaned == "app-1.0 -nightly"
    assert _AMI_NAME.match(cleaned)
