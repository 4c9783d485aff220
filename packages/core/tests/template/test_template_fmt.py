"""The HCL formatter: canonical layout and idempotence on every template in the repository."""

from __future__ import annotations

from pathlib import Path

import pytest
from bakehouse.hcl.diagnostics import Diagnostics
from bakehouse.hcl.formatter import format_text

REPO = Path(__file__).resolve().parents[4]


def repository_templates() -> list[Path]:
    found: list[Path] = []
    for top in ("examples", "tests", "packages"):
        for pattern in ("*.pkr.hcl", "*.pkrvars.hcl"):
            found.extend(p for p in (REPO / top).rglob(pattern) if ".venv" not in p.parts)
    return sorted(set(found))


UNFORMATTED = """\
# header comment
variable "x" {
type = string
    default="a" # first
  description = "long" # second
}
locals {
  numbers = [1,2,
  3]
  object = {a=1, b = "x${var.y}"}
  math = var.a+ 2 *-3
  text = <<EOT
  kept   as   is
EOT
  negated = !true
  splat = a.*.b
  full = a[*].c[0]
  tuple_for = [for x in [1]: x if x>0]
  object_for = {for k,v in m: k=>v...}
  spread = f(a...)
  choice = x ? y : z
  empty = {}
}
source "null" "a" {communicator="none"}
build {
  sources = [
    "source.null.a",
  ]
  provisioner "shell-local" {
  inline = ["echo hi"]
  }
}
"""

EXPECTED = """\
# header comment
variable "x" {
  type        = string
  default     = "a"    # first
  description = "long" # second
}
locals {
  numbers = [1, 2,
  3]
  object     = { a = 1, b = "x${var.y}" }
  math       = var.a + 2 * -3
  text       = <<EOT
  kept   as   is
EOT
  negated    = !true
  splat      = a.*.b
  full       = a[*].c[0]
  tuple_for  = [for x in [1] : x if x > 0]
  object_for = { for k, v in m : k => v... }
  spread     = f(a...)
  choice     = x ? y : z
  empty      = {}
}
source "null" "a" { communicator = "none" }
build {
  sources = [
    "source.null.a",
  ]
  provisioner "shell-local" {
    inline = ["echo hi"]
  }
}
"""


def test_canonical_layout() -> None:
    assert format_text(UNFORMATTED) == EXPECTED


def test_formatting_is_idempotent_on_the_sample() -> None:
    assert format_text(EXPECTED) == EXPECTED


def test_blank_lines_and_comments_are_kept() -> None:
    text = "a = 1\n\n\n// slash comment\n/* block\n   comment */\nb = 2\n"
    assert format_text(text) == text


def test_multi_line_values_break_the_alignment() -> None:
    text = 'a = 1\nlong_name = {\n  k = "v"\n}\nb = 2\n'
    assert format_text(text) == text


def test_syntax_error_is_a_diagnostic() -> None:
    with pytest.raises(Diagnostics) as excinfo:
        format_text('a = = 1\n', "bad.pkr.hcl")
    [diag] = excinfo.value.items
    assert diag.pos is not None and diag.pos.filename == "bad.pkr.hcl" and diag.pos.line == 1


@pytest.mark.parametrize("path", repository_templates() or [None], ids=lambda p: str(p.relative_to(REPO)) if p else "none")
def test_formatting_is_idempotent_on_repository_templates(path: Path | None) -> None:
    if path is None:
        text = EXPECTED
    else:
        text = path.read_text(encoding="utf-8")
    once = format_text(text, str(path))
    assert format_text(once, str(path)) == once


def test_template_sequences_are_spaced_but_literal_text_is_not() -> None:
    text = 'a = "x ${~ var.a+1 ~} y%{ if true }z%{~ endif }${ {k=1} }  $${kept}"\n'
    assert format_text(text) == 'a = "x ${~var.a + 1~} y%{if true}z%{~endif}${ { k = 1 } }  $${kept}"\n'
    assert format_text('b = "${a}${b}{"\n') == 'b = "${a}${b}{"\n'
