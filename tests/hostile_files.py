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


def decoders_disagree(data: bytes) -> bytes:
    """The file with one byte of its entropy-coded data deleted, at the first place where libjpeg (jpeglib)
    and libjpeg-turbo (Pillow) recover differently: their luma planes are not the same image."""
    from dejpeg.codec import decode_luma, read_coefficients
    from dejpeg.jpeg import luma_matches

    start = data.index(b"\xff\xda") + 2 + int.from_bytes(data[data.index(b"\xff\xda") + 2 :][:2], "big")
    for at in range(start, min(len(data) - 2, start + 200)):
        bad = data[:at] + data[at + 1 :]
        if not luma_matches(read_coefficients(bad), decode_luma(bad)):
            return bad
    raise AssertionError("no one-byte deletion makes the decoders disagree")


def truncated_scan(data: bytes) -> bytes:
    """The file cut 100 bytes into its image data, then closed with EOI: both decoders fill in the rest, warning."""
    return data[: data.index(b"\xff\xda") + 100] + b"\xff\xd9"
