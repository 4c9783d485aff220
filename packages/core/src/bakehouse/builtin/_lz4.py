"""An LZ4 frame writer in pure Python, for the ``compress`` post-processor's ``.lz4``.

Neither Python's standard library nor Bakehouse's dependencies have an lz4
codec, and Packer's ``compress`` writes ``.lz4``/``.tar.lz4`` files, so this
module writes the LZ4 frame format (lz4_Frame_format.md, version 01) that the
``lz4`` tool and every LZ4 library read: independent blocks of at most 64 KiB,
each compressed by a greedy matcher (LZ4 block format: 4-byte minimum match,
offsets up to 65535, the last 5 bytes of a block literal, no match starting in
its last 12) or stored as is when that is not smaller. No block or content
checksums (the frame header says so), as ``lz4 --no-frame-crc`` writes.

It trades ratio for simplicity and runs at interpreter speed: a few MB/s on
text-like data, faster on data that does not compress (the matcher skips ahead
further after each miss, as LZ4's acceleration does).
"""

from __future__ import annotations

import struct
from typing import BinaryIO

MAGIC = 0x184D2204
BLOCK_SIZE = 64 * 1024
#: FLG: version 01, independent blocks, no checksums, no content size, no dictionary.
_FLG = 0b0110_0000
#: BD: block maximum size 64 KiB (code 4).
_BD = 4 << 4
_UNCOMPRESSED = 0x8000_0000
_MIN_MATCH = 4
_LAST_LITERALS = 5
_MF_LIMIT = 12
_MAX_OFFSET = 0xFFFF
_SKIP_TRIGGER = 6

_P1, _P2, _P3, _P4, _P5 = 2654435761, 2246822519, 3266489917, 668265263, 374761393
_M32 = 0xFFFF_FFFF


def _rotl(value: int, bits: int) -> int:
    return ((value << bits) | (value >> (32 - bits))) & _M32


def xxh32(data: bytes, seed: int = 0) -> int:
    """xxHash32 of ``data`` (the frame header's checksum uses it)."""
    length = len(data)
    index = 0
    if length >= 16:
        v1 = (seed + _P1 + _P2) & _M32
        v2 = (seed + _P2) & _M32
        v3 = seed & _M32
        v4 = (seed - _P1) & _M32
        while index <= length - 16:
            a, b, c, d = struct.unpack_from("<4I", data, index)
            v1 = (_rotl((v1 + a * _P2) & _M32, 13) * _P1) & _M32
            v2 = (_rotl((v2 + b * _P2) & _M32, 13) * _P1) & _M32
            v3 = (_rotl((v3 + c * _P2) & _M32, 13) * _P1) & _M32
            v4 = (_rotl((v4 + d * _P2) & _M32, 13) * _P1) & _M32
            index += 16
        acc = (_rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)) & _M32
    else:
        acc = (seed + _P5) & _M32
    acc = (acc + length) & _M32
    while index <= length - 4:
        (word,) = struct.unpack_from("<I", data, index)
        acc = (_rotl((acc + word * _P3) & _M32, 17) * _P4) & _M32
        index += 4
    while index < length:
        acc = (_rotl((acc + data[index] * _P5) & _M32, 11) * _P1) & _M32
        index += 1
    acc ^= acc >> 15
    acc = (acc * _P2) & _M32
    acc ^= acc >> 13
    acc = (acc * _P3) & _M32
    return acc ^ (acc >> 16)


def _length_bytes(extra: int, out: bytearray) -> None:
    """The 255-run encoding of a literal or match length beyond its 4 token bits."""
    while extra >= 255:
        out.append(255)
        extra -= 255
    out.append(extra)


def compress_block(src: bytes) -> bytes:
    """``src`` (at most 64 KiB) in the LZ4 block format."""
    size = len(src)
    out = bytearray()
    anchor = 0
    if size > _MF_LIMIT:
        table: dict[bytes, int] = {}
        last_start = size - _MF_LIMIT  # no match starts at or after this
        last_end = size - _LAST_LITERALS  # no match reaches past this
        pos = 0
        misses = 0
        while pos < last_start:
            key = src[pos : pos + _MIN_MATCH]
            candidate = table.get(key)
            table[key] = pos
            if candidate is None or pos - candidate > _MAX_OFFSET:
                misses += 1
                pos += 1 + (misses >> _SKIP_TRIGGER)
                continue
            misses = 0
            # Grow the match backwards over pending literals, then forwards.
            while pos > anchor and candidate > 0 and src[pos - 1] == src[candidate - 1]:
                pos -= 1
                candidate -= 1
            length = _MIN_MATCH
            while pos + length + 32 <= last_end and (
                src[pos + length : pos + length + 32] == src[candidate + length : candidate + length + 32]
            ):
                length += 32
            while pos + length < last_end and src[pos + length] == src[candidate + length]:
                length += 1
            literals = pos - anchor
            token_literals = min(literals, 15)
            token_match = min(length - _MIN_MATCH, 15)
            out.append((token_literals << 4) | token_match)
            if token_literals == 15:
                _length_bytes(literals - 15, out)
            out += src[anchor:pos]
            out += (pos - candidate).to_bytes(2, "little")
            if token_match == 15:
                _length_bytes(length - _MIN_MATCH - 15, out)
            pos += length
            anchor = pos
            if pos - 2 < last_start:
                table[src[pos - 2 : pos + 2]] = pos - 2
    literals = size - anchor
    out.append(min(literals, 15) << 4)
    if literals >= 15:
        _length_bytes(literals - 15, out)
    out += src[anchor:]
    return bytes(out)


class LZ4FrameWriter:
    """A write-only binary stream writing one LZ4 frame to ``raw``.

    ``close`` ends the frame (and closes ``raw``); use it as a context manager.
    """

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._pending = bytearray()
        self._written = 0
        self.closed = False
        descriptor = bytes((_FLG, _BD))
        header_checksum = (xxh32(descriptor) >> 8) & 0xFF
        raw.write(struct.pack("<I", MAGIC) + descriptor + bytes((header_checksum,)))

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        """Uncompressed bytes written so far (tarfile asks)."""
        return self._written

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self.closed:
            raise ValueError("write to a closed LZ4 frame")
        self._pending += data
        self._written += len(data)
        while len(self._pending) >= BLOCK_SIZE:
            self._block(bytes(self._pending[:BLOCK_SIZE]))
            del self._pending[:BLOCK_SIZE]
        return len(data)

    def flush(self) -> None:
        self._raw.flush()

    def _block(self, block: bytes) -> None:
        packed = compress_block(block)
        if len(packed) < len(block):
            self._raw.write(struct.pack("<I", len(packed)) + packed)
        else:
            self._raw.write(struct.pack("<I", len(block) | _UNCOMPRESSED) + block)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            if self._pending:
                self._block(bytes(self._pending))
                self._pending.clear()
            self._raw.write(struct.pack("<I", 0))  # end mark
        finally:
            self._raw.close()

    def __enter__(self) -> LZ4FrameWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
