"""Ids in Kernel's style, shared by in-process invocations and the runner."""

from __future__ import annotations

import os
import string

__all__ = ["new_id"]

_ID_ALPHABET = string.ascii_lowercase + string.digits
#: Maps each random byte to one of the 36 characters (a negligible bias: 256 = 7 * 36 + 4).
_ID_TABLE = bytes(ord(_ID_ALPHABET[i % 36]) for i in range(256))


def new_id() -> str:
    """An id in Kernel's style: 24 lowercase alphanumerics, from the OS's random source."""
    return os.urandom(24).translate(_ID_TABLE).decode()
