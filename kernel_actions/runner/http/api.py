"""The HTTP API: Kernel's invocation endpoints, served by Starlette.

Shapes follow the official SDKs' generated types field for field; errors are
``{"code", "message"}`` with the hosted API's statuses.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ...timeutil import format_ns, now_ns, parse_since
from ..engine.invocation import TERMINAL, Invocation
from ..engine.store import ListFilters
from ..errors import bad_request, not_found
from ..stale import stale_headers
from .auth import AuthMiddleware
from .common import (
    MAX_OFFSET,
    MAX_PAYLOAD_BYTES,
    guard,
    int_param,
    json_response,
    page_headers,
    read_json_body,
    sse_event,
)
from .dashboard import dashboard_routes

if TYPE_CHECKING:
    from ..server import Runner

__all__ = ["build_api"]


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


def build_api(runner: Runner) -> Starlette:
    scheduler = runner.scheduler
    store = runner.store
    bus = runner.bus

    async def create_invocation(request: Request) -> Response:
        body = await read_json_body(request)
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
        active = await scheduler.submit(
            app_name, action_name, version, payload, is_async=is_async,
            async_timeout=float(timeout),
        )
        routed = scheduler.route(app_name, version)
        headers = stale_headers(routed[0] if routed else None)
        if is_async:
            return json_response(active.created, 202, headers)
        await active.done
        return json_response(active.inv.to_created(), headers=headers)

    async def get_invocation(request: Request) -> Response:
        inv = await scheduler.get(request.path_params["id"])
        if inv is None:
            raise not_found(f"invocation {request.path_params['id']!r} not found")
        routed = scheduler.route(inv.app_name, inv.version)
        headers = stale_headers(routed[0] if routed else None)
        if request.query_params.get("detail") in ("1", "true"):
            return json_response(inv.to_detail(), headers=headers)
        return json_response(inv.to_wire(), headers=headers)

    async def update_invocation(request: Request) -> Response:
        body = await read_json_body(request)
        status = body.get("status")
        if status not in ("succeeded", "failed"):
            raise bad_request(f"'status' must be 'succeeded' or 'failed', got {status!r}")
        output = body.get("output")
        if output is not None:
            if not isinstance(output, str):
                raise bad_request("'output' must be a string holding JSON")
            try:
                json.loads(output)
            except ValueError as exc:
                raise bad_request(f"'output' is not valid JSON: {exc}") from None
        inv = await scheduler.update(request.path_params["id"], status, output)
        return json_response(inv.to_wire())

    async def list_invocations(request: Request) -> Response:
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
        items, has_more = await asyncio.to_thread(store.list, filters, limit, offset)
        detail = q.get("detail") in ("1", "true")
        out = []
        for inv in items:
            live = scheduler.active.get(inv.id)
            current = live.inv if live is not None else inv
            out.append(current.to_detail() if detail else current.to_wire())
        return json_response(out, headers=page_headers(limit, offset, len(items), has_more))

    async def invocation_events(request: Request) -> Response:
        inv_id = request.path_params["id"]
        since_ns = None
        if request.query_params.get("since"):
            try:
                since_ns = parse_since(request.query_params["since"])
            except ValueError as exc:
                raise bad_request(str(exc)) from None
        subscription = bus.subscribe(inv_id)
        sub = subscription.__enter__()
        # Snapshot and subscription happen in one step of the loop: nothing falls between.
        active = scheduler.active.get(inv_id)
        if active is not None:
            snapshot: Invocation | None = active.inv
            replay = [(ts, line) for ts, line in active.logs if since_ns is None or ts >= since_ns]
        else:
            snapshot = None
            replay = []
        if active is None:
            snapshot = await asyncio.to_thread(store.get, inv_id)
            if snapshot is None:
                subscription.__exit__(None, None, None)
                raise not_found(f"invocation {inv_id!r} not found")
            replay = [(r.ts_ns, r.message) for r in await asyncio.to_thread(
                store.logs, inv_id, since_ns)]
        assert snapshot is not None
        first_state = _state_event(snapshot)
        heartbeat = runner.config.heartbeat_interval

        async def stream() -> AsyncIterator[bytes]:
            try:
                if first_state["invocation"]["status"] not in TERMINAL:
                    yield sse_event(first_state)
                for ts, line in replay:
                    yield sse_event({"event": "log", "message": line, "timestamp": format_ns(ts)})
                if first_state["invocation"]["status"] in TERMINAL:
                    yield sse_event(first_state)
                    return
                while True:
                    if sub.overflowed and sub.queue.empty():
                        yield sse_event({"event": "error", "error": {
                            "code": "stream_overflow",
                            "message": "the client fell too far behind; reconnect with since"},
                            "timestamp": format_ns(now_ns())})
                        return
                    try:
                        event = await asyncio.wait_for(sub.get(), heartbeat)
                    except TimeoutError:
                        yield sse_event({"event": "sse_heartbeat", "timestamp": format_ns(now_ns())})
                        continue
                    yield sse_event(event)
                    if (event["event"] == "invocation_state"
                            and event["invocation"]["status"] in TERMINAL):
                        return
            finally:
                subscription.__exit__(None, None, None)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={
            "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def list_apps(request: Request) -> Response:
        q = request.query_params
        limit = int_param(request, "limit", 100, 1, 1000)
        offset = int_param(request, "offset", 0, 0, MAX_OFFSET)
        apps = [
            a for a in runner.app_summaries()
            if (not q.get("app_name") or a["app_name"] == q["app_name"])
            and (not q.get("version") or a["version"] == q["version"])
            and (not q.get("query") or q["query"].lower() in a["app_name"].lower())
        ]
        page = apps[offset:offset + limit]
        has_more = offset + limit < len(apps)
        return json_response(page, headers={
            "X-Limit": str(limit), "X-Offset": str(offset),
            "X-Has-More": "true" if has_more else "false",
            "X-Next-Offset": str(offset + len(page)) if has_more else "0",
        })

    async def runner_events(request: Request) -> Response:
        """Every invocation's state changes, runner-wide (the dashboard's live list)."""
        heartbeat = runner.config.heartbeat_interval
        subscription = bus.subscribe(None)
        sub = subscription.__enter__()

        async def stream() -> AsyncIterator[bytes]:
            try:
                yield sse_event({"event": "runner_state", "runner": runner.status(),
                            "timestamp": format_ns(now_ns())})
                while not sub.overflowed:
                    try:
                        event = await asyncio.wait_for(sub.get(), heartbeat)
                    except TimeoutError:
                        yield sse_event({"event": "sse_heartbeat", "timestamp": format_ns(now_ns())})
                        continue
                    if event["event"] == "invocation_state":
                        yield sse_event({"event": "invocation_state", "invocation": {
                            **event["invocation"], "code_generation": event.get("_generation")},
                            "timestamp": event["timestamp"]})
                    elif event["event"] == "runner_state":
                        yield sse_event(event)
            finally:
                subscription.__exit__(None, None, None)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={
            "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def runner_status(request: Request) -> Response:
        return json_response(runner.status())

    async def health(request: Request) -> Response:
        return json_response({"status": "ok"})

    async def openapi_json(request: Request) -> Response:
        from ... import __version__
        from .openapi import openapi

        return json_response(openapi(__version__))

    routes = [
        Route("/invocations", guard(create_invocation), methods=["POST"]),
        Route("/invocations", guard(list_invocations), methods=["GET"]),
        Route("/invocations/{id}", guard(get_invocation), methods=["GET"]),
        Route("/invocations/{id}", guard(update_invocation), methods=["PATCH"]),
        Route("/invocations/{id}/events", guard(invocation_events), methods=["GET"]),
        Route("/apps", guard(list_apps), methods=["GET"]),
        Route("/_runner/status", guard(runner_status), methods=["GET"]),
        Route("/_runner/events", guard(runner_events), methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
    ]
    routes += runner.extra_routes()
    routes += dashboard_routes()

    async def not_found_handler(request: Request, exc: Exception) -> Response:
        return json_response({"code": "not_found", "message": f"no route {request.url.path}"}, 404)

    async def method_not_allowed(request: Request, exc: Exception) -> Response:
        return json_response({"code": "method_not_allowed",
                      "message": f"{request.method} is not allowed on {request.url.path}"}, 405)

    async def server_error(request: Request, exc: Exception) -> Response:
        runner.log(f"internal error on {request.method} {request.url.path}: {exc!r}")
        return json_response({"code": "internal_error", "message": "internal error in the runner"}, 500)

    return Starlette(
        routes=routes,
        middleware=[Middleware(AuthMiddleware, api_key=runner.config.api_key)],
        exception_handlers={404: not_found_handler, 405: method_not_allowed,
                            Exception: server_error},
    )


def _state_event(inv: Invocation) -> dict[str, Any]:
    return {"event": "invocation_state", "invocation": inv.to_wire(),
            "timestamp": format_ns(now_ns())}
