"""File transfer with the remote ``scp`` program (``ssh_file_transfer_method
= "scp"``): the classic rcp protocol spoken to ``scp -t`` (sink, for
uploads) and ``scp -f`` (source, for downloads) over an exec channel.

Records: ``C<mode> <size> <name>`` a file, ``D<mode> 0 <name>`` enter a
directory, ``E`` leave it; each is answered with one byte, 0 for OK or
1/2 followed by a message line. Private: :mod:`bakehouse.sdk.ssh` uses it.
"""

from __future__ import annotations

import os
import posixpath
import shlex
import shutil
import stat
import tempfile
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    import paramiko

CHUNK_SIZE = 32 * 1024


class ScpError(OSError):
    """The remote scp refused something (its message is the text)."""


def _read_line(channel: paramiko.Channel) -> bytes:
    line = bytearray()
    while True:
        byte = channel.recv(1)
        if not byte:
            raise ScpError("the remote scp ended the session")
        if byte == b"\n":
            return bytes(line)
        line += byte


def _expect_ok(channel: paramiko.Channel) -> None:
    code = channel.recv(1)
    if code == b"\x00":
        return
    if not code:
        raise ScpError(_exit_reason(channel))
    raise ScpError(_read_line(channel).decode(errors="replace").strip() or "scp error")


def _exit_reason(channel: paramiko.Channel) -> str:
    status = channel.recv_exit_status()
    if status == 127:
        return "scp is not installed on the machine (exit status 127)"
    return f"the remote scp exited with status {status}"


def _open(transport: paramiko.Transport, command: str) -> paramiko.Channel:
    channel = transport.open_session()
    channel.exec_command(command)
    return channel


def _send_file(channel: paramiko.Channel, name: str, src: BinaryIO, size: int, mode: int) -> None:
    channel.sendall(f"C{mode & 0o7777:04o} {size} {name}\n".encode())
    _expect_ok(channel)
    remaining = size
    while remaining > 0:
        chunk = src.read(min(CHUNK_SIZE, remaining))
        if not chunk:
            raise ScpError(f"{name}: the source ended {remaining} bytes early")
        channel.sendall(chunk)
        remaining -= len(chunk)
    channel.sendall(b"\x00")
    _expect_ok(channel)


def _finish(channel: paramiko.Channel) -> None:
    channel.shutdown_write()
    status = channel.recv_exit_status()
    channel.close()
    if status != 0:
        raise ScpError(f"the remote scp exited with status {status}")


def upload(transport: paramiko.Transport, dst: str, src: BinaryIO, size: int | None, mode: int) -> None:
    """Write ``src`` to the file ``dst`` on the machine (its directory must exist)."""
    if size is None:
        # the protocol sends the size first: spool a stream of unknown length
        with tempfile.TemporaryFile() as spool:
            shutil.copyfileobj(src, spool, CHUNK_SIZE)
            size = spool.tell()
            spool.seek(0)
            upload(transport, dst, spool, size, mode)
        return
    # The sink is given the file's own path (not its directory, which a
    # single-file sink would take as the file's name if it did not exist).
    channel = _open(transport, f"scp -t -- {shlex.quote(dst)}")
    try:
        _expect_ok(channel)
        _send_file(channel, posixpath.basename(dst), src, size, mode)
        _finish(channel)
    finally:
        channel.close()


def upload_dir(transport: paramiko.Transport, dst: str, src: str, exclude: Callable[[str], bool]) -> None:
    """Copy the local directory ``src`` under ``dst`` (rsync's rule: ``src/``
    copies its contents, ``src`` the directory itself)."""
    base = os.path.normpath(src)
    mkdir = _open(transport, f"mkdir -p -- {shlex.quote(dst)}")
    if mkdir.recv_exit_status() != 0:
        raise ScpError(f"cannot create {dst}")
    mkdir.close()
    channel = _open(transport, f"scp -r -t -- {shlex.quote(dst)}")
    try:
        _expect_ok(channel)

        def send_dir(path: str, rel: str) -> None:
            for name in sorted(os.listdir(path)):
                local = os.path.join(path, name)
                rel_name = f"{rel}/{name}" if rel else name
                if exclude(rel_name):
                    continue
                info = os.stat(local)
                if stat.S_ISDIR(info.st_mode):
                    channel.sendall(f"D{stat.S_IMODE(info.st_mode):04o} 0 {name}\n".encode())
                    _expect_ok(channel)
                    send_dir(local, rel_name)
                    channel.sendall(b"E\n")
                    _expect_ok(channel)
                else:
                    with open(local, "rb") as fh:
                        _send_file(channel, name, fh, info.st_size, stat.S_IMODE(info.st_mode))

        if src.endswith("/"):
            send_dir(base, "")
        else:
            mode = stat.S_IMODE(os.stat(base).st_mode)
            channel.sendall(f"D{mode:04o} 0 {os.path.basename(base)}\n".encode())
            _expect_ok(channel)
            send_dir(base, "")
            channel.sendall(b"E\n")
            _expect_ok(channel)
        _finish(channel)
    finally:
        channel.close()


