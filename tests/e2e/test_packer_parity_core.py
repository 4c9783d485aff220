"""End to end, through the real CLI: Packer behaviours of the core (issue 11, items 3-5)."""

from __future__ import annotations

import lzma
import tarfile
import textwrap
from pathlib import Path


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_compress_post_processor_writes_xz_and_refuses_lz4(bakehouse, tmp_path):
    write(
        tmp_path,
        "t.pkr.hcl",
        """
        variable "output" { type = string }
        source "file" "f" {
          target  = "hello.txt"
          content = "hello compressed world"
        }
        build {
          sources = ["source.file.f"]
          post-processor "compress" { output = var.output }
        }
        """,
    )
    result = bakehouse("build", "-var", "output=out/hello.tar.xz", "t.pkr.hcl")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "--> file.f: compressed artifacts in: out/hello.tar.xz" in result.stdout
    with lzma.open(tmp_path / "out" / "hello.tar.xz") as raw, tarfile.open(fileobj=raw) as archive:
        member = archive.extractfile("hello.txt")
        assert member is not None and member.read() == b"hello compressed world"

    result = bakehouse("build", "-var", "output=hello.tar.lz4", "t.pkr.hcl")
    assert result.returncode == 1
    assert "lz4 compression is not supported" in result.stdout
    assert "on t.pkr.hcl line 9" in result.stdout  # the diagnostic points at the template
    assert "Traceback" not in result.stdout + result.stderr
