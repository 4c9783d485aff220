"""Property: whatever a template file holds, loading it gives a template or
diagnostics with a file position, never a Python exception or a hang."""

from __future__ import annotations

import argparse
import contextlib
import io
import subprocess
import tempfile
from pathlib import Path

from bakehouse.template.loader import load
from bakehouse.testing import bakehouse_executable as bakehouse_exe
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SEED_TEMPLATE = """\
variable "image" {
  type    = string
  default = "base"
  validation {
    condition     = length(var.image) > 0
    error_message = "The image must not be empty."
  }
}
variable "tags" {
  type    = map(string)
  default = { team = "bakers" }
}
locals {
  name  = "${var.image}-${local.tags.team}"
  tags  = merge(var.tags, { built = "yes" })
  items = [for k, v in local.tags : "${k}=${v}"]
}
data "null" "info" {
  input = local.name
}
source "null" "base" {
  communicator = "none"
  dynamic "disk" {
    for_each = local.tags
    content {
      name = disk.key
    }
  }
}
build {
  name    = "app"
  sources = ["source.null.base"]
  source "null.base" {
    name = "second"
  }
  provisioner "shell-local" {
    only   = ["null.second"]
    inline = ["echo ${source.name} ${build.ID} ${local.name}"]
  }
  post-processors {
    post-processor "manifest" {
      keep_input_artifact = true
    }
  }
}
"""

FRAGMENTS = ["{", "}", "[", "]", "(", ")", '"', "=", "${", "%{", "local.", "var.", "data.", "source.",
             "build.", "dynamic", "\n", "<<EOF\n", "EOF\n", "#", ",", "...", "for", "if", "?", ":", "null",
             "-1", "1e9999", "~", "*", ".", "locals {\n a = local.a\n}\n", 'source "x" {}\n']
# What an attacker would try: absurd nesting, huge lines, control bytes, a BOM in
# the middle, CRLF, bytes that are not UTF-8 (written as surrogates), files.
HOSTILE_FRAGMENTS = [
    "%{ if true }" * 300, "%{ endif }" * 300, "[" * 400, "(" * 400, "${" * 200, '"${"' * 100,
    "x" * 20_000, "\x00", "\ufeff", "\r\n", "\r", "\udcff\udcfe", "\u202e", "<<-EOT\n" + "a\n" * 50,
    'file("/dev/zero")', 'templatefile("/dev/stdin", {})', 'file("/proc/self/mem")', "9" * 400,
]


@st.composite
def mutated_templates(draw: st.DrawFn) -> str:
    text = SEED_TEMPLATE
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        position = draw(st.integers(min_value=0, max_value=len(text)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        if action == "delete":
            length = draw(st.integers(min_value=1, max_value=12))
            text = text[:position] + text[position + length:]
        else:
            piece = draw(st.one_of(st.sampled_from(FRAGMENTS), st.sampled_from(HOSTILE_FRAGMENTS),
                                   st.text(max_size=6)))
            cut = 0 if action == "insert" else draw(st.integers(min_value=1, max_value=6))
            text = text[:position] + piece + text[position + cut:]
    return text


def check_load(text: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "t.pkr.hcl"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        loaded, diags = load(str(path), environ={})
        for diagnostic in diags.items:
            assert diagnostic.pos is not None, f"diagnostic without a position: {diagnostic.render()}"
            assert diagnostic.pos.line >= 1
        if not diags.has_errors:
            for plan in loaded.template.builds:
                plan.builder.config(None)
                for spec in plan.provisioners:
                    spec.config({"ID": "x"})


def test_the_seed_template_loads() -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "t.pkr.hcl"
        path.write_text(SEED_TEMPLATE, encoding="utf-8")
        loaded, diags = load(str(path), environ={})
        assert not diags.has_errors, str(diags)
        assert [b.name for b in loaded.template.builds] == ["app.null.base", "app.null.second"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_templates())
def test_mutated_templates_give_diagnostics_not_exceptions(text: str) -> None:
    check_load(text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_templates())
def test_formatting_mutated_templates_is_idempotent(text: str) -> None:
    from bakehouse.hcl.diagnostics import Diagnostics
    from bakehouse.hcl.formatter import format_text

    try:
        once = format_text(text, "t.pkr.hcl")
    except Diagnostics as diags:
        assert all(d.pos is not None for d in diags.items)
        return
    assert format_text(once, "t.pkr.hcl") == once


# validate's own code path, in-process: the loader, then every build's components
# created and prepared (the seed's builder and post-processor are built in; a
# plugin provisioner starts its process), then the diagnostics printed.
VALIDATE_SEED = """\
variable "image" {
  type    = string
  default = "base"
}
locals {
  name  = "${var.image}-x"
  items = [for k, v in { a = 1 } : "${k}=${v}"]
  text  = <<-EOT
    %{ for i in local.items ~}
    ${i}
    %{ endfor ~}
  EOT
}
source "null" "base" {
  communicator = "none"
}
build {
  name    = "app"
  sources = ["source.null.base"]
  provisioner "file" {
    content     = "${source.name} ${build.ID} ${local.name} ${local.text}"
    destination = "out.txt"
  }
  provisioner "sleep" {
    duration = "0s"
  }
}
"""


def validate_in_process(path: Path) -> tuple[int, str]:
    from bakehouse.cli import validate

    parser = argparse.ArgumentParser()
    validate.add_arguments(parser)
    args = parser.parse_args([str(path)])
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        status = validate.run(args)
    return status, out.getvalue()


def check_validate_output(status: int, output: str) -> None:
    assert "Traceback" not in output and "CRASH" not in output, output[:3000]
    if status != 0:
        assert "Error: " in output, output[:3000]
        assert " line " in output or "t.pkr.hcl" in output, output[:3000]
    else:
        assert "The configuration is valid." in output, output[:3000]
    # Every snippet is bounded, whatever the line lengths (120 characters + gutter).
    assert all(len(line) < 200 for line in output.splitlines() if " | " in line[:8]), output[:3000]


def test_the_validate_seed_is_valid(tmp_path: Path) -> None:
    (tmp_path / "t.pkr.hcl").write_text(VALIDATE_SEED, encoding="utf-8")
    status, output = validate_in_process(tmp_path / "t.pkr.hcl")
    assert status == 0, output


@st.composite
def hostile_validate_templates(draw: st.DrawFn) -> str:
    text = VALIDATE_SEED
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        position = draw(st.integers(min_value=0, max_value=len(text)))
        piece = draw(st.one_of(st.sampled_from(FRAGMENTS), st.sampled_from(HOSTILE_FRAGMENTS), st.text(max_size=6)))
        cut = draw(st.integers(min_value=0, max_value=6))
        text = text[:position] + piece + text[position + cut:]
    return text


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(hostile_validate_templates())
def test_validate_on_hostile_templates_prints_diagnostics_never_a_traceback(text: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "t.pkr.hcl"
        path.write_text(text, encoding="utf-8", errors="surrogateescape")
        status, output = validate_in_process(path)
    check_validate_output(status, output)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(hostile_validate_templates())
def test_validate_cli_on_hostile_templates_prints_diagnostics_never_a_traceback(text: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "t.pkr.hcl"
        path.write_text(text, encoding="utf-8", errors="surrogateescape")
        result = subprocess.run([bakehouse_exe(), "validate", "t.pkr.hcl"], cwd=directory, capture_output=True,
                                text=True, errors="replace", timeout=120, stdin=subprocess.DEVNULL)
        assert not (Path(directory) / "crash.log").exists(), result.stdout
    check_validate_output(result.returncode, result.stdout + result.stderr)
