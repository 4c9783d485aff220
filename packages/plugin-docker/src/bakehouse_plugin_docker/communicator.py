"""The docker communicator: commands through ``exec``, files through tar streams.

Commands run as Engine API execs (``/bin/sh -c COMMAND``, as ``exec_user``);
stdout and stderr arrive demultiplexed and are handed on chunk by chunk. A
cancelled command is killed *inside the container* (every process carrying
the exec's marker variable), not merely abandoned, so a provisioner timeout
really stops the work.

Files and directories move through the archive endpoints (``put_archive`` /
``get_archive``) as tar streams produced and consumed chunk by chunk.
Ownership of uploads is written into the tar headers (``fix_upload_owner``),
which spares the extra ``chown`` exec Packer needs.
"""

from __future__ import annotations

import io
import logging
import os
import posixpath
import signal
import socket
import struct
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, BinaryIO

import docker
import docker.errors
from bakehouse.sdk import Cancelled, Communicator, Context, FileInfo
from bakehouse.sdk.communicator import OutputCallback
from docker.utils.socket import frames_iter

from bakehouse_plugin_docker.engine import (
    DockerEngineError,
    DockerPermanentError,
    engine_error,
    explain,
    shares_host_filesystem,
)
from bakehouse_plugin_docker.tarstream import (
    CHUNK_SIZE,
    Owner,
    ShortSourceError,
    copy_single_file,
    directory_archive,
    extract_stream,
    single_file_archive,
)

log = logging.getLogger("bakehouse.plugin.docker.communicator")

#: Environment variable set on every exec'd command; its value identifies the
#: command so that cancelling can find all of its processes in /proc.
EXEC_MARKER_ENV = "BAKEHOUSE_EXEC_ID"

# Run as root inside the container: signal every process whose environment
# holds the marker. Plain POSIX sh with tr/grep/kill (busybox has them all).
_KILL_SCRIPT = r"""
sig=$1; marker=$2
for d in /proc/[0-9]*; do
  if tr '\000' '\n' < "$d/environ" 2>/dev/null | grep -qx "$marker"; then
    kill -s "$sig" "${d#/proc/}" 2>/dev/null
  fi
done
true
"""

# Go's os.FileMode bits as the engine reports them in archive stat headers.
_GO_MODE_DIR = 1 << 31
_GO_MODE_SYMLINK = 1 << 27

_DEFAULT_INFO = FileInfo()

#: Seconds a cancelled command gets after SIGTERM before SIGKILL, and after
#: SIGKILL before the output stream is simply closed.
TERM_GRACE_SECONDS = 3.0
KILL_GRACE_SECONDS = 3.0
#: How long the engine gets to report a command's exit status once its output ended.
EXIT_STATUS_WAIT_SECONDS = 5.0


