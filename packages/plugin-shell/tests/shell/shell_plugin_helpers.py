"""Helpers for the shell plugin's unit tests: a recording Ui and a Communicator
that runs commands locally with /bin/sh in a directory (the component under
test is the provisioner; this stands in for the builder's side only)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from bakehouse.sdk import Cancelled, Communicator, Context, FileInfo
from bakehouse.sdk.communicator import OutputCallback
from bakehouse.testing import FakeUi as RecordingUi  # noqa: F401  (the shell tests' name)

#: The SDK's default for upload metadata.
NO_FILE_INFO = FileInfo()


class DirCommunicator(Communicator):
    """Runs commands with /bin/sh in ``root``; relative remote paths live there."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.commands: list[str] = []
        self.uploads: list[tuple[str, int]] = []
        self.fail_uploads = 0  # fail this many uploads first (start retry tests)
        self.exit_override: int | None = None
        self.drop_connection_after_output = False  # raise once the command printed

    def _path(self, remote: str) -> Path:
        return Path(remote) if os.path.isabs(remote) else self.root / remote

    def execute(self, command: str, *, on_stdout: OutputCallback, on_stderr: OutputCallback,
                ctx: Context, stdin: BinaryIO | None = None) -> int:
        self.commands.append(command)
        proc = subprocess.Popen(["/bin/sh", "-c", command], cwd=self.root,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)

        def kill() -> None:
            if proc.returncode is None:
                os.killpg(proc.pid, signal.SIGKILL)

        ctx.on_cancel(kill)
        out, err = proc.communicate()
        if ctx.cancelled:
            raise Cancelled()
        on_stdout(out)
        on_stderr(err)
        if self.drop_connection_after_output and out:
            self.drop_connection_after_output = False
            raise ConnectionResetError("connection reset by peer")
        if self.exit_override is not None:
            return self.exit_override
        return proc.returncode

    def upload(self, dst: str, src: BinaryIO, info: FileInfo = NO_FILE_INFO) -> None:
        if self.fail_uploads > 0:
            self.fail_uploads -= 1
            raise ConnectionError("machine not reachable yet")
        data = src.read()
        path = self._path(dst)
        path.write_bytes(data)
        path.chmod(info.mode)
        self.uploads.append((dst, info.mode))

    def download(self, src: str, dst: BinaryIO) -> None:
        dst.write(self._path(src).read_bytes())

    def upload_dir(self, dst: str, src: str, exclude: Sequence[str] = ()) -> None:
        shutil.copytree(src, self._path(dst), dirs_exist_ok=True)

    def download_dir(self, src: str, dst: str, exclude: Sequence[str] = ()) -> None:
        shutil.copytree(self._path(src), dst, dirs_exist_ok=True)
