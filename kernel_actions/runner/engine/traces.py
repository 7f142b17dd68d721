"""Invocation traces in the store: every browser call an invocation made, one step a row.

A step is what the runner served for the invocation (a computer action, a screenshot, a
``playwright.execute``, a replay started or stopped, a browser created or deleted): its
kind, its browser, when it started and how long it took, what it was asked and what it
answered (``detail``, a JSON object), and for a screenshot the PNG the agent got.

Each invocation's trace is bounded: at most :data:`MAX_STEPS` steps and
:data:`MAX_TRACE_BYTES` bytes (details and images together). A screenshot that would go
over the budget is stepped without its image; a step past the last is counted, not kept.
Writes go through the store's batches (:meth:`.store.Store.execute`), so a step costs the
request that made it no disk wait.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass
from typing import Any

from ...timeutil import format_ns
from .store import Store

__all__ = ["MAX_STEPS", "MAX_TRACE_BYTES", "MAX_TEXT", "Traces", "clip"]

#: Steps kept per invocation.
MAX_STEPS = 2000
#: Bytes kept per invocation (step details and screenshots).
MAX_TRACE_BYTES = 24 * 1024 * 1024
#: Longest text kept in a step's detail (code, results, errors, typed text).
MAX_TEXT = 16 * 1024
#: Invocations whose counts are held in memory (the others are read back when they trace).
_HELD = 10_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS trace_steps (
    invocation_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    at_ns INTEGER NOT NULL,
    duration_ns INTEGER NOT NULL,
    kind TEXT NOT NULL,
    browser_id TEXT NOT NULL,
    detail TEXT NOT NULL,
    image BLOB,
    UNIQUE (invocation_id, step)
);
"""

_INSERT = ("INSERT OR REPLACE INTO trace_steps (invocation_id, step, at_ns, duration_ns, kind, "
           "browser_id, detail, image) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")


def clip(value: Any, limit: int = MAX_TEXT) -> Any:
    """``value`` with every string in it cut to ``limit`` characters (marked as cut)."""
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + f"… ({len(value)} chars)"
    if isinstance(value, dict):
        return {str(k): clip(v, limit) for k, v in list(value.items())[:200]}
    if isinstance(value, list):
        return [clip(v, limit) for v in value[:200]]
    return value


@dataclass
class _Budget:
    steps: int
    bytes: int
    dropped: int = 0


class Traces:
    """The traces of every invocation, in ``store`` (its table declared on creation)."""

    def __init__(self, store: Store, *, enabled: bool = True) -> None:
        self.store = store
        self.enabled = enabled
        store.declare_schema(_SCHEMA)
        self._budgets: dict[str, _Budget] = {}
        self._lock = threading.Lock()

    def _budget(self, invocation_id: str) -> _Budget:
        budget = self._budgets.get(invocation_id)
        if budget is None:  # a trace begun before a restart continues where it stopped
            rows = self.store.query(
                "SELECT COUNT(*), COALESCE(MAX(step), 0), COALESCE(SUM(LENGTH(detail)) + "
                "SUM(COALESCE(LENGTH(image), 0)), 0) FROM trace_steps WHERE invocation_id=?",
                (invocation_id,))
            budget = self._budgets[invocation_id] = _Budget(int(rows[0][1]), int(rows[0][2]))
            while len(self._budgets) > _HELD:  # the longest held goes first
                del self._budgets[next(iter(self._budgets))]
        return budget

    def add(self, invocation_id: str, kind: str, browser_id: str, *, started_ns: int,
            duration_ns: int, detail: dict[str, Any], image: bytes | None = None) -> int | None:
        """Record a step; returns its number (from 1), or ``None`` when the trace is full
        (or tracing is off)."""
        if not self.enabled:
            return None
        text = json.dumps(clip(detail), ensure_ascii=False, default=str)
        with self._lock:
            budget = self._budget(invocation_id)
            if budget.steps >= MAX_STEPS or budget.bytes + len(text) > MAX_TRACE_BYTES:
                budget.dropped += 1
                return None
            if image is not None and budget.bytes + len(text) + len(image) > MAX_TRACE_BYTES:
                image = None
                text = text[:-1] + (', ' if text != "{}" else "") + \
                    '"image_dropped": "over the trace\'s size budget"}'
            budget.steps += 1
            budget.bytes += len(text) + (len(image) if image is not None else 0)
            step = budget.steps
        done = self.store.execute(_INSERT, (invocation_id, step, started_ns, duration_ns, kind,
                                            browser_id, text, image))
        if isinstance(done, asyncio.Future):  # a failed write is the store's to log
            done.add_done_callback(lambda f: f.cancelled() or f.exception())
        return step

    def dropped(self, invocation_id: str) -> int:
        """Steps left out of the trace (over its bounds) since the runner started."""
        budget = self._budgets.get(invocation_id)
        return budget.dropped if budget is not None else 0

    def steps(self, invocation_id: str, after: int = 0) -> list[dict[str, Any]]:
        """The trace's steps in order (those numbered above ``after``), as the API gives them."""
        rows = self.store.query(
            "SELECT step, at_ns, duration_ns, kind, browser_id, detail, image IS NOT NULL "
            "FROM trace_steps WHERE invocation_id=? AND step>? ORDER BY step",
            (invocation_id, after))
        return [{
            "step": step, "kind": kind, "browser_id": browser_id,
            "started_at": format_ns(at_ns), "started_ns": at_ns,
            "duration_ms": round(duration_ns / 1e6, 3), **json.loads(detail),
            "has_screenshot": bool(has_image),
        } for step, at_ns, duration_ns, kind, browser_id, detail, has_image in rows]

    def screenshot(self, invocation_id: str, step: int) -> bytes | None:
        """The PNG kept at a step, or ``None``."""
        rows = self.store.query(
            "SELECT image FROM trace_steps WHERE invocation_id=? AND step=?",
            (invocation_id, step))
        return bytes(rows[0][0]) if rows and rows[0][0] is not None else None
