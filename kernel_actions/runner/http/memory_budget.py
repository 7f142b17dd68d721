"""A budget of bytes shared by the requests that may each hold a lot of memory at once.

``GET /invocations`` streams a page row by row, but a row can hold a 4.5 MB payload and a
16 MB output, and a row on its way out is held several times over (the stored text, its
JSON, the bytes sent): ~70 MB for one reader, and as much again for every other reader
at the same moment. Readers take what a row will cost from one :class:`MemoryBudget`
before they read it and give it back once it is sent; one that would pass the budget
waits, in turn (first come, first served). A row that costs more than the whole budget
goes when nothing else holds any of it, alone.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

__all__ = ["MemoryBudget"]


class MemoryBudget:
    """``limit`` bytes, taken and given back by coroutines on one event loop."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self._waiting: deque[tuple[int, asyncio.Future[None]]] = deque()

    def _fits(self, cost: int) -> bool:
        return self.held == 0 or self.held + cost <= self.limit

    async def take(self, cost: int) -> None:
        """Wait until ``cost`` bytes fit (after those who waited before), then hold them."""
        if not self._waiting and self._fits(cost):
            self.held += cost
            return
        fut = asyncio.get_running_loop().create_future()
        entry = (cost, fut)
        self._waiting.append(entry)
        try:
            await fut
        except BaseException:
            if fut.done() and not fut.cancelled():
                self.give(cost)  # granted as it was cancelled: hand it on
            else:
                self._waiting.remove(entry)
                self._wake()
            raise

    def give(self, cost: int) -> None:
        """Give back bytes taken with :meth:`take`."""
        self.held -= cost
        self._wake()

    def _wake(self) -> None:
        while self._waiting:
            cost, fut = self._waiting[0]
            if fut.done():
                self._waiting.popleft()
                continue
            if not self._fits(cost):
                return
            self._waiting.popleft()
            self.held += cost
            fut.set_result(None)

    @asynccontextmanager
    async def hold(self, cost: int) -> AsyncIterator[None]:
        await self.take(cost)
        try:
            yield
        finally:
            self.give(cost)
