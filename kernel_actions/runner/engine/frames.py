"""The frame every message between the runner and a worker travels in: a 4-byte
big-endian length, then the message as compact JSON.

Stdlib only, without asyncio: :mod:`.spawning` writes a worker's first message with it
before the runner's event loop exists. :mod:`.protocol` reads and writes frames on it.
"""

from __future__ import annotations

import json
import struct
from typing import Any

__all__ = ["HEADER", "MAX_MESSAGE", "encode"]

#: Largest message accepted (a result over this fails the invocation instead).
MAX_MESSAGE = 256 * 1024 * 1024
HEADER = struct.Struct(">I")


#: Built once: ``json.dumps`` with options builds an encoder on every call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def encode(message: dict[str, Any]) -> bytes:
    body = _ENCODER.encode(message).encode()
    return HEADER.pack(len(body)) + body
