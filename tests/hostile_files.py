"""Hostile JPEG files made from valid ones by editing bytes (shared by the jpeg, api and cli tests)."""

from __future__ import annotations


def zero_step(data: bytes, index: int = 10) -> bytes:
    """The file with entry ``index`` of its first quantization table (8-bit, slot 0) set to 0."""
    dqt = data.index(b"\xff\xdb")
    assert data[dqt + 4] == 0x00  # 8-bit table 0
    return data[: dqt + 5 + index] + b"\x00" + data[dqt + 6 + index :]


def with_size(data: bytes, height: int, width: int) -> bytes:
    """The file with its baseline frame header declaring another size."""
    sof = data.index(b"\xff\xc0")
    return data[: sof + 5] + height.to_bytes(2, "big") + width.to_bytes(2, "big") + data[sof + 9 :]
