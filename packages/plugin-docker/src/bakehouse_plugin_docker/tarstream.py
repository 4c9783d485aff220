"""Tar archives as streams, for the Engine API's archive endpoints.

``put_archive`` takes a tar body and ``get_archive`` returns one. Files may
be gigabytes, so archives are produced as generators of chunks (a header,
then the file's bytes read piece by piece, then padding) and consumed through
a file-like reader over the response chunks: nothing holds a whole file.
"""

from __future__ import annotations

import fnmatch
import os
import stat
import tarfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import BinaryIO

CHUNK_SIZE = 256 * 1024
_BLOCK = tarfile.BLOCKSIZE


class ShortSourceError(ValueError):
    """The source stream ended before the size announced for it."""


@dataclass(frozen=True)
class Owner:
    """uid/gid written into every uploaded entry (the engine keeps them)."""

    uid: int = 0
    gid: int = 0


def _header(info: tarfile.TarInfo) -> bytes:
    # PAX headers carry long names and large sizes; the engine reads them.
    return info.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8", errors="surrogateescape")


def _padding(size: int) -> bytes:
    remainder = size % _BLOCK
    return b"\0" * (_BLOCK - remainder) if remainder else b""


def _end_of_archive() -> bytes:
    return b"\0" * (2 * _BLOCK)


def _file_entry(name: str, source: BinaryIO, size: int, mode: int, owner: Owner, mtime: float) -> Iterator[bytes]:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = mode & 0o7777
    info.uid, info.gid = owner.uid, owner.gid
    info.mtime = int(mtime)
    yield _header(info)
    remaining = size
    while remaining > 0:
        chunk = source.read(min(CHUNK_SIZE, remaining))
        if not chunk:
            raise ShortSourceError(f"the upload of /{name.lstrip('/')} ended after {size - remaining} of {size} bytes")
        remaining -= len(chunk)
        yield chunk
    yield _padding(size)


def single_file_archive(
    name: str, source: BinaryIO, size: int, mode: int = 0o644, owner: Owner = Owner()
) -> Iterator[bytes]:
    """A tar stream holding one regular file ``name`` read from ``source``."""
    yield from _file_entry(name, source, size, mode, owner, time.time())
    yield _end_of_archive()


def _excluded(relative: str, exclude: Sequence[str]) -> bool:
    return any(
        fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(PurePosixPath(relative).name, pattern)
        for pattern in exclude
    )


def directory_archive(
    local_dir: str,
    prefix: str,
    exclude: Sequence[str] = (),
    owner: Owner = Owner(),
    root_mode: int | None = None,
) -> Iterator[bytes]:
    """A tar stream of the tree under ``local_dir``, each name under ``prefix``.

    ``prefix`` itself gets an entry (with ``root_mode``) only when
    ``root_mode`` is given: an existing destination such as ``/tmp`` must keep
    its own mode and owner, a copied directory takes the source's. Symbolic
    links are archived as links; sockets and devices are skipped.
    """
    if root_mode is not None:
        top = tarfile.TarInfo(prefix)
        top.type = tarfile.DIRTYPE
        top.mode = stat.S_IMODE(root_mode)
        top.mtime = int(time.time())
        top.uid, top.gid = owner.uid, owner.gid
        yield _header(top)
    for root, dirs, files in os.walk(local_dir):
        dirs.sort()
        relative_root = os.path.relpath(root, local_dir)
        kept_dirs = []
        for name in dirs:
            relative = os.path.normpath(os.path.join(relative_root, name))
            if _excluded(relative, exclude):
                continue
            path = os.path.join(root, name)
            if os.path.islink(path):
                yield from _link_entry(prefix, relative, path, owner)
                continue
            kept_dirs.append(name)
            info = tarfile.TarInfo(f"{prefix}/{relative}")
            info.type = tarfile.DIRTYPE
            st = os.stat(path)
            info.mode = stat.S_IMODE(st.st_mode)
            info.mtime = int(st.st_mtime)
            info.uid, info.gid = owner.uid, owner.gid
            yield _header(info)
        dirs[:] = kept_dirs
        for name in sorted(files):
            relative = os.path.normpath(os.path.join(relative_root, name))
            if _excluded(relative, exclude):
                continue
            path = os.path.join(root, name)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                yield from _link_entry(prefix, relative, path, owner)
            elif stat.S_ISREG(st.st_mode):
                with open(path, "rb") as source:
                    yield from _file_entry(f"{prefix}/{relative}", source, st.st_size, st.st_mode, owner, st.st_mtime)
    yield _end_of_archive()


def _link_entry(prefix: str, relative: str, path: str, owner: Owner) -> Iterator[bytes]:
    info = tarfile.TarInfo(f"{prefix}/{relative}")
    info.type = tarfile.SYMTYPE
    info.linkname = os.readlink(path)
    info.uid, info.gid = owner.uid, owner.gid
    yield _header(info)


class ChunkReader:
    """A read-only file object over an iterator of byte chunks (a response body)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = b""
        self._done = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            parts = [self._buffer]
            parts.extend(self._chunks)
            self._buffer = b""
            return b"".join(parts)
        while len(self._buffer) < size and not self._done:
            try:
                self._buffer += next(self._chunks)
            except StopIteration:
                self._done = True
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


def strip_first_component(name: str) -> str | None:
    """``dir/a/b`` -> ``a/b``; the top entry itself -> None."""
    parts = PurePosixPath(name).parts
    if parts and parts[0] in ("/", "."):
        parts = parts[1:]
    if len(parts) <= 1:
        return None
    return str(PurePosixPath(*parts[1:]))


def extract_stream(
    chunks: Iterable[bytes], destination: str, exclude: Sequence[str] = ()
) -> int:
    """Extract a ``get_archive`` tar of a directory into ``destination``.

    The archive's top entry is the remote directory itself; its contents land
    directly in ``destination``. Entries that would land outside
    ``destination`` (absolute names, ``..``, writes through a link) are
    refused by tarfile's ``tar`` filter; symbolic links themselves are kept as
    they are, absolute targets included, like ``cp -a``. Returns the number
    of entries written.
    """
    os.makedirs(destination, exist_ok=True)
    written = 0
    with tarfile.open(fileobj=ChunkReader(chunks), mode="r|") as archive:  # type: ignore[call-overload]
        for member in archive:
            relative = strip_first_component(member.name)
            if relative is None or _excluded(relative, exclude):
                continue
            member.name = relative
            if member.islnk():
                linked = strip_first_component(member.linkname)
                if linked is None:
                    continue
                member.linkname = linked
            archive.extract(member, destination, filter="tar")
            written += 1
    return written


def copy_single_file(chunks: Iterable[bytes], target: BinaryIO, remote_path: str) -> int:
    """Copy the one regular file of a ``get_archive`` tar into ``target``; return its size."""
    with tarfile.open(fileobj=ChunkReader(chunks), mode="r|") as archive:  # type: ignore[call-overload]
        member = archive.next()
        if member is None:
            raise FileNotFoundError(f"{remote_path}: the engine returned an empty archive")
        if member.isdir():
            raise IsADirectoryError(f"{remote_path} is a directory, not a file")
        if not member.isfile():
            raise OSError(f"{remote_path} is not a regular file")
        source = archive.extractfile(member)
        assert source is not None
        copied = 0
        while True:
            chunk = source.read(CHUNK_SIZE)
            if not chunk:
                break
            target.write(chunk)
            copied += len(chunk)
        return copied
