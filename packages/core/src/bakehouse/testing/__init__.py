"""Test helpers for Bakehouse users and plugin authors.

Installing ``bakehouse`` registers the pytest plugin :mod:`bakehouse.testing.plugin`
(``pytest11`` entry point), whose fixtures are:

* ``bakehouse_docker``: a Docker SDK client for the local engine;
* ``bakehouse_base_image``: a small local base image (static busybox), no registry;
* ``bakehouse_docker_resources``: images and containers a test registers are
  removed when it ends, and a build's containers are found by their labels;
* ``bakehouse_home`` / ``bakehouse_tmpdir``: a ``BAKEHOUSE_HOME`` and a
  ``TMPDIR`` of the test's own;
* ``bakehouse_moto`` / ``bakehouse_aws_env``: a real moto server on loopback,
  and (per test) a clean one with ``AWS_*`` pointing at it
  (:mod:`bakehouse.testing.servers`);
* ``bakehouse_sshd``: a real OpenSSH server on loopback with a client key;
* ``bakehouse_local_ec2``: the local EC2 of ``bakehouse-plugin-aws[local-ec2]``
  with ``AWS_*`` pointing at it;
* ``bakehouse_build``: runs ``bakehouse build`` on a template and returns a
  :class:`BuildResult` (exit status, output, artifacts);
* ``bakehouse_fake_ui`` / ``bakehouse_fake_communicator``: the in-process
  :class:`FakeUi` and :class:`FakeCommunicator`, to unit-test a component.

:func:`parsed_both_ways` checks that a component's options parsing without
pydantic (:mod:`bakehouse.sdk.plain`) agrees with its model.

A fixture whose real dependency is missing skips the test, or fails it when
``CI=true`` (see :func:`require`), so a green CI run always exercised it.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

from bakehouse.sdk.communicator import Communicator, FileInfo, OutputCallback
from bakehouse.sdk.context import Context
from bakehouse.sdk.ui import Ui

#: The SDK's default upload metadata.
_NO_FILE_INFO = FileInfo()

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

__all__ = [
    "IN_CI",
    "missing",
    "options_without_a_status",
    "BuildArtifact",
    "BuildResult",
    "FakeCommunicator",
    "FakeUi",
    "busybox_rootfs_tar",
    "parse_machine_output",
    "parsed_both_ways",
    "require",
    "run_build",
]


def require(condition: bool, what: str) -> None:
    """Fail in CI (``CI=true``), skip elsewhere, when a real dependency is missing."""
    if not condition:
        missing(what)


def missing(what: str) -> NoReturn:
    """The test cannot run without ``what``: fail in CI, skip elsewhere."""
    import pytest

    if IN_CI:
        pytest.fail(f"{what} is required in CI but is not available", pytrace=False)
    pytest.skip(f"{what} is not available")


def parsed_both_ways(parse: Callable[[dict[str, Any]], Any], model: type, raw: Mapping[str, Any],
                     dump: Callable[[Any], Any] = asdict) -> tuple[Any, Any]:
    """What a component's own parsing (``parse``: the dataclass way of
    :func:`bakehouse.sdk.plain.parse_plain` when the arguments are plainly
    valid) and its ``model`` make of ``raw``: each the options as a dict
    (``dump`` makes it of what ``parse`` returns), or the list of problems
    reported. A test asserts the two are equal."""
    from bakehouse.sdk.config import parse_config
    from bakehouse.sdk.problems import ConfigError

    try:
        expected: Any = parse_config(model, dict(raw)).model_dump()
    except ConfigError as exc:
        expected = exc.problems
    try:
        got: Any = dump(parse(dict(raw)))
    except ConfigError as exc:
        got = exc.problems
    return got, expected


def options_without_a_status(schema: type, names: Sequence[str]) -> list[str]:
    """Which of ``names`` (e.g. every option of the Packer component a schema
    stands for) ``schema`` does not know, or refuses without saying why: a
    template naming them would get "unknown argument" or no reason."""
    from bakehouse.sdk.config import UNSUPPORTED, option_status

    lacking = []
    for name in names:
        try:
            status, note = option_status(schema, name)
        except KeyError:
            lacking.append(name)
            continue
        if status == UNSUPPORTED and not note:
            lacking.append(name)
    return lacking


# -- in-process fakes ----------------------------------------------------------


class FakeUi(Ui):
    """A Ui that records what a component said: ``lines`` holds
    ``(kind, text)`` pairs, kind being ``say``, ``message``, ``error``,
    ``machine`` or ``ask``; a multi-line message is several lines, as on the
    terminal. ``transfers`` maps each :meth:`progress` task to its last
    ``(done, total)``. ``answers`` are handed out by :meth:`ask` in order.
    Thread-safe."""

    def __init__(self, answers: Sequence[str] = ()) -> None:
        self.lines: list[tuple[str, str]] = []
        self.transfers: dict[str, tuple[int, int]] = {}
        self.answers = list(answers)
        self.lock = threading.Lock()

    def _add(self, kind: str, text: str) -> None:
        with self.lock:
            self.lines.extend((kind, line) for line in text.split("\n"))

    def say(self, message: str) -> None:
        self._add("say", message)

    def message(self, message: str) -> None:
        self._add("message", message)

    def error(self, message: str) -> None:
        self._add("error", message)

    def machine(self, category: str, *args: str) -> None:
        self._add("machine", ",".join((category, *args)))

    def progress(self, task: str, done: int, total: int = 0) -> None:
        with self.lock:
            self.transfers[task] = (done, total)

    def ask(self, question: str) -> str:
        self._add("ask", question)
        with self.lock:
            if not self.answers:
                raise RuntimeError("no available tty")
            return self.answers.pop(0)

    def of(self, kind: str) -> list[str]:
        """The lines of one kind."""
        with self.lock:
            return [t for k, t in self.lines if k == kind]

    def text(self, kind: str | None = None) -> str:
        """Everything said (of one kind), one line each."""
        with self.lock:
            return "\n".join(t for k, t in self.lines if kind is None or k == kind)


@dataclass
class FakeCommunicator(Communicator):
    """A machine held in memory: ``files`` maps remote paths to contents,
    ``commands`` records every command run. ``results`` scripts the outcome of a
    command (exact text -> ``(exit status, stdout, stderr)``); any other
    command exits 0 without output."""

    files: dict[str, bytes] = field(default_factory=dict)
    modes: dict[str, int] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)
    stdins: list[bytes] = field(default_factory=list)
    results: dict[str, tuple[int, bytes, bytes]] = field(default_factory=dict)

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
        self.commands.append(command)
        self.stdins.append(stdin.read() if stdin is not None else b"")
        status, out, err = self.results.get(command, (0, b"", b""))
        if out:
            on_stdout(out)
        if err:
            on_stderr(err)
        return status

    def upload(self, dst: str, src: BinaryIO, info: FileInfo = _NO_FILE_INFO) -> None:
        self.files[dst] = src.read()
        self.modes[dst] = info.mode

    def download(self, src: str, dst: BinaryIO) -> None:
        if src not in self.files:
            raise FileNotFoundError(f"{src}: no such file on the fake machine")
        dst.write(self.files[src])

    def upload_dir(self, dst: str, src: str, exclude: Sequence[str] = ()) -> None:
        root = Path(src)
        # rsync semantics: "src/" copies the contents, "src" the directory itself
        base = dst.rstrip("/") if src.endswith("/") else f"{dst.rstrip('/')}/{root.name}"
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(root).as_posix()
            if path.is_file() and not any(Path(relative).match(p) for p in exclude):
                self.files[f"{base}/{relative}"] = path.read_bytes()
                self.modes[f"{base}/{relative}"] = path.stat().st_mode & 0o7777

    def download_dir(self, src: str, dst: str, exclude: Sequence[str] = ()) -> None:
        prefix = src.rstrip("/") + "/"
        for remote, data in sorted(self.files.items()):
            if remote.startswith(prefix):
                relative = remote[len(prefix):]
                if any(Path(relative).match(p) for p in exclude):
                    continue
                target = Path(dst) / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)


# -- running bakehouse ---------------------------------------------------------


@dataclass(frozen=True)
class BuildArtifact:
    """One artifact as ``bakehouse build -machine-readable`` reports it."""

    build: str
    builder_id: str
    id: str
    string: str
    files: tuple[str, ...] = ()


@dataclass(frozen=True)
class BuildResult:
    """What ``bakehouse build`` did: exit status, the UI text (machine-readable
    lines decoded to their messages), stderr (the log) and the artifacts."""

    returncode: int
    output: str
    stderr: str
    artifacts: tuple[BuildArtifact, ...]

    def artifacts_of(self, build: str) -> list[BuildArtifact]:
        return [a for a in self.artifacts if a.build == build]


def parse_machine_output(stdout: str) -> tuple[str, tuple[BuildArtifact, ...]]:
    """Split ``-machine-readable`` output into the UI text and the artifacts."""
    from bakehouse.ui.format import machine_unescape

    messages: list[str] = []
    fields_of: dict[tuple[str, int], dict[str, str]] = {}
    files_of: dict[tuple[str, int], list[str]] = {}
    for line in stdout.splitlines():
        fields = line.split(",")
        if len(fields) < 4:
            continue
        target, kind, args = fields[1], fields[2], [machine_unescape(f) for f in fields[3:]]
        if kind == "ui" and len(args) >= 2:
            messages.append(args[1])
        elif kind == "artifact" and len(args) >= 3 and args[0].isdigit():
            key = (target, int(args[0]))
            fields_of.setdefault(key, {})
            files = files_of.setdefault(key, [])
            if args[1] == "file" and len(args) >= 4:
                files.append(args[3])
            else:
                fields_of[key][args[1]] = args[2]
    artifacts = tuple(
        BuildArtifact(
            build=build,
            builder_id=values.get("builder-id", ""),
            id=values.get("id", ""),
            string=values.get("string", ""),
            files=tuple(files_of[(build, index)]),
        )
        for (build, index), values in sorted(fields_of.items())
    )
    return "\n".join(messages), artifacts


def bakehouse_executable() -> str:
    """The ``bakehouse`` next to the running Python, else the one on PATH."""
    beside = Path(sys.executable).parent / "bakehouse"
    if beside.exists():
        return str(beside)
    found = shutil.which("bakehouse")
    if found is None:
        raise FileNotFoundError("the bakehouse executable is not installed")
    return found


def run_build(
    template: str | os.PathLike[str],
    *,
    vars: dict[str, str] | None = None,
    args: Sequence[str] = (),
    cwd: str | os.PathLike[str] | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 600,
) -> BuildResult:
    """Run ``bakehouse build -machine-readable`` on ``template`` (a file, a
    directory, or HCL text when it contains a newline, written to ``cwd``)."""
    directory = Path(cwd or os.getcwd())
    target = str(template)
    if "\n" in target:
        path = directory / "build.pkr.hcl"
        path.write_text(target)
        target = str(path)
    command = [bakehouse_executable(), "build", "-machine-readable"]
    for name, value in (vars or {}).items():
        command += ["-var", f"{name}={value}"]
    command += [*args, target]
    completed = subprocess.run(
        command, cwd=directory, env={**os.environ, **(env or {})},
        capture_output=True, text=True, timeout=timeout,
    )
    output, artifacts = parse_machine_output(completed.stdout)
    return BuildResult(completed.returncode, output, completed.stderr, artifacts)


# -- a local base image --------------------------------------------------------

BUSYBOX = next((p for p in ("/usr/bin/busybox", "/bin/busybox") if os.path.exists(p)), "")

_PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
    "builder:x:1000:1000:builder:/home/builder:/bin/sh\n"
)
_GROUP = "root:x:0:\nnogroup:x:65534:\nbuilder:x:1000:\n"


def busybox_rootfs_tar() -> bytes:
    """A minimal root filesystem: static busybox, its applet links, passwd/group, /tmp."""
    applets = subprocess.run([BUSYBOX, "--list-full"], capture_output=True, text=True, check=True).stdout.split()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        def directory(name: str, mode: int = 0o755) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)

        for name in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "root", "home",
                     "home/builder", "var", "proc", "sys", "dev"):
            directory(name)
        directory("tmp", 0o1777)
        tar.add(BUSYBOX, arcname="bin/busybox")
        for applet in applets:
            if applet in ("bin/busybox", "linuxrc"):
                continue
            info = tarfile.TarInfo(applet)
            info.type, info.linkname = tarfile.SYMTYPE, "/bin/busybox"
            tar.addfile(info)
        for name, text in (("etc/passwd", _PASSWD), ("etc/group", _GROUP)):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
