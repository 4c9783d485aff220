"""The ``compress`` post-processor: packs the artifact's files into one archive.

The format follows the output's extension (or ``format``): ``.tar``, ``.zip``,
a tar compressed with gzip, BGZF, xz, bzip2 or lz4 (``.tar.gz``/``.tgz``,
``.tar.bgzf``, ``.tar.xz``/``.txz``, ``.tar.bz2``/``.tbz2``, ``.tar.lz4``), or
one file compressed alone (``.gz``, ``.bgzf``, ``.xz``, ``.bz2``, ``.lz4``). As
in Packer, an output with no such extension (``box.img``, ``artifact.box``)
gets a tar compressed with gzip. lz4 is an LZ4 frame written by the ``lz4``
package (imported when used). Files are streamed, never read whole.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import shutil
import struct
import tarfile
import zipfile
import zlib
from typing import Any

from pydantic import field_validator

from bakehouse.builtin._files_artifact import FilesArtifact
from bakehouse.builtin._placeholders import expand
from bakehouse.sdk.artifact import Artifact
from bakehouse.sdk.components import BuildInfo, PostProcessor
from bakehouse.sdk.config import Config, ConfigError
from bakehouse.sdk.context import Context
from bakehouse.sdk.ui import Ui

BUILDER_ID = "packer.post-processor.compress"
_CHUNK = 1024 * 1024


class CompressConfig(Config):
    output: str = "packer_{{.BuildName}}_{{.BuilderType}}.tar.gz"
    compression_level: int = 6
    format: str = ""

    @field_validator("compression_level")
    @classmethod
    def _level(cls, value: int) -> int:
        # As Packer: 0 and -1 mean the default (6), anything above 9 is 9.
        if value in (0, -1):
            return 6
        if value < -1:
            raise ValueError("compression_level must be between 1 and 9 (0 or -1: the default, 6)")
        return min(value, 9)


#: Archive containers and single-stream compressions, as Packer combines them:
#: ``.tar.xz`` is a tar archive compressed with xz, ``.xz`` one compressed file.
_ARCHIVES = ("tar", "zip")
#: Shorthand suffixes for a compressed tar archive.
_TAR_SHORTHANDS = {".tgz": "tar.gz", ".txz": "tar.xz", ".tbz2": "tar.bz2", ".tbz": "tar.bz2"}
_FORMATS = (
    "tar", "zip", "tar.gz", "gz", "tar.bgzf", "bgzf", "tar.xz", "xz", "tar.bz2", "bz2",
    "tar.lz4", "lz4",
)
#: Packer's choice for an output whose extension names no format.
_DEFAULT_FORMAT = "tar.gz"


def _format_of(output: str, explicit: str) -> str:
    """The format name (one of :data:`_FORMATS`) from ``format`` or the output's suffix."""
    if explicit:
        kind = _TAR_SHORTHANDS.get("." + explicit, explicit)
        if kind not in _FORMATS:
            raise ValueError(f"unknown format {explicit!r} (known: {', '.join(_FORMATS)})")
    else:
        kind = ""
        for suffix, shorthand in _TAR_SHORTHANDS.items():
            if output.endswith(suffix):
                kind = shorthand
        for candidate in sorted(_FORMATS, key=len, reverse=True):
            if not kind and output.endswith("." + candidate):
                kind = candidate
        if not kind:
            kind = _DEFAULT_FORMAT
    return kind


