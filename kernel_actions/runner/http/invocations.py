"""The invocation endpoints: create, list, read, update, and follow one's events.

Shapes follow the official SDKs' generated types field for field; errors are
``{"code", "message"}`` with the hosted API's statuses.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Scope

from ...timeutil import format_ns, now_ns, parse_since
from ..engine.events import EventBus
from ..engine.invocation import TERMINAL, Invocation
from ..engine.scheduler import Scheduler
from ..engine.store import ListFilters, Store
from ..engine.text import check_json_text
from ..errors import bad_request, not_found
from ..stale import stale_headers
from .common import (
    MAX_OFFSET,
    MAX_PAYLOAD_BYTES,
    compact_json,
    guard,
    int_param,
    json_object,
    json_response,
    page_headers,
    parse_json,
    read_json_body,
)
from .front_door import Answer, DirectEndpoint, json_answer
from .listing import InvocationList, detail_mode, invocation_rows
from .memory_budget import MemoryBudget
from .retry import warn_if_retried
from .sse import EventStream

__all__ = ["InvocationRoutes", "LIST_MEMORY_BYTES"]

#: Bytes of rows all list readers together may hold while their pages are sent: room for
#: rows with the largest payload and output three at a time (see :mod:`.listing`).
LIST_MEMORY_BYTES = 256 * 1024 * 1024


def _str_field(body: dict[str, Any], name: str, *, required: bool = True,
               default: str | None = None) -> str | None:
    value = body.get(name, default)
    if value is None:
        if required:
            raise bad_request(f"{name!r} is required")
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise bad_request(f"{name!r} must be a non-empty string")
    return value


def _check_payload(payload: Any) -> str | None:
    if payload is None:
        return None
    if not isinstance(payload, str):
        raise bad_request("'payload' must be a string holding JSON, e.g. \"{\\\"key\\\": 1}\"")
    if len(payload) > MAX_PAYLOAD_BYTES // 4 and len(payload.encode()) > MAX_PAYLOAD_BYTES:
        raise bad_request(
            f"payload is {len(payload.encode())} bytes: the limit is 4.5 MB "
            f"({MAX_PAYLOAD_BYTES} bytes)"
        )
    if payload == "":
        return None
    try:
        json.loads(payload)
    except ValueError as exc:
        raise bad_request(f"'payload' is not valid JSON: {exc}") from None
    except RecursionError:
        raise bad_request("'payload' is nested too deeply") from None
    return payload


def _state_event(inv: Invocation) -> dict[str, Any]:
    return {"event": "invocation_state", "invocation": inv.to_wire(),
            "timestamp": format_ns(now_ns())}


def _ends_invocation(event: dict[str, Any]) -> bool:
    return event["event"] == "invocation_state" and event["invocation"]["status"] in TERMINAL


async def _held_open(done: asyncio.Future[None], result: Callable[[], dict[str, Any]],
                     every: float) -> Response:
    """A sync answer that may be held for minutes (a debugger is stopped in the action).

    If it isn't ready within one heartbeat interval, the status line goes out and a space
    follows every interval (JSON allows leading white space), so no client or proxy
    between gives up on a silent connection; then the JSON document.
    """
    try:
        await asyncio.wait_for(asyncio.shield(done), every)
    except TimeoutError:
        pass
    else:
        return json_response(result())

    async def body() -> AsyncIterator[bytes]:
        while True:
            try:
                await asyncio.wait_for(asyncio.shield(done), every)
                break
            except TimeoutError:
                yield b" "
        yield compact_json(result()).encode()

    return StreamingResponse(body(), media_type="application/json")


class InvocationRoutes:
    """``/invocations`` and ``/invocations/{id}[/events]``, over the scheduler and the store."""

    def __init__(self, scheduler: Scheduler, store: Store, bus: EventBus, *,
                 heartbeat: float, hold_open: bool = False, sync_timeout: float = 100.0,
                 log: Callable[[str], None] | None = None) -> None:
        self.scheduler = scheduler
        self.store = store
        self.bus = bus
        self.heartbeat = heartbeat
        #: Keep slow sync answers alive with heartbeats (``dev --debug``: a breakpoint may
        #: hold an action for minutes).
        self.hold_open = hold_open
        self.sync_timeout = sync_timeout
        self.log = log or (lambda line: None)
        #: What all ``GET /invocations`` readers may hold of rows at once.
        self.list_budget = MemoryBudget(LIST_MEMORY_BYTES)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/invocations", DirectEndpoint(self.create_invocation,
                                                 whole=not self.hold_open), methods=["POST"]),
            Route("/invocations", guard(self.list_invocations), methods=["GET"]),
            Route("/invocations/{id}", guard(self.get_invocation), methods=["GET"]),
            Route("/invocations/{id}", guard(self.update_invocation), methods=["PATCH"]),
            Route("/invocations/{id}/events", guard(self.invocation_events), methods=["GET"]),
        ]

    async def create_invocation(self, scope: Scope, raw: bytes) -> Answer | ASGIApp:
        body = json_object(raw)
        app_name = _str_field(body, "app_name")
        action_name = _str_field(body, "action_name")
        version = _str_field(body, "version", required=False, default="latest") or "latest"
        payload = _check_payload(body.get("payload"))
        is_async = body.get("async", False)
        if not isinstance(is_async, bool):
            raise bad_request("'async' must be true or false")
        timeout = body.get("async_timeout_seconds")
        if timeout is None:
            timeout = 900
        elif isinstance(timeout, bool) or not isinstance(timeout, int | float) or not (
                10 <= timeout <= 3600):
            raise bad_request(
                f"'async_timeout_seconds' must be between 10 and 3600, got {timeout!r}")
        assert app_name is not None and action_name is not None
        if not is_async:
            retries = read_timeout = None
            for key, value in scope["headers"]:
                if key == b"x-stainless-retry-count" and retries is None:
                    retries = value.decode("latin-1")
                elif key == b"x-stainless-read-timeout" and read_timeout is None:
                    read_timeout = value.decode("latin-1")
            warn_if_retried(retries, read_timeout, self.sync_timeout, self.log)
        active = await self.scheduler.submit(
            app_name, action_name, version, payload, is_async=is_async,
            async_timeout=float(timeout),
        )
        headers = stale_headers(active.pool)
        if is_async:
            return json_answer(active.created, 202, headers)
        if self.hold_open:
            return await _held_open(active.done, lambda: active.inv.to_created(),
                                    self.heartbeat)
        await active.done
        return json_answer(active.inv.to_created(), headers=headers)

    async def get_invocation(self, request: Request) -> Response:
        inv = await self.scheduler.get(request.path_params["id"])
        if inv is None:
            raise not_found(f"invocation {request.path_params['id']!r} not found")
        routed = self.scheduler.route(inv.app_name, inv.version)
        headers = stale_headers(routed[0] if routed else None)
        if request.query_params.get("detail") in ("1", "true"):
            return json_response(inv.to_detail(), headers=headers)
        return json_response(inv.to_wire(), headers=headers)

    async def update_invocation(self, request: Request) -> Response:
        body = await read_json_body(request)
        status = body.get("status")
        if status not in ("succeeded", "failed"):
            raise bad_request(f"'status' must be 'succeeded' or 'failed', got {status!r}")
        output = body.get("output")
        if output is not None:
            if not isinstance(output, str):
                raise bad_request("'output' must be a string holding JSON")
            parse_json(output, "'output'")
            check_json_text("output", output)
        inv = await self.scheduler.update(request.path_params["id"], status, output)
        return json_response(inv.to_wire())

    async def list_invocations(self, request: Request) -> Response:
        q = request.query_params
        limit = int_param(request, "limit", 20, 1, 100)
        offset = int_param(request, "offset", 0, 0, MAX_OFFSET)
        status = q.get("status") or None
        if status is not None and status not in ("queued", "running", "succeeded", "failed"):
            raise bad_request(
                f"'status' must be one of queued, running, succeeded, failed; got {status!r}")
        since_ns = None
        if q.get("since"):
            try:
                since_ns = parse_since(q["since"])
            except ValueError as exc:
                raise bad_request(str(exc)) from None
        filters = ListFilters(
            app_name=q.get("app_name") or None, action_name=q.get("action_name") or None,
            status=status, version=q.get("version") or None,
            deployment_id=q.get("deployment_id") or None, since_ns=since_ns,
            query=q.get("query") or None,
        )
        mode = detail_mode(q.get("detail"))
        if mode is None:
            raise bad_request(f"'detail' must be 1, 0 or summary; got {q['detail']!r}")
        self.store.commit_pending()
        items, has_more = await asyncio.to_thread(self.store.list, filters, limit, offset,
                                                  summary=True)

        def current(inv_id: str) -> Invocation | None:
            # A final state not yet committed is not told: the stored row stands.
            live = self.scheduler.active.get(inv_id)
            return live.inv if live is not None and not live.inv.terminal else None

        return InvocationList(
            invocation_rows(items, mode, current, self.store.get, self.store.stored_bytes,
                            self.list_budget),
            headers=page_headers(limit, offset, len(items), has_more))

    async def invocation_events(self, request: Request) -> Response:
        inv_id = request.path_params["id"]
        since_ns = None
        if request.query_params.get("since"):
            try:
                since_ns = parse_since(request.query_params["since"])
            except ValueError as exc:
                raise bad_request(str(exc)) from None
        await self.scheduler.final_committed(inv_id)
        with EventStream(self.bus, inv_id) as stream:
            # Snapshot and subscription happen in one step of the loop: nothing falls between.
            active = self.scheduler.active.get(inv_id)
            snapshot: Invocation | None
            if active is not None:
                snapshot = active.inv
                replay = [(ts, line) for ts, line in active.logs
                          if since_ns is None or ts >= since_ns]
            else:
                self.store.commit_pending()
                snapshot = await asyncio.to_thread(self.store.get, inv_id)
                if snapshot is None:
                    raise not_found(f"invocation {inv_id!r} not found")
                replay = [(r.ts_ns, r.message) for r in await asyncio.to_thread(
                    self.store.logs, inv_id, since_ns)]
        state = _state_event(snapshot)
        logs = [{"event": "log", "message": line, "timestamp": format_ns(ts)}
                for ts, line in replay]
        if state["invocation"]["status"] in TERMINAL:
            return stream.response([*logs, state], heartbeat=self.heartbeat, follow=False)
        if since_ns is None:
            return stream.response([state, *logs], heartbeat=self.heartbeat,
                                   ends=_ends_invocation)
        # ``since`` holds for the lines still to come too (a time that is yet to pass).
        return stream.response(
            [state, *logs], heartbeat=self.heartbeat, ends=_ends_invocation,
            select=lambda e: None if e["event"] == "log" and parse_since(e["timestamp"])
            < since_ns else e)
