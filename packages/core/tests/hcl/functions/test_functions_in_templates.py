"""The library inside real templates, through the real ``bakehouse console``:
files relative to path.root, env() in variable defaults only, templatefile,
and the clear error for secret-store functions."""

from __future__ import annotations

from pathlib import Path

TEMPLATE = """
variable "region" {
  type    = string
  default = env("FX_REGION")
}
locals {
  content = file("data.txt")
}
source "null" "a" { communicator = "none" }
build { sources = ["source.null.a"] }
"""


def write_template(directory: Path) -> Path:
    (directory / "data.txt").write_text("hello from file\n", encoding="utf-8")
    (directory / "greeting.tmpl").write_text("Hi ${name}\n", encoding="utf-8")
    path = directory / "fx.pkr.hcl"
    path.write_text(TEMPLATE, encoding="utf-8")
    return path


def test_console_evaluates_library_calls_against_the_template_directory(
    bakehouse_cli, tmp_path: Path
) -> None:
    (tmp_path / "tpl").mkdir()
    template = write_template(tmp_path / "tpl")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    lines = [
        "local.content",
        "var.region",
        'templatefile("greeting.tmpl", {name = "x"})',
        'fileset(path.root, "*.txt")',
        'sha256(file("data.txt"))',
        'formatdate("YYYY", "2024-01-02T03:04:05Z")',
    ]
    result = bakehouse_cli(
        "console",
        str(template),
        cwd=elsewhere,
        env={"FX_REGION": "eu-west-3"},
        input="\n".join(lines) + "\n",
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout.splitlines()
    assert out == [
        '"hello from file\\n"',
        '"eu-west-3"',
        '"Hi x\\n"',
        '["data.txt"]',
        '"5688f2dd7d1560e1c6f3797a3260488fd7cac979beccb64d7e69e22895d0dfba"',
        '"2024"',
    ]


def test_env_exists_only_in_variable_defaults(bakehouse_cli, tmp_path: Path) -> None:
    template = write_template(tmp_path)
    result = bakehouse_cli("console", str(template), input='env("HOME")\n')
    assert result.returncode != 0
    assert 'no function named "env"' in result.stderr
    assert "Traceback" not in result.stderr


def test_secret_store_function_gives_a_clear_error(bakehouse_cli, tmp_path: Path) -> None:
    template = write_template(tmp_path)
    result = bakehouse_cli("console", str(template), input='vault("secret/x", "k")\n')
    assert result.returncode != 0
    assert "vault() is not supported by Bakehouse: it needs a network secret store" in result.stderr
    assert "line 1" in result.stderr and "Traceback" not in result.stderr
