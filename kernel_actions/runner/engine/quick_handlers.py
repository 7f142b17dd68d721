"""Blocking handlers quick enough to run on the worker's event loop instead of a thread.

A ``def`` handler runs in a handler thread (:mod:`kernel_actions.handler_threads`) so that
it can never stall the worker's loop. For one that returns in microseconds the hand-off
costs more than the handler: a thread woken, the GIL passed to it and back, the loop
woken in turn (the benchmarks' trivial action spent half its worker's time there). So a
handler that returned within :data:`QUICK_SECONDS` each of its last :data:`QUICK_RUNS`
times runs on the loop, when no ``async`` handler's invocation runs there: none can be
held up by it but those that arrive while it runs (and the results of blocking handlers
running beside it in threads, collected once it returns). One that then takes longer
goes back to threads until it has been quick that many times again.

On the loop the handler sees what a thread would show it: no running event loop
(``asyncio.run`` and Playwright's sync API work in it) and a copy of the context.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Hashable
from time import perf_counter
from typing import TypeVar

__all__ = ["QuickHandlers", "call_outside_loop", "QUICK_SECONDS", "QUICK_RUNS"]

#: Longest a run may take and still count as quick.
QUICK_SECONDS = 0.002
#: Quick runs in a row a handler needs before it runs on the loop.
QUICK_RUNS = 8

T = TypeVar("T")


class QuickHandlers:
    """How quick each blocking handler has been lately, by a key of the caller's choosing."""

    def __init__(self, seconds: float = QUICK_SECONDS, runs: int = QUICK_RUNS) -> None:
        self._seconds = seconds
        self._runs = runs
        #: Quick runs in a row (up to ``runs``), by key.
        self._streaks: dict[Hashable, int] = {}

    def is_quick(self, key: Hashable) -> bool:
        """Whether ``key``'s handler may run on the loop."""
        return self._streaks.get(key, 0) >= self._runs

    def timed(self, key: Hashable, fn: Callable[[], T]) -> Callable[[], T]:
        """``fn``, timed when called (in any thread): each call counts toward ``key``'s standing."""

        def run() -> T:
            start = perf_counter()
            try:
                return fn()
            finally:
                self.ran(key, perf_counter() - start)

        return run

    def ran(self, key: Hashable, seconds: float) -> None:
        """Count one run of ``key``'s handler that took ``seconds``."""
        if seconds <= self._seconds:
            self._streaks[key] = min(self._streaks.get(key, 0) + 1, self._runs)
        else:
            self._streaks[key] = 0


def call_outside_loop(fn: Callable[[], T]) -> T:
    """Call ``fn`` on the event loop's thread as a handler thread would: with no running
    loop, in a copy of the current context."""
    # asyncio's own hooks for event loop implementations (listed in asyncio.events.__all__).
    loop = asyncio._get_running_loop()
    asyncio._set_running_loop(None)
    try:
        return contextvars.copy_context().run(fn)
    finally:
        asyncio._set_running_loop(loop)
