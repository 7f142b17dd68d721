"""The event bus behind the SSE streams: per-invocation and runner-wide subscriptions.

Events are plain dicts already in wire form (``{"event": ..., "timestamp": ...}``).
A subscriber's queue is bounded: a reader too slow to keep up is dropped (its
stream ends with an error event) rather than letting the runner's memory grow.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["EventBus", "Subscription"]

Event = dict[str, Any]


class Subscription:
    __slots__ = ("queue", "overflowed")

    def __init__(self, maxsize: int) -> None:
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        self.overflowed = False

    def put(self, event: Event) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True

    async def get(self) -> Event:
        return await self.queue.get()


class EventBus:
    def __init__(self, maxsize: int = 10_000) -> None:
        self._maxsize = maxsize
        self._by_key: defaultdict[str, set[Subscription]] = defaultdict(set)
        self._all: set[Subscription] = set()

    def publish(self, key: str, event: Event) -> None:
        """Deliver ``event`` to the subscribers of ``key`` and to runner-wide ones."""
        subs = self._by_key.get(key)
        if subs:
            for sub in subs:
                sub.put(event)
        for sub in self._all:
            sub.put(event)

    def has_subscribers(self, key: str) -> bool:
        return bool(self._by_key.get(key)) or bool(self._all)

    @contextmanager
    def subscribe(self, key: str | None) -> Iterator[Subscription]:
        """Subscribe to one key (an invocation or deployment id), or to all with ``None``."""
        sub = Subscription(self._maxsize)
        target = self._all if key is None else self._by_key[key]
        target.add(sub)
        try:
            yield sub
        finally:
            target.discard(sub)
            if key is not None and not target:
                self._by_key.pop(key, None)