class _BGZFWriter:
    """Blocked gzip (BGZF, the SAM/BAM specification's format, Packer's ``.bgzf``):
    gzip members of at most 64 KiB, each with a ``BC`` extra field holding its
    size, then the specification's empty end-of-file member. Any gzip reader
    reads it as one stream."""

    _DATA = 0xFF00  # uncompressed bytes per block: its deflate output always fits
    _EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")

    def __init__(self, raw: Any, level: int) -> None:
        self._raw = raw
        self._level = level
        self._pending = bytearray()
        self._written = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._pending += data
        self._written += len(data)
        while len(self._pending) >= self._DATA:
            self._block(bytes(self._pending[: self._DATA]))
            del self._pending[: self._DATA]
        return len(data)

    def tell(self) -> int:
        return self._written

    def _block(self, data: bytes) -> None:
        deflate = zlib.compressobj(self._level, zlib.DEFLATED, -15)
        body = deflate.compress(data) + deflate.flush()
        size = 18 + len(body) + 8  # header with the extra field, body, CRC and length
        header = b"\x1f\x8b\x08\x04\x00\x00\x00\x00\x00\xff\x06\x00BC\x02\x00" + struct.pack("<H", size - 1)
        self._raw.write(header + body + struct.pack("<II", zlib.crc32(data), len(data)))

    def close(self) -> None:
        try:
            if self._pending:
                self._block(bytes(self._pending))
                self._pending.clear()
            self._raw.write(self._EOF)
        finally:
            self._raw.close()

    def __enter__(self) -> _BGZFWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _open_compressed(path: str, compression: str, level: int) -> Any:
    """A binary file object writing ``path`` through ``compression``."""
    if compression == "gz":
        return gzip.open(path, "wb", compresslevel=level)
    if compression == "bgzf":
        return _BGZFWriter(open(path, "wb"), level)  # noqa: SIM115 (closed by the writer)
    if compression == "xz":
        return lzma.open(path, "wb", preset=level)
    if compression == "bz2":
        return bz2.open(path, "wb", compresslevel=level)
    if compression == "lz4":
        import lz4.frame

        # Levels below 3 are LZ4's fast mode, 3 and above its high-compression mode.
        return lz4.frame.open(path, "wb", compression_level=level)
    return open(path, "wb")  # noqa: SIM115


class CompressPostProcessor(PostProcessor):
    config_schema = CompressConfig
    config: CompressConfig

    def prepare(self, config: dict[str, Any], build: BuildInfo) -> None:
        super().prepare(config, build)
        try:
            _format_of(self._output(), self.config.format)
        except ValueError as exc:
            raise ConfigError.single(str(exc), "format" if self.config.format else "output") from None

    def _output(self) -> str:
        return expand(
            self.config.output,
            {"BuildName": self.build.name, "BuilderType": self.build.builder_type},
        )

    def post_process(self, ui: Ui, artifact: Artifact, ctx: Context) -> tuple[Artifact, bool, bool]:
        output = self._output()
        kind = _format_of(output, self.config.format)
        files = artifact.files
        if not files:
            raise RuntimeError("the artifact has no files to compress")
        directory = os.path.dirname(output)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if not self.config.format and not output.endswith(("." + kind, *_TAR_SHORTHANDS)):
            ui.say(f"{output} names no archive format: writing a tar compressed with gzip, as Packer")
        ui.say(f"Compressing {len(files)} file(s) into {output}")
        level = self.config.compression_level
        archive_kind, _, compression = kind.partition(".")
        if archive_kind not in _ARCHIVES:
            archive_kind, compression = "", kind
        if not archive_kind and len(files) != 1:
            raise RuntimeError(
                f"{output}: .{kind} holds a single file and the artifact has {len(files)}; "
                f"use .tar.{kind} for several"
            )
        if archive_kind == "zip":
            with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
                for path in files:
                    ctx.check()
                    archive.write(path, path)  # as Packer: zip keeps the path, tar the base name
        elif archive_kind == "tar":
            with _open_compressed(output, compression, level) as stream, tarfile.open(
                fileobj=stream, mode="w"
            ) as archive:
                for path in files:
                    ctx.check()
                    archive.add(path, os.path.basename(path))
        else:
            with open(files[0], "rb") as src, _open_compressed(output, compression, level) as dst:
                shutil.copyfileobj(src, dst, _CHUNK)
        # As Packer: no id, the archive as the only file.
        result = FilesArtifact(BUILDER_ID, [output], f"compressed artifacts in: {output}")
        return result, False, False
