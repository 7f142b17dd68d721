"""Server-sent event streams fed by the event bus: one loop for every stream.

A stream subscribes *before* its handler takes the snapshot it starts with
(state, stored logs), so nothing published in between is lost; the handler then
turns the open subscription into a response. The response sends the opening
events, then every event the subscription gets, with a heartbeat whenever
nothing came for ``heartbeat`` seconds, until an event ends it, the client goes
away or the subscriber fell too far behind. The subscription is always left.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from types import TracebackType
from typing import Any

from starlette.responses import StreamingResponse

from ...timeutil import format_ns, now_ns
from ..engine.events import EventBus
from .common import sse_event

__all__ = ["EventStream", "SSE_HEADERS"]

Event = dict[str, Any]

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
OVERFLOW_ERROR = {"code": "stream_overflow",
                  "message": "the client fell too far behind; reconnect with since"}


class EventStream:
    """A subscription to one key of the bus (``None``: every key), on its way to a response.

    Use it as a context manager around the snapshot: if the handler fails there
    (a 404, say) the subscription is left at once; otherwise the response owns
    it and leaves it when the stream ends.
    """

    def __init__(self, bus: EventBus, key: str | None) -> None:
        self._subscribing = bus.subscribe(key)
        self.subscription = self._subscribing.__enter__()
        self._closed = False

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if kind is not None:
            self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._subscribing.__exit__(None, None, None)

    def response(
        self,
        opening: Iterable[Event],
        *,
        heartbeat: float,
        follow: bool = True,
        select: Callable[[Event], Event | None] | None = None,
        ends: Callable[[Event], bool] | None = None,
        report_overflow: bool = True,
    ) -> StreamingResponse:
        """The SSE response: ``opening`` events, then (with ``follow``) the live ones.

        ``select`` maps each live event to what is sent (``None``: nothing);
        ``ends`` says which live event is the stream's last. A subscriber that
        overflowed gets what was queued, then (with ``report_overflow``) an
        error event telling it to reconnect, and the stream ends.
        """
        return StreamingResponse(
            self._events(list(opening), heartbeat, follow, select, ends, report_overflow),
            media_type="text/event-stream", headers=SSE_HEADERS,
        )

    async def _events(
        self, opening: list[Event], heartbeat: float, follow: bool,
        select: Callable[[Event], Event | None] | None, ends: Callable[[Event], bool] | None,
        report_overflow: bool,
    ) -> AsyncIterator[bytes]:
        sub = self.subscription
        try:
            for event in opening:
                yield sse_event(event)
            while follow:
                if sub.overflowed and sub.queue.empty():
                    if report_overflow:
                        yield sse_event({"event": "error", "error": OVERFLOW_ERROR,
                                         "timestamp": format_ns(now_ns())})
                    return
                try:
                    event = await asyncio.wait_for(sub.get(), heartbeat)
                except TimeoutError:
                    yield sse_event({"event": "sse_heartbeat", "timestamp": format_ns(now_ns())})
                    continue
                sent = select(event) if select is not None else event
                if sent is not None:
                    yield sse_event(sent)
                if ends is not None and ends(event):
                    return
        finally:
            self.close()
