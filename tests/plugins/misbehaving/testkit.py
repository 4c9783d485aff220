"""Well-behaved test plugins (the baseline the misbehaving ones deviate from).

Two executables are made from this module by ``tests.fixtures.processes``:

* ``bakehouse-plugin-testkit`` (:func:`main_builder`): the ``testkit`` builder,
  whose communicator runs commands and stores files in a local directory
  (enough to drive provisioners through real RPC without Docker);
* ``bakehouse-plugin-testother`` (:func:`main_other_builder`): the same
  builder under the type ``testother``;
* ``bakehouse-plugin-testprov`` (:func:`main_provisioners`): provisioners that
  exercise the communicator relay (``testkit-exec``, ``testkit-upload``,
  ``testkit-download``) and ``testkit-wait``, which blocks until cancelled
  (for crash and cancellation tests).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

from bakehouse.sdk import (
    HOOK_PROVISION,
    Builder,
    Cancelled,
    Communicator,
    Config,
    Context,
    FileInfo,
    Hook,
    PostProcessor,
    Provisioner,
    SimpleArtifact,
    Ui,
    register_cleaner,
    serve,
)
from bakehouse.sdk.journal import JournalEntry

DEFAULT_FILE_INFO = FileInfo()


class DirCommunicator(Communicator):
    """Runs commands with ``/bin/sh -c`` inside ``root``; files live under it."""

    def __init__(self, root: str) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _local(self, remote: str) -> Path:
        return self.root / remote.lstrip("/")

    def execute(self, command: str, *, on_stdout: Any, on_stderr: Any, ctx: Context,
                stdin: BinaryIO | None = None) -> int:
        proc = subprocess.Popen(["/bin/sh", "-c", command], cwd=self.root,
                                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        ctx.on_cancel(proc.kill)

        def pump(stream: Any, callback: Any) -> None:
            for chunk in iter(lambda: stream.read1(65536), b""):
                callback(chunk)

        threads = [threading.Thread(target=pump, args=(proc.stdout, on_stdout)),
                   threading.Thread(target=pump, args=(proc.stderr, on_stderr))]
        for thread in threads:
            thread.start()
        if stdin is not None:
            assert proc.stdin is not None
            shutil.copyfileobj(stdin, proc.stdin)
            proc.stdin.close()
        status = proc.wait()
        for thread in threads:
            thread.join()
        ctx.check()
        return status

    def upload(self, dst: str, src: BinaryIO, info: FileInfo = DEFAULT_FILE_INFO) -> None:
        target = self._local(dst)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as fh:
            shutil.copyfileobj(src, fh, 256 * 1024)
        os.chmod(target, info.mode)

    def download(self, src: str, dst: BinaryIO) -> None:
        with open(self._local(src), "rb") as fh:
            shutil.copyfileobj(fh, dst, 256 * 1024)

    def upload_dir(self, dst: str, src: str, exclude: Sequence[str] = ()) -> None:
        shutil.copytree(src, self._local(dst), dirs_exist_ok=True)

    def download_dir(self, src: str, dst: str, exclude: Sequence[str] = ()) -> None:
        shutil.copytree(self._local(src), dst, dirs_exist_ok=True)


class TestkitBuilderConfig(Config):
    workdir: str
    wait_for_cancel: bool = False


class TestkitBuilder(Builder):
    config_schema = TestkitBuilderConfig

    def run(self, ui: Ui, hook: Hook, ctx: Context) -> SimpleArtifact | None:
        ui.say(f"testkit builder in pid {os.getpid()}")
        print("a stray print on stdout", flush=True)  # must not disturb the RPC pipes
        communicator = DirCommunicator(self.config.workdir)
        try:
            hook.run(HOOK_PROVISION, ui, communicator, {"ID": "testkit", "PackerRunUUID": ""}, ctx)
            if self.config.wait_for_cancel:
                print(f"builder waiting in pid {os.getpid()}", file=sys.stderr, flush=True)
                ctx.wait()
                raise Cancelled(ctx.reason)
        finally:
            # Stands for a builder's step cleanups: they run however run() ends.
            if ctx.cancelled:
                marker = Path(self.config.workdir) / "builder-cleanup-ran"
                marker.write_text("cancelled: " + ctx.reason)
        return SimpleArtifact("testkit", "artifact-" + Path(self.config.workdir).name,
                              "testkit artifact", [str(self.config.workdir)],
                              {"generated_data": {"ID": "testkit"}})


class ExecConfig(Config):
    command: str
    stdin: str | None = None


class ExecProvisioner(Provisioner):
    config_schema = ExecConfig

    def provision(self, ui: Ui, communicator: Communicator | None, generated: dict[str, Any],
                  ctx: Context) -> None:
        assert communicator is not None
        import io

        stdin = io.BytesIO(self.config.stdin.encode()) if self.config.stdin is not None else None
        status = communicator.execute(
            self.config.command,
            on_stdout=lambda data: ui.message(data.decode().rstrip("\n")),
            on_stderr=lambda data: ui.error(data.decode().rstrip("\n")),
            ctx=ctx,
            stdin=stdin,
        )
        if status != 0:
            raise RuntimeError(f"command exited with status {status}")


class UploadConfig(Config):
    source: str
    destination: str


class UploadProvisioner(Provisioner):
    config_schema = UploadConfig

    def provision(self, ui: Ui, communicator: Communicator | None, generated: dict[str, Any],
                  ctx: Context) -> None:
        assert communicator is not None
        size = os.path.getsize(self.config.source)
        with open(self.config.source, "rb") as fh:
            communicator.upload(self.config.destination, fh, FileInfo(size=size, mode=0o600))
        ui.say(f"uploaded {size} bytes")


class DownloadProvisioner(Provisioner):
    config_schema = UploadConfig

    def provision(self, ui: Ui, communicator: Communicator | None, generated: dict[str, Any],
                  ctx: Context) -> None:
        assert communicator is not None
        with open(self.config.destination, "wb") as fh:
            communicator.download(self.config.source, fh)


class WaitConfig(Config):
    marker: str


class WaitProvisioner(Provisioner):
    """Writes its pid to ``marker``, then waits until cancelled."""

    config_schema = WaitConfig

    def provision(self, ui: Ui, communicator: Communicator | None, generated: dict[str, Any],
                  ctx: Context) -> None:
        print(f"testkit-wait waiting in pid {os.getpid()}", file=sys.stderr, flush=True)
        Path(self.config.marker).write_text(str(os.getpid()))
        ctx.wait()
        Path(self.config.marker + ".cancelled").write_text(ctx.reason)
        raise Cancelled(ctx.reason)


class PassPostProcessor(PostProcessor):
    def post_process(self, ui: Ui, artifact: Any, ctx: Context) -> tuple[Any, bool, bool]:
        return artifact, True, False


def _clean_marker(entry: JournalEntry) -> None:
    Path(entry.resource_id).unlink()


register_cleaner("testkit-file", _clean_marker)


def main_builder() -> None:
    serve(plugin="bakehouse-plugin-testkit", version="0.0.1",
          builders={"testkit": TestkitBuilder}, post_processors={"testkit-pass": PassPostProcessor})


def main_other_builder() -> None:
    """A second builder plugin, so lazy start can be shown with two builder types."""
    serve(plugin="bakehouse-plugin-testother", version="0.0.1", builders={"testother": TestkitBuilder})


def main_provisioners() -> None:
    serve(plugin="bakehouse-plugin-testprov", version="0.0.1",
          provisioners={"testkit-exec": ExecProvisioner, "testkit-upload": UploadProvisioner,
                        "testkit-download": DownloadProvisioner, "testkit-wait": WaitProvisioner})
