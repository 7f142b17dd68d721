"""Timestamps as the hosted API writes them: RFC 3339 with nanoseconds, UTC."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

__all__ = ["now_ns", "format_ns", "parse_since"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s|m|h|d)?\s*$")
_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
    "d": 86_400_000_000_000,
}


def now_ns() -> int:
    return time.time_ns()


def format_ns(ns: int) -> str:
    """``2024-05-19T15:30:00.123456789Z``."""
    seconds, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{frac:09d}Z"


def parse_since(value: str, *, now: int | None = None) -> int:
    """Nanoseconds since the epoch for ``since``: RFC 3339, or a duration ago like ``5m``.

    Raises ``ValueError`` with a message fit for a 400 answer.
    """
    m = _DURATION.match(value)
    if m:
        amount = float(m.group(1))
        too_large = ValueError(f"invalid 'since' {value[:40]!r}: the duration is too large "
                               "(it reaches back before 1678; give an RFC 3339 time instead)")
        try:
            ago = int(amount * _UNITS[m.group(2) or "s"])
        except (OverflowError, ValueError):  # 1e400 is inf as a float
            raise too_large from None
        at = (now if now is not None else now_ns()) - ago
        if not -_I64 <= at <= _I64:
            raise too_large
        return at
    text = value.strip()
    frac_ns = 0
    fm = re.match(r"^(.*T\d\d:\d\d:\d\d)\.(\d+)(.*)$", text)
    if fm:
        digits = fm.group(2)
        frac_ns = int(digits[:9].ljust(9, "0"))
        text = fm.group(1) + fm.group(3)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"invalid 'since' {value!r}: use an RFC 3339 time (2024-05-19T15:30:00Z) "
            f"or a duration like 5m, 2h, 30s"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return _clamp(int(dt.timestamp()) * 1_000_000_000 + frac_ns)


_I64 = 2**63 - 1


def _clamp(ns: int) -> int:
    """Keep a time within what SQLite's INTEGER holds (years 1678 to 2262)."""
    return max(-_I64, min(_I64, ns))
