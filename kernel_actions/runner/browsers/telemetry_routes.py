"""``GET /browsers/{id_or_name}/telemetry/events`` and ``.../telemetry/stream``.

``events`` reads a page of a browser's buffered events (:mod:`.telemetry`): ``limit``
(default 20, at most 1000) records from the ``offset`` cursor, or from ``since`` (RFC 3339
or a duration like ``5m``; default ``5m``) when there is none, up to ``until``; ``order``
``asc`` (default) or ``desc`` (newest first; with ``since`` a 400). ``category`` and
``type`` (repeatable) filter within the page, so a page may be empty while ``X-Has-More``
is true, as on Kernel. Paging is by the ``X-Next-Offset`` header (``0``: no more).

``stream`` is Server-Sent Events: each event a frame with ``id: <seq>`` and ``data:`` the
``{event, seq}`` envelope, no ``event:`` field. A fresh stream sends only new events
(``replay=all``: the oldest kept first); ``Last-Event-ID`` resumes after that event. ``type``
(repeatable or comma-separated) filters; what it skips is acknowledged by an id-only frame
at most every 15 s, with each keepalive comment (every 15 s without events), and when the
stream ends, which it does when the browser closes.

The buffers live in memory, one per browser, bounded (see :mod:`.telemetry`), and go with
their browser.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from ...ids import new_id
from ...timeutil import parse_since
from ..errors import ApiError, bad_request
from ..http.common import guard, int_param, page_headers
from .telemetry import CATEGORIES, ClientTelemetry, Record, TelemetryLog

if TYPE_CHECKING:
    from .handles import BrowserList

__all__ = ["TelemetryApi", "OPERATIONS"]

MAX_LIMIT = 1000
KEEPALIVE_S = 15.0
#: ``operationId`` of each browser-driving call recorded as an ``api_call`` (the path after
#: ``/browsers/{id}``), named as Kernel's in-VM API names its handlers.
OPERATIONS = {
    "/computer/screenshot": "TakeScreenshot", "/computer/click_mouse": "ClickMouse",
    "/computer/move_mouse": "MoveMouse", "/computer/drag_mouse": "DragMouse",
    "/computer/scroll": "Scroll", "/computer/type": "TypeText",
    "/computer/press_key": "PressKey", "/computer/batch": "ComputerBatch",
    "/computer/clipboard/write": "WriteClipboard", "/computer/clipboard/read": "ReadClipboard",
    "/computer/get_mouse_position": "GetMousePosition",
    "/computer/cursor": "SetCursorVisibility",
    "/playwright/execute": "ExecutePlaywrightCode", "/repl": "ExecuteRepl",
}
_CODE_OPERATIONS = ("ExecutePlaywrightCode", "ExecuteRepl")
_Endpoint = Callable[[Request], Awaitable[Response]]


def _filters(request: Request, name: str, allowed: tuple[str, ...] | None = None
             ) -> set[str] | None:
    values = [v.strip() for raw in request.query_params.getlist(name)
              for v in raw.split(",") if v.strip()]
    if not values:
        return None
    if allowed is not None:
        unknown = sorted(set(values) - set(allowed))
        if unknown:
            raise bad_request(f"unknown {name} {', '.join(map(repr, unknown))}: one of "
                              f"{', '.join(allowed)}")
    return set(values)


def _time_us(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        return parse_since(raw) // 1000
    except ValueError as exc:
        raise bad_request(f"{name!r}: {exc}") from None


class TelemetryApi:
    """The telemetry buffers of the running browsers, and their two endpoints."""

    def __init__(self, browsers: BrowserList) -> None:
        self.browsers = browsers
        self.logs: dict[str, TelemetryLog] = {}
        browsers.close_listeners.append(self.browser_closed)

    def log_for(self, browser_id: str) -> TelemetryLog:
        """The browser's buffer (made on first use: a browser has one from its start)."""
        log = self.logs.get(browser_id)
        if log is None:
            log = self.logs[browser_id] = TelemetryLog()
        return log

    def clients(self, browser_id: str) -> ClientTelemetry:
        return ClientTelemetry(self.log_for(browser_id))

    def browser_closed(self, browser: Any) -> None:
        log = self.logs.pop(browser.id, None)
        if log is not None:
            log.close()

    # -- recording the runner's own calls --------------------------------------------------

    def recorded(self, routes: list[BaseRoute]) -> list[BaseRoute]:
        """``routes`` with each browser-driving call recorded as a ``control`` ``api_call``
        event of its browser (routes not in :data:`OPERATIONS` are left as they are)."""
        out: list[BaseRoute] = []
        for route in routes:
            if isinstance(route, Route) and route.path.startswith("/browsers/{id}/"):
                operation = OPERATIONS.get(route.path.removeprefix("/browsers/{id}"))
                if operation is not None:
                    methods = sorted(m for m in route.methods or () if m != "HEAD")
                    route = Route(route.path, self._recording(operation, route.endpoint),
                                  methods=methods, name=route.name)
            out.append(route)
        return out

    def _recording(self, operation: str, endpoint: _Endpoint) -> _Endpoint:
        async def recorded(request: Request) -> Response:
            started = time.monotonic()
            status = 500
            code = None
            if operation in _CODE_OPERATIONS:
                # Read here (the endpoint gets the same, cached): the code is on the event.
                with contextlib.suppress(Exception):
                    found = json.loads(await request.body()).get("code")
                    code = found if isinstance(found, str) else None
            try:
                response = await endpoint(request)
                status = response.status_code
                return response
            except ApiError as exc:
                status = exc.status
                raise
            finally:
                self._record(request, operation, status, started, code)

        recorded.__name__ = getattr(endpoint, "__name__", operation)
        return recorded

    def _record(self, request: Request, operation: str, status: int, started: float,
                code: str | None) -> None:
        try:
            browser = self.browsers.find(request.path_params["id"])
        except ApiError:
            return
        log = self.logs.get(browser.id)
        if log is not None:
            ClientTelemetry(log).api_call(operation, status,
                                          (time.monotonic() - started) * 1000, new_id(), code)

    # -- HTTP --------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/browsers/{id}/telemetry/events", guard(self.telemetry_events),
                  methods=["GET"]),
            Route("/browsers/{id}/telemetry/stream", guard(self.telemetry_stream),
                  methods=["GET"]),
        ]

    async def telemetry_events(self, request: Request) -> Response:
        browser = self.browsers.find(request.path_params["id"])
        q = request.query_params
        limit = int_param(request, "limit", 20, 1, MAX_LIMIT)
        order = q.get("order") or "asc"
        if order not in ("asc", "desc"):
            raise bad_request(f"'order' must be asc or desc, got {order!r}")
        if order == "desc" and q.get("since"):
            raise bad_request("'since' can't be combined with order=desc: page back from "
                              "'until' or the offset cursor instead")
        raw_offset = q.get("offset")
        cursor = int_param(request, "offset", 0, 0, 2**62) if raw_offset else None
        until = _time_us(request, "until")
        since = None if cursor is not None else (_time_us(request, "since")
                                                  if q.get("since") else
                                                  (time.time_ns() - 300 * 10**9) // 1000)
        categories = _filters(request, "category", CATEGORIES)
        types = _filters(request, "type")
        log = self.logs.get(browser.id)
        records = list(log.records) if log is not None else []
        if order == "asc":
            window = [r for r in records
                      if (cursor is None or r.seq >= cursor)
                      and (since is None or r.ts >= since)
                      and (until is None or r.ts < until)]
            page = window[:limit]
            has_more = len(window) > limit
            next_offset = page[-1].seq + 1 if has_more else 0
        else:
            window = [r for r in records
                      if (cursor is None or r.seq < cursor) and (until is None or r.ts < until)]
            page = window[-limit:][::-1]
            has_more = len(window) > limit
            next_offset = page[-1].seq if has_more else 0
        kept = [r for r in page if (categories is None or r.category in categories)
                and (types is None or r.type in types)]
        headers = page_headers(limit, cursor or 0, len(page), has_more)
        headers["X-Next-Offset"] = str(next_offset)
        body = "[" + ",".join(r.json for r in kept) + "]"
        return Response(body, media_type="application/json", headers=headers)

    async def telemetry_stream(self, request: Request) -> Response:
        browser = self.browsers.find(request.path_params["id"])
        log = self.log_for(browser.id) if browser.closing is None else TelemetryLog()
        if browser.closing is not None:
            log.close()
        types = _filters(request, "type")
        last_id = request.headers.get("last-event-id", "").strip()
        if last_id:
            if not last_id.isdigit():
                raise bad_request(f"Last-Event-ID must be an event's seq, got {last_id!r}")
            position = int(last_id)
        elif request.query_params.get("replay") == "all":
            position = 0
        else:
            position = log.seq

        async def frames() -> AsyncIterator[bytes]:
            seen = position
            skipped_at: int | None = None
            last_ack = time.monotonic()
            last_sent = time.monotonic()
            while True:
                batch: list[Record] = log.after(seen)
                out: list[bytes] = []
                for record in batch:
                    seen = record.seq
                    if types is not None and record.type not in types:
                        skipped_at = record.seq
                        continue
                    skipped_at = None
                    out.append(f"id: {record.seq}\ndata: {record.json}\n\n".encode())
                now = time.monotonic()
                if skipped_at is not None and now - last_ack >= KEEPALIVE_S:
                    out.append(f"id: {skipped_at}\n\n".encode())
                    skipped_at, last_ack = None, now
                if out:
                    last_sent = now
                    yield b"".join(out)
                    continue
                if log.closed:
                    if skipped_at is not None:
                        yield f"id: {skipped_at}\n\n".encode()
                    return
                if now - last_sent >= KEEPALIVE_S:
                    frame = b": keepalive\n\n"
                    if skipped_at is not None:
                        frame = f"id: {skipped_at}\n\n".encode() + frame
                        skipped_at, last_ack = None, now
                    last_sent = now
                    yield frame
                    continue
                await log.wait(max(0.05, KEEPALIVE_S - (now - last_sent)))

        return StreamingResponse(frames(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache",
                                          "X-Accel-Buffering": "no"})
