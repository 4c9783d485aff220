"""End to end: the amazon-secretsmanager and amazon-parameterstore data sources
and the aws_secretsmanager functions, through the real CLI, the aws plugin's
process and a moto server over HTTP."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from bakehouse.testing.servers import MotoServer

pytestmark = [pytest.mark.moto]

TEMPLATE = """
data "amazon-secretsmanager" "db" {
  name = "app/db"
  key  = "user"
}

data "amazon-parameterstore" "image" {
  name = "/app/image"
}

locals {
  password = aws_secretsmanager("app/db", "password")
  raw      = aws_secretsmanager_raw("app/token")
}

source "null" "s" {}

build {
  sources = ["source.null.s"]

  provisioner "shell-local" {
    inline = [
      "printf '%s %s v%s' '${data.amazon-secretsmanager.db.value}' '${data.amazon-parameterstore.image.value}' '${data.amazon-parameterstore.image.version}' > data.txt",
      "printf '%s|%s' '${local.password}' '${local.raw}' > function.txt",
    ]
  }
}
"""


def test_secret_data_sources_and_aws_secretsmanager_function_feed_a_build(
        aws_env: MotoServer, bakehouse, tmp_path: Path) -> None:
    aws_env.client("secretsmanager").create_secret(
        Name="app/db", SecretString=json.dumps({"user": "baker", "password": "flour-and-water"}))
    aws_env.client("secretsmanager").create_secret(Name="app/token", SecretString="t0ken")
    aws_env.client("ssm").put_parameter(Name="/app/image", Value="debian-12", Type="String")
    (tmp_path / "t.pkr.hcl").write_text(textwrap.dedent(TEMPLATE))
    result = bakehouse("build", "t.pkr.hcl", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "data.txt").read_text() == "baker debian-12 v1"
    assert (tmp_path / "function.txt").read_text() == "flour-and-water|t0ken"
    # what the function read is sensitive: never printed
    assert "flour-and-water" not in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_a_missing_secret_is_an_error_at_the_call_with_the_secret_named(
        aws_env: MotoServer, bakehouse, tmp_path: Path) -> None:
    (tmp_path / "t.pkr.hcl").write_text(textwrap.dedent("""
        locals {
          password = aws_secretsmanager("app/missing", "password")
        }
        source "null" "s" {}
        build {
          sources = ["source.null.s"]
        }
        """))
    result = bakehouse("build", "t.pkr.hcl", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "on t.pkr.hcl line 3" in output
    assert "aws_secretsmanager('app/missing')" in output
    assert "ResourceNotFoundException" in output
    assert "Traceback" not in output
