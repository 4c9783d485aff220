"""``bakehouse-plugin-localdir``: a test plugin whose "machine" is a temporary directory.

Builder ``localdir`` creates a temporary directory, records it in the journal
(kind ``localdir-tempdir``), lets the provisioners work on it through a real
:class:`~bakehouse.sdk.Communicator` (commands run with ``/bin/sh`` in that
directory; relative remote paths are inside it, absolute ones are taken as
they are), optionally copies the result to ``output_dir`` (the artifact), and
removes the directory. ``bakehouse cleanup`` removes directories of runs that
died, through the cleaner registered below.

Used by end-to-end tests until a real machine builder is available, and
forever for fast tests. Limitation: a command started by ``execute`` is
stopped (with its process group) when its context is cancelled, but not when
this plugin process is SIGKILLed; it then runs on until it ends. Run through the launcher that
``tests/e2e/conftest.py`` writes (it needs this interpreter's ``bakehouse``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

from bakehouse.sdk import (
    CONTINUE,
    HOOK_PROVISION,
    Action,
    Artifact,
    Builder,
    BuildInfo,
    Cancelled,
    Communicator,
    Config,
    Context,
    FileInfo,
    Hook,
    Journal,
    JournalEntry,
    PrepareResult,
    Runner,
    SimpleArtifact,
    StateBag,
    Step,
    Ui,
    register_cleaner,
    serve,
)
from bakehouse.sdk.communicator import OutputCallback

PLUGIN = "bakehouse-plugin-localdir"
TEMPDIR_KIND = "localdir-tempdir"
TEMPDIR_PREFIX = "bakehouse-localdir-"
BUILDER_ID = "bakehouse.localdir"
CHUNK = 64 * 1024


#: The SDK's default for upload metadata.
NO_FILE_INFO = FileInfo()


class LocalDirCommunicator(Communicator):
    """Commands and files on a directory standing in for a machine."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, remote: str) -> Path:
        return Path(remote) if os.path.isabs(remote) else self.root / remote

    def execute(
        self,
        command: str,
        *,
        on_stdout: OutputCallback,
        on_stderr: OutputCallback,
        ctx: Context,
        stdin: BinaryIO | None = None,
    ) -> int:
        ctx.check()
        proc = subprocess.Popen(
            ["/bin/sh", "-c", command],
            cwd=self.root,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # so a cancel can take the whole group
        )
        done = threading.Event()

        def kill_group() -> None:
            if not done.is_set():
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

        ctx.on_cancel(kill_group)
        pumps = [
            threading.Thread(target=_pump, args=(proc.stdout, on_stdout), daemon=True),
            threading.Thread(target=_pump, args=(proc.stderr, on_stderr), daemon=True),
        ]
        if stdin is not None:
            pumps.append(threading.Thread(target=_feed, args=(stdin, proc.stdin), daemon=True))
        for pump in pumps:
            pump.start()
        try:
            status = proc.wait()
            for pump in pumps:
                pump.join()
        finally:
            done.set()
        if ctx.cancelled:
            raise Cancelled(ctx.reason or "context canceled")
        return status if status >= 0 else 128 - status

    def upload(self, dst: str, src: BinaryIO, info: FileInfo = NO_FILE_INFO) -> None:
        target = self._path(dst)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as out:
            shutil.copyfileobj(src, out, CHUNK)
        target.chmod(info.mode)

    def download(self, src: str, dst: BinaryIO) -> None:
        with open(self._path(src), "rb") as fh:
            shutil.copyfileobj(fh, dst, CHUNK)

    def upload_dir(self, dst: str, src: str, exclude: Sequence[str] = ()) -> None:
        _copy_dir(src, self._path(dst), exclude)

    def download_dir(self, src: str, dst: str, exclude: Sequence[str] = ()) -> None:
        _copy_dir(str(self._path(src)) + ("/" if src.endswith("/") else ""), Path(dst), exclude)


def _pump(stream: BinaryIO, deliver: OutputCallback) -> None:
    while chunk := os.read(stream.fileno(), CHUNK):
        deliver(chunk)
    stream.close()


