"""Small PNG images drawn in code, for tests and the demo's image files (no downloads)."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

Pixel = Callable[[int, int], tuple[int, int, int]]


def png(width: int, height: int, pixel: Pixel) -> bytes:
    """Encode an RGB image as PNG (8 bits per channel, no filter, one IDAT chunk)."""
    rows = b"".join(
        b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(width)) for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows, 9))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def bars(values: list[int], colour: tuple[int, int, int]) -> bytes:
    """Draw a bar chart (one bar per value, 0 to 10) on a white 120 x 80 canvas."""
    width, height = 120, 80
    step = width // max(len(values), 1)

    def pixel(x: int, y: int) -> tuple[int, int, int]:
        bar = min(x // step, len(values) - 1)
        top = height - values[bar] * (height - 8) // 10
        inside = x % step >= 3 and y >= top
        return colour if inside else (255, 255, 255)

    return png(width, height, pixel)


def shapes(kind: str, colour: tuple[int, int, int]) -> bytes:
    """Draw one filled shape ("circle", "square" or "triangle") on a white 96 x 96 canvas."""
    size = 96

    def pixel(x: int, y: int) -> tuple[int, int, int]:
        cx, cy = x - size // 2, y - size // 2
        inside = {
            "circle": cx * cx + cy * cy <= 34 * 34,
            "square": abs(cx) <= 30 and abs(cy) <= 30,
            "triangle": y >= 14 and y <= 82 and abs(cx) <= (y - 14) // 2,
        }[kind]
        return colour if inside else (255, 255, 255)

    return png(size, size, pixel)
