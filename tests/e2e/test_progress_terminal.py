"""On a terminal (a pty), a file provisioner's upload into a real docker build
shows a byte progress bar; in a pipe the same build prints none."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
from pathlib import Path

import pytest

from tests.support import bakehouse_exe

TEMPLATE = """
source "docker" "d" {
  image   = "%s"
  pull    = false
  discard = true
}
build {
  sources = ["source.docker.d"]
  provisioner "file" {
    source      = "big.bin"
    destination = "/tmp/big.bin"
  }
}

source "docker" "c" {
  image  = "%s"
  pull   = false
  commit = true
}
build {
  sources = ["source.docker.c"]
  post-processor "docker-save" {
    path = "image.tar"
  }
}
"""


def run_on_pty(command: list[str], cwd: Path) -> tuple[int, str]:
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(command, cwd=cwd, stdin=terminal, stdout=terminal, stderr=terminal, close_fds=True)
    os.close(terminal)
    chunks = []
    while True:
        ready, _, _ = select.select([controller], [], [], 120)
        if not ready:
            proc.kill()
            break
        try:
            data = os.read(controller, 65536)
        except OSError:  # the child closed the pty
            break
        if not data:
            break
        chunks.append(data)
    os.close(controller)
    return proc.wait(timeout=60), b"".join(chunks).decode(errors="replace")


@pytest.mark.docker
def test_upload_and_save_progress_on_a_terminal_only(busybox_image: str, tmp_path: Path, bakehouse,
                                                     docker_client) -> None:
    (tmp_path / "big.bin").write_bytes(os.urandom(24 * 1024 * 1024))
    (tmp_path / "t.pkr.hcl").write_text(TEMPLATE % (busybox_image, busybox_image))
    code, screen = run_on_pty([bakehouse_exe(), "build", "t.pkr.hcl"], tmp_path)
    committed = re.search(r"docker\.c: Image ID: (sha256:[0-9a-f]+)", screen)
    if committed:
        docker_client.images.remove(committed.group(1), force=True)
    assert code == 0, screen
    assert "docker.d: Uploading big.bin" in screen
    assert "/25.2 MB" in screen, screen[-2000:]
    assert "docker.c (docker-save): Saving sha256:" in screen, screen[-2000:]
    piped = bakehouse("build", "-only", "docker.d", "t.pkr.hcl")
    assert piped.returncode == 0, piped.stdout
    assert "MB" not in piped.stdout and "\x1b" not in piped.stdout
