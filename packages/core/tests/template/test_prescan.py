"""The components a template's builds name in its syntax (started before evaluation)."""

from __future__ import annotations

from pathlib import Path

from bakehouse.template.prescan import (
    cached_components,
    parse_target,
    remember_components,
    used_components,
)


def scan(tmp_path: Path, text: str) -> dict[str, list[tuple[str, str]]]:
    (tmp_path / "t.pkr.hcl").write_text(text, encoding="utf-8")
    parsed = parse_target(str(tmp_path / "t.pkr.hcl"))
    assert parsed is not None
    return used_components(parsed)


def test_each_literal_source_is_a_build_with_the_blocks_components(tmp_path: Path) -> None:
    found = scan(tmp_path, """
source "docker" "a" { image = "x" }
source "null" "b" {}
source "amazon-ebs" "unused" {}
build {
  sources = ["source.docker.a"]
  source "null.b" { }
  provisioner "shell" { inline = ["a"] }
  provisioner "file" {
    only = ["docker.a"]
  }
  post-processors {
    post-processor "docker-tag" {}
    post-processor "manifest" {
      except = ["null.b"]
    }
  }
  post-processor "checksum" {}
  error-cleanup-provisioner "shell-local" {}
}
""")
    shared = [("provisioner", "shell"), ("post-processor", "checksum"), ("provisioner", "shell-local"),
              ("post-processor", "docker-tag")]
    assert found == {
        "0:source.docker.a": [("builder", "docker"), *shared],
        "0:null.b": [("builder", "null"), *shared],
    }


def test_what_needs_evaluation_is_left_out(tmp_path: Path) -> None:
    found = scan(tmp_path, """
variable "kind" { default = "a" }
source "null" "a" {}
build {
  sources = ["source.null.a", "source.null.${var.kind}"]
  provisioner "shell-local" { inline = ["a"] }
}
build {
  sources = ["source.null.nowhere"]
  provisioner "breakpoint" {}
}
build {
  name = "second"
  sources = ["null.a"]
}
""")
    assert found == {"2:null.a": [("builder", "null")]}


def test_only_hcl2_files_that_parse_are_scanned(tmp_path: Path) -> None:
    (tmp_path / "legacy.json").write_text('{"builders": [{"type": "null"}]}', encoding="utf-8")
    assert parse_target(str(tmp_path / "legacy.json")) is None
    (tmp_path / "bad.pkr.hcl").write_text("build {\n", encoding="utf-8")
    assert parse_target(str(tmp_path / "bad.pkr.hcl")) is None
    assert parse_target(str(tmp_path / "missing.pkr.hcl")) is None
    directory = tmp_path / "dir"
    directory.mkdir()
    (directory / "a.pkr.hcl").write_text('source "null" "a" {}\n', encoding="utf-8")
    (directory / "b.pkr.hcl").write_text('build {\n  sources = ["null.a"]\n}\n', encoding="utf-8")
    (directory / "notes.txt").write_text("not a template", encoding="utf-8")
    parsed = parse_target(str(directory))
    assert parsed is not None and sorted(Path(name).name for name in parsed) == ["a.pkr.hcl", "b.pkr.hcl"]
    assert used_components(parsed) == {"0:null.a": [("builder", "null")]}


def test_a_scan_is_remembered_while_the_files_stay_the_same(tmp_path: Path, bakehouse_home: Path) -> None:
    template = tmp_path / "t.pkr.hcl"
    template.write_text('source "null" "a" {}\nbuild {\n  sources = ["null.a"]\n}\n', encoding="utf-8")
    assert cached_components(str(template)) is None
    found = scan(tmp_path, template.read_text(encoding="utf-8"))
    remember_components(str(template), found)
    assert cached_components(str(template)) == found == {"0:null.a": [("builder", "null")]}
    # Any write (even of the same text) changes the stamp: scanned again.
    template.write_text(template.read_text(encoding="utf-8"), encoding="utf-8")
    assert cached_components(str(template)) is None
    # A directory's entry covers its set of files.
    remember_components(str(tmp_path), found)
    assert cached_components(str(tmp_path)) == found
    (tmp_path / "more.pkr.hcl").write_text("", encoding="utf-8")
    assert cached_components(str(tmp_path)) is None