def _feed(src: BinaryIO, sink: BinaryIO) -> None:
    try:
        shutil.copyfileobj(src, sink, CHUNK)
    finally:
        sink.close()


def _copy_dir(src: str, dst: Path, exclude: Sequence[str]) -> None:
    """rsync semantics: ``src/`` copies the contents, ``src`` the directory itself."""
    source = Path(src)
    target = dst if src.endswith("/") else dst / source.name
    shutil.copytree(source, target, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(*exclude) if exclude else None)


class LocalDirConfig(Config):
    """``source "localdir" "name" { output_dir = "out" }``."""

    #: Where to copy the machine's files after provisioning (the artifact); "" = nowhere.
    output_dir: str = ""


class StepCreateTempDir(Step):
    name = "create temporary directory"

    def run(self, state: StateBag) -> Action:
        journal: Journal = state["journal"]
        root = Path(tempfile.mkdtemp(prefix=TEMPDIR_PREFIX))
        state["journal_entry"] = journal.record(TEMPDIR_KIND, str(root))
        state["root"] = root
        state.ui.say(f"Created temporary directory {root}")
        return CONTINUE

    def cleanup(self, state: StateBag) -> None:
        root: Path | None = state.get("root")
        if root is None:
            return
        shutil.rmtree(root, ignore_errors=True)
        state["journal"].forget(state["journal_entry"])
        state.ui.say(f"Removed temporary directory {root}")


class StepProvision(Step):
    name = "provision"

    def run(self, state: StateBag) -> Action:
        root: Path = state["root"]
        hook: Hook = state["hook"]
        generated = {"ID": root.name, "Path": str(root)}
        hook.run(HOOK_PROVISION, state.ui, LocalDirCommunicator(root), generated, state.ctx)
        state["generated"] = generated
        return CONTINUE


class StepCopyOutput(Step):
    name = "copy output"

    def run(self, state: StateBag) -> Action:
        config: LocalDirConfig = state["config"]
        if config.output_dir:
            output = Path(config.output_dir).absolute()
            shutil.copytree(state["root"], output, dirs_exist_ok=True)
            state["output"] = output
            state.ui.say(f"Copied the result to {output}")
        return CONTINUE


class LocalDirBuilder(Builder):
    """Builder ``localdir``: the machine is a temporary directory on this host."""

    config_schema = LocalDirConfig

    def prepare(self, config: dict[str, Any], build: BuildInfo) -> PrepareResult:
        super().prepare(config, build)
        return PrepareResult(generated_names=["ID", "Path"])

    def run(self, ui: Ui, hook: Hook, ctx: Context) -> Artifact | None:
        state = StateBag(ui=ui, hook=hook, ctx=ctx, config=self.config, build=self.build,
                         journal=Journal(run_id=self.build.run_id or None, plugin=PLUGIN))
        Runner([StepCreateTempDir(), StepProvision(), StepCopyOutput()],
               on_error=self.build.on_error).run(state)
        if state.get("error") is not None:
            raise state["error"]
        if state["cancelled"]:
            raise Cancelled(ctx.reason or "context canceled")
        output: Path | None = state.get("output")
        if output is None:
            return None
        files = sorted(str(p) for p in output.rglob("*") if p.is_file())
        return SimpleArtifact(BUILDER_ID, str(output), f"Directory: {output}", files,
                              {"generated_data": state.get("generated", {})})


def remove_tempdir(entry: JournalEntry) -> None:
    """Cleaner for leftovers of runs that died: only ever our own temp dirs."""
    path = Path(entry.resource_id)
    if not path.name.startswith(TEMPDIR_PREFIX):
        raise ValueError(f"refusing to remove {path}: not a localdir temporary directory")
    shutil.rmtree(path, ignore_errors=True)
    if path.exists():
        raise OSError(f"could not remove {path}")


register_cleaner(TEMPDIR_KIND, remove_tempdir)


def main() -> None:
    serve(plugin=PLUGIN, version="0.0.1", builders={"localdir": LocalDirBuilder})


if __name__ == "__main__":
    main()
