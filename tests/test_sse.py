"""The one SSE stream loop (``runner/http/sse.py``), driven directly on a real event bus."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kernel_actions.runner.engine.events import EventBus
from kernel_actions.runner.http.sse import EventStream


async def next_event(body: AsyncIterator[Any]) -> dict[str, Any]:
    chunk = await asyncio.wait_for(anext(body), 10)
    assert chunk.startswith(b"data: ") and chunk.endswith(b"\n\n")
    return json.loads(chunk[6:])


async def ended(body: AsyncIterator[Any]) -> bool:
    try:
        await asyncio.wait_for(anext(body), 10)
    except StopAsyncIteration:
        return True
    return False


def test_opening_events_then_live_ones_with_heartbeats_until_the_last() -> None:
    async def main() -> None:
        bus = EventBus()
        with EventStream(bus, "inv") as stream:
            assert bus.has_subscribers("inv")  # subscribed before the snapshot is taken
        response = stream.response(
            [{"event": "opening"}], heartbeat=0.01,
            select=lambda e: None if e["event"] == "hidden" else e,
            ends=lambda e: e["event"] == "last")
        assert response.media_type == "text/event-stream"
        assert response.headers["cache-control"] == "no-cache"
        body = response.body_iterator
        assert await next_event(body) == {"event": "opening"}
        assert (await next_event(body))["event"] == "sse_heartbeat"  # nothing came
        bus.publish("inv", {"event": "hidden"})
        bus.publish("other", {"event": "elsewhere"})
        bus.publish("inv", {"event": "log", "_generation": 3})
        event = await next_event(body)
        while event["event"] == "sse_heartbeat":
            event = await next_event(body)
        assert event == {"event": "log"}  # runner-internal fields never leave
        bus.publish("inv", {"event": "last"})
        event = await next_event(body)
        while event["event"] == "sse_heartbeat":
            event = await next_event(body)
        assert event == {"event": "last"}
        assert await ended(body)
        assert not bus.has_subscribers("inv")

    asyncio.run(main())


def test_a_stream_that_does_not_follow_sends_its_opening_and_leaves() -> None:
    async def main() -> None:
        bus = EventBus()
        stream = EventStream(bus, "done")
        body = stream.response([{"event": "a"}, {"event": "b"}], heartbeat=10,
                               follow=False).body_iterator
        assert [await next_event(body), await next_event(body)] == [{"event": "a"},
                                                                     {"event": "b"}]
        assert await ended(body)
        assert not bus.has_subscribers("done")

    asyncio.run(main())


@pytest.mark.parametrize("report", [True, False])
def test_a_reader_that_falls_behind_gets_what_was_queued_then_the_end(report: bool) -> None:
    async def main() -> None:
        bus = EventBus(maxsize=2)
        stream = EventStream(bus, None)
        for n in range(3):  # one more than fits
            bus.publish(f"inv{n}", {"event": "log", "n": n})
        body = stream.response([], heartbeat=10, report_overflow=report).body_iterator
        assert [(await next_event(body))["n"] for _ in range(2)] == [0, 1]
        if report:
            error = await next_event(body)
            assert error["event"] == "error" and error["error"]["code"] == "stream_overflow"
        assert await ended(body)
        assert not bus.has_subscribers("anything")

    asyncio.run(main())


def test_a_failure_before_the_response_leaves_the_subscription() -> None:
    bus = EventBus()
    with pytest.raises(LookupError), EventStream(bus, "missing"):
        assert bus.has_subscribers("missing")
        raise LookupError("not found")
    assert not bus.has_subscribers("missing")
