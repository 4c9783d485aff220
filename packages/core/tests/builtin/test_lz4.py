"""The pure-Python LZ4 frame writer, checked by the real ``lz4`` tool."""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest
from bakehouse.builtin._lz4 import BLOCK_SIZE, LZ4FrameWriter, xxh32
from bakehouse.testing import require


def test_xxh32_known_values() -> None:
    # Published test values of xxHash32 (seed 0).
    assert xxh32(b"") == 0x02CC5D05
    assert xxh32(b"a") == 0x550D7456
    assert xxh32(b"abc") == 0x32D153FF
    assert xxh32(b"Nobody inspects the spammish repetition") == 0xE2293B2F


_RNG = random.Random(11)
CASES = {
    "empty": b"",
    "shorter than a match limit": b"hello, lz4!",
    "one byte repeated": b"a" * (3 * BLOCK_SIZE + 17),  # long matches, several blocks
    "random": _RNG.randbytes(BLOCK_SIZE + 100),  # stored blocks
    "long literal runs then matches": _RNG.randbytes(300) + b"xyzw" * 100 + _RNG.randbytes(20),
    "block boundary": b"ab" * (BLOCK_SIZE // 2) + b"c" * 13,
    "text": b"".join(_RNG.choice([b"bake ", b"house ", b"image\n", _RNG.randbytes(3)]) for _ in range(40000)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_frames_decode_with_the_lz4_tool(name: str, tmp_path: Path) -> None:
    require(shutil.which("lz4") is not None, "the lz4 command (apt package lz4)")
    data = CASES[name]
    path = tmp_path / "out.lz4"
    with LZ4FrameWriter(path.open("wb")) as writer:
        for start in range(0, len(data), 10_000):  # writes that straddle blocks
            writer.write(data[start : start + 10_000])
        assert writer.tell() == len(data)
    decoded = subprocess.run(["lz4", "-d", "-c", str(path)], capture_output=True, check=True)
    assert decoded.stdout == data
    if name in ("one byte repeated", "text"):  # about what `lz4 -1` makes of them
        assert path.stat().st_size < len(data) // 2
