"""Property: whatever a template file holds, loading it gives a template or
diagnostics with a file position, never a Python exception or a hang."""

from __future__ import annotations

import tempfile
from pathlib import Path

from bakehouse.template.loader import load
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
            piece = draw(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=6)))
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