def _receive_records(
    channel: paramiko.Channel,
    on_file: Callable[[list[str], str, int, int], tuple[BinaryIO | None, bool]],
    on_dir: Callable[[list[str], str, int], bool],
) -> None:
    """Read a source's records; ``on_file(dirs, name, size, mode)`` returns
    where to write (None: read and discard) and whether to close it after,
    ``on_dir`` whether to keep what the directory holds."""
    dirs: list[str] = []
    skipping: list[bool] = []
    channel.sendall(b"\x00")
    while True:
        code = channel.recv(1)
        if not code:
            break
        if code in (b"\x01", b"\x02"):
            raise ScpError(_read_line(channel).decode(errors="replace").strip())
        line = (code + _read_line(channel)).decode(errors="replace")
        kind = line[0]
        if kind == "E":
            dirs.pop()
            skipping.pop()
            channel.sendall(b"\x00")
            continue
        if kind == "T":  # times: not asked for, but harmless
            channel.sendall(b"\x00")
            continue
        mode_text, size_text, name = line[1:].split(" ", 2)
        mode, size = int(mode_text, 8), int(size_text)
        if name in ("", ".", "..") or "/" in name:
            raise ScpError(f"the remote scp sent an unsafe name {name!r}")
        if kind == "D":
            keep = not (skipping and skipping[-1]) and on_dir(dirs, name, mode)
            dirs.append(name)
            skipping.append(not keep)
            channel.sendall(b"\x00")
            continue
        if kind != "C":
            raise ScpError(f"unexpected scp record {line!r}")
        target, owned = (None, False) if (skipping and skipping[-1]) else on_file(dirs, name, size, mode)
        channel.sendall(b"\x00")
        remaining = size
        try:
            while remaining > 0:
                chunk = channel.recv(min(CHUNK_SIZE, remaining))
                if not chunk:
                    raise ScpError(f"{name}: the connection ended {remaining} bytes early")
                if target is not None:
                    target.write(chunk)
                remaining -= len(chunk)
        finally:
            if target is not None and owned:
                target.close()
        _expect_ok(channel)
        channel.sendall(b"\x00")
    status = channel.recv_exit_status()
    if status != 0:
        raise ScpError(f"the remote scp exited with status {status}")


def download(transport: paramiko.Transport, src: str, dst: BinaryIO) -> None:
    """Copy the machine's file ``src`` into ``dst``."""
    channel = _open(transport, f"scp -f -- {shlex.quote(src)}")
    try:
        received: list[str] = []

        def on_file(dirs: list[str], name: str, size: int, mode: int) -> tuple[BinaryIO, bool]:
            received.append(name)
            return dst, False

        def on_dir(dirs: list[str], name: str, mode: int) -> bool:
            raise ScpError(f"{src} is a directory")

        _receive_records(channel, on_file, on_dir)
        if not received:
            raise ScpError(f"{src}: nothing received")
    finally:
        channel.close()


def download_dir(transport: paramiko.Transport, src: str, dst: str, exclude: Callable[[str], bool]) -> None:
    """Copy the machine's directory ``src`` under ``dst`` (rsync's rule as
    :func:`upload_dir`)."""
    contents_only = src.endswith("/")
    channel = _open(transport, f"scp -r -f -- {shlex.quote(src.rstrip('/') or '/')}")
    os.makedirs(dst, exist_ok=True)

    def local_path(dirs: Sequence[str], name: str) -> tuple[str, str]:
        parts = list(dirs[1:] if contents_only else dirs) + [name]
        rel = "/".join(list(dirs[1:]) + [name])
        return os.path.join(dst, *parts), rel

    def on_dir(dirs: list[str], name: str, mode: int) -> bool:
        if not dirs:  # the top directory itself
            if not contents_only:
                os.makedirs(os.path.join(dst, name), exist_ok=True)
            return True
        path, rel = local_path(dirs, name)
        if exclude(rel):
            return False
        os.makedirs(path, exist_ok=True)
        return True

    def on_file(dirs: list[str], name: str, size: int, mode: int) -> tuple[BinaryIO | None, bool]:
        path, rel = local_path(dirs, name)
        if dirs and exclude(rel):
            return None, False
        handle = open(path, "wb")  # noqa: SIM115 - closed by _receive_records
        os.chmod(path, mode & 0o7777)
        return handle, True

    try:
        _receive_records(channel, on_file, on_dir)
    finally:
        channel.close()