class DockerCommunicator(Communicator):
    """Talks to one running container."""

    def __init__(
        self,
        client: docker.DockerClient,
        container_id: str,
        *,
        exec_user: str = "",
        fix_upload_owner: bool = True,
        spool_dir: str | None = None,
        attrs: dict[str, Any] | None = None,
    ) -> None:
        """``attrs``: the container's inspection, when the caller has it (its
        ``Config`` gives the working directory and user); else asked on first need."""
        self.client = client
        self.container_id = container_id
        self.exec_user = exec_user
        self.fix_upload_owner = fix_upload_owner
        self.spool_dir = spool_dir
        self._owner: Owner | None = None
        self._attrs: dict[str, Any] | None = attrs
        self._owner_lock = threading.Lock()

    # ----------------------------------------------------------------- exec

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
        api = self.client.api
        marker = uuid.uuid4().hex
        try:
            exec_id = api.exec_create(
                self.container_id,
                ["/bin/sh", "-c", command],
                stdout=True,
                stderr=True,
                stdin=stdin is not None,
                user=self.exec_user,
                environment={EXEC_MARKER_ENV: marker},
            )["Id"]
            stream = api.exec_start(exec_id, socket=True)
        except docker.errors.APIError as exc:
            raise engine_error(
                f"Error running a command in container {self.container_id[:12]}: {explain(exc)}{self._stopped_hint()}",
                exc,
            ) from None
        raw: socket.socket = getattr(stream, "_sock", stream)
        # A command may stay silent for hours; only cancellation ends the wait.
        raw.settimeout(None)
        finished = threading.Event()
        ctx.on_cancel(
            lambda: threading.Thread(
                target=self._stop_exec, args=(exec_id, marker, raw, finished),
                name="docker-exec-stop", daemon=True,
            ).start()
        )
        writer = None
        if stdin is not None:
            writer = threading.Thread(target=_feed_stdin, args=(stdin, raw), name="docker-exec-stdin", daemon=True)
            writer.start()
        output_seen = False
        try:
            for stream_id, data in _exec_frames(stream):
                output_seen = True
                if stream_id == 2:
                    on_stderr(data)
                else:
                    on_stdout(data)
        except OSError:
            if not ctx.cancelled:
                raise
        finally:
            finished.set()
            try:
                stream.close()
                raw.close()
            except OSError:
                pass
        if ctx.cancelled:
            raise Cancelled(ctx.reason or "context canceled")
        status = self._exit_code(exec_id)
        if status in (126, 127) and not output_seen:
            self._report_exec_failure(on_stderr)
        return status

    def _report_exec_failure(self, on_stderr: OutputCallback) -> None:
        """Show why the engine could not start a command (exit 126/127, no output).

        The engine writes "unable to find user ..." or "exec: ...: no such file"
        before the multiplexed stream starts, so the streamed run loses it; an
        unstreamed run of ``/bin/sh -c true`` as the same user shows it again.
        """
        api = self.client.api
        try:
            probe = api.exec_create(self.container_id, ["/bin/sh", "-c", "true"], user=self.exec_user)["Id"]
            said = api.exec_start(probe)
            status = api.exec_inspect(probe).get("ExitCode")
        except docker.errors.APIError:
            return
        if status not in (126, 127):
            return
        text = (said.decode("utf-8", "replace") if isinstance(said, bytes) else str(said or "")).strip()
        if not text:
            # Some engines say nothing (an image without /etc/passwd, for one).
            who = f" as exec_user {self.exec_user!r}" if self.exec_user else ""
            text = (
                f"the engine could not start the command{who} (exit status {status}): "
                "check that the user and /bin/sh exist in the image"
            )
        on_stderr(text.encode() + b"\n")

    def _stopped_hint(self) -> str:
        """Why an exec failed when the container itself has stopped."""
        try:
            state = self.client.api.inspect_container(self.container_id).get("State") or {}
        except docker.errors.APIError:
            return ""
        if state.get("Running"):
            return ""
        return (
            f" (the container stopped, exit code {state.get('ExitCode')}; run_command must keep it "
            "running, as Packer's default -d -i -t --entrypoint=/bin/sh does)"
        )

    def _exit_code(self, exec_id: str) -> int:
        # The engine may still call the exec running for a moment after its
        # output ended: ask again at once, then less and less often (5 s in all).
        deadline = time.monotonic() + EXIT_STATUS_WAIT_SECONDS
        delay = 0.002
        while True:
            try:
                info = self.client.api.exec_inspect(exec_id)
            except docker.errors.APIError as exc:
                raise DockerEngineError(f"Error reading the exit status of a command: {explain(exc)}") from None
            if not info.get("Running") and info.get("ExitCode") is not None:
                return int(info["ExitCode"])
            if time.monotonic() >= deadline:
                raise DockerEngineError("the command's output ended but the engine never reported its exit status")
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def _stop_exec(self, exec_id: str, marker: str, raw: socket.socket, finished: threading.Event) -> None:
        """Stop a cancelled command: SIGTERM, then SIGKILL, then drop the stream."""
        if finished.is_set():
            return
        log.debug("cancelling exec %s", exec_id)
        self._signal_marked_processes(marker, "TERM")
        if finished.wait(TERM_GRACE_SECONDS):
            return
        self._signal_marked_processes(marker, "KILL")
        self._kill_from_host(exec_id)
        if finished.wait(KILL_GRACE_SECONDS):
            return
        try:
            raw.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _signal_marked_processes(self, marker: str, signal_name: str) -> None:
        try:
            self.client.containers.get(self.container_id).exec_run(
                ["/bin/sh", "-c", _KILL_SCRIPT, "bakehouse-kill", signal_name, f"{EXEC_MARKER_ENV}={marker}"],
                user="0",
            )
        except (docker.errors.APIError, OSError) as exc:
            log.debug("in-container kill failed: %s", exc)

    def _kill_from_host(self, exec_id: str) -> None:
        # Backstop for images without tr/grep/kill: the exec's host pid, which
        # we may signal when we share the engine's pid namespace and user. An
        # engine reached over TCP (DOCKER_HOST) reports pids of its own machine:
        # here that number may be any process of ours, so it is never signalled.
        if not shares_host_filesystem(self.client):
            log.debug("exec %s not killed from the host: the engine is remote", exec_id)
            return
        try:
            pid = int(self.client.api.exec_inspect(exec_id).get("Pid") or 0)
            if pid > 0:
                os.kill(pid, signal.SIGKILL)
        except (docker.errors.APIError, OSError, ValueError) as exc:
            log.debug("host kill of exec %s failed: %s", exec_id, exc)

    # ------------------------------------------------------------- uploads

    def upload(self, dst: str, src: BinaryIO, info: FileInfo = _DEFAULT_INFO) -> None:
        target = self._absolute(dst)
        if target == "/" or target.endswith("/"):
            raise IsADirectoryError(f"upload destination {dst!r} names a directory; give the file name")
        size = info.size
        spooled = None
        if size is None:
            # The tar header needs the size first: spool to disk, never to memory.
            spooled = tempfile.TemporaryFile(dir=self.spool_dir)
            size = _copy_stream(src, spooled)
            spooled.seek(0)
            src = spooled
        try:
            archive = single_file_archive(target.lstrip("/"), src, size, info.mode, self._upload_owner())
            self._put_archive(archive, f"uploading {dst}")
        except ShortSourceError:
            # The engine extracts as the bytes arrive: remove the truncated file.
            self._remove_partial(target)
            raise
        finally:
            if spooled is not None:
                spooled.close()

    def upload_dir(self, dst: str, src: str, exclude: Sequence[str] = ()) -> None:
        if not os.path.isdir(src):
            raise NotADirectoryError(f"upload source {src!r} is not a directory")
        target = self._absolute(dst).rstrip("/") or "/"
        owner = self._upload_owner()
        # rsync semantics: "dir/" copies the contents, "dir" the directory itself.
        if src.endswith("/"):
            prefix, root_mode = target, None
        else:
            prefix = posixpath.join(target, os.path.basename(os.path.normpath(src)))
            root_mode = os.stat(src).st_mode
        archive = directory_archive(src, prefix.lstrip("/") or ".", exclude, owner, root_mode=root_mode)
        self._put_archive(archive, f"uploading directory {src} to {dst}")

    def _remove_partial(self, path: str) -> None:
        try:
            self.client.containers.get(self.container_id).exec_run(["rm", "-f", "--", path], user="0")
        except (docker.errors.APIError, OSError) as exc:
            log.debug("could not remove the partial upload %s: %s", path, exc)

    def _put_archive(self, archive: Iterable[bytes], action: str) -> None:
        api = self.client.api
        try:
            # Not APIClient.put_archive: it cannot pass noOverwriteDirNonDir,
            # without which the engine would replace an existing directory
            # (say /tmp) by a file of the same name, as `docker cp` refuses to.
            response = api._put(
                api._url("/containers/{0}/archive", self.container_id),
                params={"path": "/", "noOverwriteDirNonDir": "true"},
                data=archive,
            )
            api._raise_for_status(response)
        except docker.errors.APIError as exc:
            raise engine_error(f"Error {action}: {explain(exc)}", exc) from None

    # ----------------------------------------------------------- downloads

    def download(self, src: str, dst: BinaryIO) -> None:
        path = self._absolute(src)
        for _ in range(16):
            chunks, stat = self._get_archive(path, f"downloading {src}")
            mode = int(stat.get("mode", 0))
            link = stat.get("linkTarget") or ""
            if mode & _GO_MODE_SYMLINK and link:
                _close(chunks)
                path = link if link.startswith("/") else posixpath.join(posixpath.dirname(path), link)
                continue
            if mode & _GO_MODE_DIR:
                _close(chunks)
                raise IsADirectoryError(
                    f"{src} is a directory in the container; end the source with / to download its contents"
                )
            copy_single_file(chunks, dst, src)
            return
        raise OSError(f"{src}: too many levels of symbolic links")

    def download_dir(self, src: str, dst: str, exclude: Sequence[str] = ()) -> None:
        path = self._absolute(src)
        target = dst if src.endswith("/") else os.path.join(dst, posixpath.basename(path.rstrip("/")))
        chunks, stat = self._get_archive(path.rstrip("/") or "/", f"downloading directory {src}")
        if not int(stat.get("mode", 0)) & _GO_MODE_DIR:
            _close(chunks)
            raise NotADirectoryError(f"{src} is not a directory in the container")
        extract_stream(chunks, target, exclude)

    def _get_archive(self, path: str, action: str) -> tuple[Iterable[bytes], dict[str, Any]]:
        try:
            chunks, stat = self.client.api.get_archive(self.container_id, path, chunk_size=CHUNK_SIZE)
        except docker.errors.NotFound:
            raise FileNotFoundError(f"{path}: no such file or directory in the container") from None
        except docker.errors.APIError as exc:
            raise engine_error(f"Error {action}: {explain(exc)}", exc) from None
        return chunks, stat

    # -------------------------------------------------------------- helpers

    def _container_attrs(self) -> dict[str, Any]:
        if self._attrs is None:
            try:
                self._attrs = self.client.api.inspect_container(self.container_id)
            except docker.errors.APIError as exc:
                raise DockerEngineError(f"Error inspecting container {self.container_id[:12]}: {explain(exc)}") from None
        return self._attrs

    def _absolute(self, path: str) -> str:
        if path.startswith("/"):
            return path
        workdir = (self._container_attrs().get("Config") or {}).get("WorkingDir") or "/"
        joined = posixpath.join(workdir, path)
        return posixpath.normpath(joined) + ("/" if path.endswith("/") else "")

    def _upload_owner(self) -> Owner:
        """Who owns uploaded files: ``exec_user`` (else the container's user, else root)."""
        if not self.fix_upload_owner:
            return Owner()
        with self._owner_lock:
            if self._owner is None:
                user = self.exec_user or (self._container_attrs().get("Config") or {}).get("User") or "root"
                # root needs no lookup (and images without /etc/passwd have only root).
                self._owner = Owner() if user in ("root", "0", "root:root", "0:0") else self._resolve_owner(user)
            return self._owner

    def _resolve_owner(self, user: str) -> Owner:
        name, _, group = user.partition(":")
        passwd = self._read_small_file("/etc/passwd") if not (name.isdigit() and group.isdigit()) else ""
        uid = gid = None
        if name.isdigit():
            uid = int(name)
            for fields in _colon_records(passwd):
                if len(fields) > 3 and fields[2] == name and fields[3].isdigit():
                    gid = int(fields[3])
                    break
        else:
            for fields in _colon_records(passwd):
                if len(fields) > 3 and fields[0] == name and fields[2].isdigit() and fields[3].isdigit():
                    uid, gid = int(fields[2]), int(fields[3])
                    break
        if uid is None:
            raise DockerPermanentError(
                f"fix_upload_owner: user {name!r} is not in the container's /etc/passwd; "
                "use a numeric uid[:gid] in exec_user or set fix_upload_owner = false"
            )
        if group:
            if group.isdigit():
                gid = int(group)
            else:
                gid = None
                for fields in _colon_records(self._read_small_file("/etc/group")):
                    if len(fields) > 2 and fields[0] == group and fields[2].isdigit():
                        gid = int(fields[2])
                        break
                if gid is None:
                    raise DockerPermanentError(f"fix_upload_owner: group {group!r} is not in the container's /etc/group")
        return Owner(uid, gid if gid is not None else uid)

    def _read_small_file(self, path: str) -> str:
        buffer = io.BytesIO()
        try:
            self.download(path, buffer)
        except (FileNotFoundError, DockerEngineError):
            return ""
        return buffer.getvalue().decode("utf-8", "replace")


