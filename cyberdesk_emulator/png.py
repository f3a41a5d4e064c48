"""Tiny PNG screenshots generated with ``zlib`` and ``struct`` (no imaging dependency).

A screenshot of step *n* is a 160x100 RGB image: a title bar and *n* bars (at most 20), so two
steps' pictures differ visibly and a test can tell them apart by their bytes.
"""

from __future__ import annotations

import struct
import zlib

WIDTH = 160
HEIGHT = 100
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def _pixel(x: int, y: int, step: int) -> bytes:
    if y < 14:
        return b"\x1f\x4e\x79"  # title bar
    bars = min(step, 20)
    column = x // 8
    if column < bars and 30 <= y < 90 and x % 8 < 6:
        return b"\x2e\x9e\x4f"
    return b"\xf2\xf2\xf2"


def screenshot_png(step: int) -> bytes:
    """PNG bytes of the simulated screenshot taken at ``step`` (1-based)."""
    rows = bytearray()
    for y in range(HEIGHT):
        rows.append(0)  # filter type "None"
        for x in range(WIDTH):
            rows += _pixel(x, y, step)
    header = struct.pack(">IIBBBBB", WIDTH, HEIGHT, 8, 2, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(bytes(rows), 6))
        + _chunk(b"IEND", b"")
    )
