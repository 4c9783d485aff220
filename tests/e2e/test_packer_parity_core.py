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


NULL_BUILD = """
source "null" "n" {}
build {
  sources = ["source.null.n"]
}
"""


def test_packer_log_variables_are_honoured_as_aliases(bakehouse, tmp_path):
    write(tmp_path, "t.pkr.hcl", NULL_BUILD)
    quiet = bakehouse("build", "t.pkr.hcl", env={"BAKEHOUSE_LOG": "", "PACKER_LOG": ""})
    assert quiet.returncode == 0 and "[DEBUG]" not in quiet.stderr
    logged = bakehouse("build", "t.pkr.hcl", env={"PACKER_LOG": "1"})
    assert logged.returncode == 0, logged.stdout + logged.stderr
    assert "[DEBUG] bakehouse: Bakehouse" in logged.stderr
    log_file = tmp_path / "packer.log"
    to_file = bakehouse("build", "t.pkr.hcl", env={"PACKER_LOG_PATH": str(log_file)})
    assert to_file.returncode == 0
    assert "[DEBUG] bakehouse: Bakehouse" in log_file.read_text()
    assert "[DEBUG]" not in to_file.stderr
    # Ours wins when both are set.
    off = bakehouse("build", "t.pkr.hcl", env={"PACKER_LOG": "1", "BAKEHOUSE_LOG": "0"})
    assert "[DEBUG]" not in off.stderr


def test_packer_plugin_path_is_searched(bakehouse, tmp_path, localdir_plugin_dir):
    env = {"BAKEHOUSE_PLUGIN_PATH": "", "PACKER_PLUGIN_PATH": str(localdir_plugin_dir)}
    result = bakehouse("plugins", "installed", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert str(localdir_plugin_dir / "bakehouse-plugin-localdir") in result.stdout
    without = bakehouse("plugins", "installed", env={"BAKEHOUSE_PLUGIN_PATH": "", "PACKER_PLUGIN_PATH": ""})
    assert "bakehouse-plugin-localdir" not in without.stdout