def _colon_records(text: str) -> list[list[str]]:
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]


def _copy_stream(src: BinaryIO, dst: BinaryIO) -> int:
    total = 0
    while True:
        chunk = src.read(CHUNK_SIZE)
        if not chunk:
            return total
        dst.write(chunk)
        total += len(chunk)


def _exec_frames(stream: Any) -> Iterator[tuple[int, bytes]]:
    """The exec's output frames (stream id 1 stdout, 2 stderr), none empty.

    They are read through the HTTP response's buffered reader, not the bare
    socket the SDK hands back: the engine's first frames can come in the same
    packet as the response headers (over TCP most of all), and whatever
    http.client read past the headers waits in that buffer. Reading the
    socket alone lost a fast command's whole output now and then."""
    response = getattr(stream, "_response", None)
    reader = getattr(getattr(getattr(response, "raw", None), "_fp", None), "fp", None)
    if reader is None:  # not an HTTP response over a socket: nothing is buffered
        yield from ((sid, data) for sid, data in frames_iter(stream, tty=False) if data)
        return
    while True:
        header = reader.read(8)
        if len(header) < 8:
            return
        stream_id, length = struct.unpack(">BxxxL", header)
        data = reader.read(length) if length else b""
        if data:
            yield stream_id, data
        if len(data) < length:
            return


def _feed_stdin(stdin: BinaryIO, raw: socket.socket) -> None:
    try:
        while True:
            chunk = stdin.read(64 * 1024)
            if not chunk:
                break
            raw.sendall(chunk)
    except OSError as exc:
        log.debug("stdin of exec closed early: %s", exc)
    finally:
        try:
            raw.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def _close(chunks: Iterable[bytes]) -> None:
    close = getattr(chunks, "close", None)
    if close is not None:
        close()
