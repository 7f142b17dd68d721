"""A screen capture to PNG, holding one frame: the capture itself.

A capture comes as BGRA rows (X11's pixel order, what ``mss`` grabs). Turning it into RGB
for an encoder, then into PNG scanlines, then keeping the raw pixels to tell whether the
next capture changed, held four or five frames at once: for a large screen, gigabytes.
Here each row is converted and compressed on its own (one row of RGB at a time beside
the capture and the compressed bytes), and a capture is remembered by a digest of its
pixels, not a copy.
"""

from __future__ import annotations

import hashlib
import struct
import zlib

__all__ = ["bgra_to_png", "frame_digest"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def bgra_to_png(raw: bytes | bytearray | memoryview, width: int, height: int,
                level: int = 1) -> bytes:
    """The PNG (8-bit RGB) of ``width`` × ``height`` BGRA pixels, row by row."""
    stride = width * 4
    if len(raw) < stride * height:
        raise ValueError(f"{len(raw)} bytes hold no {width}x{height} BGRA frame")
    view = memoryview(raw).cast("B")
    compressor = zlib.compressobj(level)
    parts: list[bytes] = []
    row = bytearray(1 + width * 3)  # filter byte 0 (none), then RGB
    for y in range(height):
        line = view[y * stride:(y + 1) * stride]
        row[1::3] = line[2::4]
        row[2::3] = line[1::4]
        row[3::3] = line[0::4]
        out = compressor.compress(row)
        if out:
            parts.append(out)
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"".join((_SIGNATURE, _chunk(b"IHDR", header), _chunk(b"IDAT", b"".join(parts)),
                     _chunk(b"IEND", b"")))


def frame_digest(raw: bytes | bytearray | memoryview) -> bytes:
    """What tells two captures apart without keeping one of them."""
    return hashlib.blake2b(raw, digest_size=16).digest()
