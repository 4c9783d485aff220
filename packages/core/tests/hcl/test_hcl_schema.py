"""The body schema decoder: the same diagnostics, with positions, for every block type."""

from __future__ import annotations

from pathlib import Path

import pytest
from bakehouse.hcl.diagnostics import Diagnostic, Diagnostics
from bakehouse.hcl.parser import parse_text
from bakehouse.hcl.schema import AttributeSpec, BlockSpec, BodySchema, decode_body
from bakehouse.template.loader import load_template

SCHEMA = BodySchema(
    attributes=(AttributeSpec("image", required=True), AttributeSpec("commit")),
    blocks=(BlockSpec("tag", ("key",)), BlockSpec("content", unique=True)),
)


def decode(text: str) -> tuple[list[str], list[tuple[str, str, int]]]:
    body = parse_text(text, "t.hcl")
    diags = Diagnostics()
    content = decode_body(body.attributes, body.blocks, SCHEMA, diags, body.pos)
    kept = sorted(content.attributes) + [block.type for block in content.blocks]
    return kept, [(d.summary, d.detail, d.pos.line if d.pos else 0) for d in diags.items]


def test_well_formed_body_passes_through() -> None:
    kept, problems = decode('image = "x"\ntag "a" {}\ncontent {}\n')
    assert problems == []
    assert kept == ["image", "tag", "content"]


def test_unknown_argument_names_the_closest_one() -> None:
    kept, problems = decode('image = "x"\nimgae = 1\nzzz = 2\n')
    assert kept == ["image"]
    assert problems == [
        ("Unsupported argument", 'An argument named "imgae" is not expected here. Did you mean "image"?', 2),
        ("Unsupported argument", 'An argument named "zzz" is not expected here. Expected one of: commit, image.', 3),
    ]


def test_missing_required_argument() -> None:
    _, problems = decode('commit = true\n')
    assert problems == [("Missing required argument",
                         'The argument "image" is required, but no definition was found.', 1)]


def test_blocks_unknown_type_wrong_labels_and_duplicates() -> None:
    kept, problems = decode('image = "x"\nunknown {}\ntag {}\ntag "a" "b" {}\ncontent {}\ncontent {}\n')
    assert kept == ["image", "content"]
    assert [(summary, line) for summary, _detail, line in problems] == [
        ("Unsupported block type", 2), ("Missing name for tag", 3), ("Extraneous label for tag", 4),
        ("Duplicate content block", 6)]
    assert problems[1][1] == 'All tag blocks must have 1 label (key): tag "key" { ... }.'


def errors(tmp_path: Path, text: str) -> list[Diagnostic]:
    (tmp_path / "t.pkr.hcl").write_text(text, encoding="utf-8")
    with pytest.raises(Diagnostics) as excinfo:
        load_template(str(tmp_path), environ={})
    return [d for d in excinfo.value.items if d.is_error]


@pytest.mark.parametrize(("text", "summary", "line"), [
    ('packer {\n  required_versoin = ">= 1"\n}\n', "Unsupported argument", 2),
    ('variable "x" {\n  default = 1\n  validation {\n    condition = var.x > 0\n  }\n}\n',
     "Missing required argument", 3),
    ('locals {\n  a = 1\n  b {}\n}\n', "Unsupported block type", 3),
    ('local "a" {\n  sensitive = true\n}\n', "Missing required argument", 1),
    ('source "null" {\n}\n', "Missing name for source", 1),
    ('source "null" "a" {}\nbuild {\n  sources = ["null.a"]\n  provisioner {}\n}\n',
     "Missing name for provisioner", 4),
    ('source "null" "a" {}\nbuild {\n  sources = ["null.a"]\n  dynamic "provisioner" {\n'
     '    labels = ["shell-local"]\n  }\n}\n', "Missing required argument", 4),
    ('source "null" "a" {}\nbuild {\n  sources = ["null.a"]\n  post-processors {\n    keep = true\n  }\n}\n',
     "Unsupported argument", 5),
])
def test_template_blocks_report_through_the_schema(tmp_path: Path, text: str, summary: str, line: int) -> None:
    found = errors(tmp_path, text)
    assert summary in [d.summary for d in found], [d.summary for d in found]
    diag = next(d for d in found if d.summary == summary)
    assert diag.pos is not None and diag.pos.line == line and diag.pos.filename.endswith("t.pkr.hcl")
