"""The HTTP API: Kernel's invocation endpoints, served by Starlette.

Shapes follow the official SDKs' generated types field for field; errors are
``{"code", "message"}`` with the hosted API's statuses.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ...timeutil import format_ns, now_ns, parse_since
from ..engine.invocation import TERMINAL, Invocation
from ..engine.store import ListFilters
from ..errors import ApiError, bad_request, not_found
from .dashboard import (
    dashboard_credential,
    dashboard_routes,
    is_dashboard_path,
    key_cookie,
    login_page,
    wants_html,
)

if TYPE_CHECKING:
    from ..server import Runner

__all__ = ["build_api", "MAX_PAYLOAD_BYTES"]

#: Largest payload accepted: 4.5 MB, as the hosted API documents.
MAX_PAYLOAD_BYTES = 4_500_000
_MAX_BODY = 3 * MAX_PAYLOAD_BYTES  # a JSON-escaped payload inside the request body
#: Largest list offset accepted (SQLite integers are 64-bit).
MAX_OFFSET = 10**12


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        status_code=status, headers=headers, media_type="application/json",
    )


def _error(exc: ApiError) -> Response:
    return _json(exc.body(), exc.status, exc.headers)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > _MAX_BODY:
        raise bad_request(f"request body too large: the payload limit is 4.5 MB "
                          f"({MAX_PAYLOAD_BYTES} bytes)")
    if not raw:
        raise bad_request("request body is empty: send a JSON object")
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise bad_request(f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise bad_request("request body must be a JSON object")
    return body


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


def _int_param(request: Request, name: str, default: int, lo: int, hi: int | None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"{name!r} must be an integer, got {raw!r}") from None
    if value < lo or (hi is not None and value > hi):
        bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        raise bad_request(f"{name!r} must be {bound}, got {value}")
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


def _sse(event: dict[str, Any]) -> bytes:
    if "_generation" in event:  # runner-internal, never on an invocation's own stream
        event = {k: v for k, v in event.items() if k != "_generation"}
    return b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"


class AuthMiddleware:
    """Require ``Authorization: Bearer <key>`` on every request when a key is set."""

    def __init__(self, app: ASGIApp, api_key: str | None) -> None:
        self.app = app
        self.expected = f"Bearer {api_key}".encode() if api_key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.expected is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"authorization", b"")
        if not hmac.compare_digest(given, self.expected):
            path = scope.get("path", "")
            if scope.get("method") in ("GET", "HEAD") and is_dashboard_path(path):
                await self._dashboard(scope, receive, send, given)
                return
            message = "missing API key" if not given else "invalid API key"
            resp = _json({"code": "unauthorized", "message": f"{message}: send "
                          "'Authorization: Bearer <key>'"}, 401,
                         {"WWW-Authenticate": "Bearer"})
            await resp(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _dashboard(self, scope: Scope, receive: Receive, send: Send, given: bytes) -> None:
        """The page and its assets: the key as ``?key=`` (then a cookie) stands for the header."""
        assert self.expected is not None
        key, from_query = dashboard_credential(scope)
        if key is not None and hmac.compare_digest(f"Bearer {key}".encode(), self.expected):
            if not from_query:
                await self.app(scope, receive, send)
                return
            cookie = key_cookie(key)

            async def send_with_cookie(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message = {**message, "headers": [*message.get("headers", []),
                                                      (b"set-cookie", cookie)]}
                await send(message)

            await self.app(scope, receive, send_with_cookie)
            return
        message = "invalid API key" if key or given else "missing API key"
        if wants_html(scope):
            resp = login_page(f"This runner needs its API key (--api-key): {message}.")
        else:
            resp = _json({"code": "unauthorized", "message": f"{message}: open /?key=<key> "
                          "or send 'Authorization: Bearer <key>'"}, 401,
                         {"WWW-Authenticate": "Bearer"})
        await resp(scope, receive, send)


def page_headers(limit: int, offset: int, count: int, has_more: bool) -> dict[str, str]:
    """The hosted API's paging headers for a page of ``count`` items at ``offset``."""
    return {
        "X-Limit": str(limit),
        "X-Offset": str(offset),
        "X-Has-More": "true" if has_more else "false",
        "X-Next-Offset": str(offset + count) if has_more else "0",
    }


def paged(items: list[Any], limit: int, offset: int) -> tuple[list[Any], dict[str, str]]:
    """One page of an in-memory list, newest first already, and its headers."""
    page = items[offset:offset + limit]
    return page, page_headers(limit, offset, len(page), offset + limit < len(items))


Handler = Callable[[Request], Awaitable[Response]]


def _guard(handler: Handler) -> Handler:
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as exc:
            return _error(exc)

    wrapped.__name__ = handler.__name__
    return wrapped


def build_api(runner: Runner) -> Starlette:
    scheduler = runner.scheduler
    store = runner.store
    bus = runner.bus

    async def create_invocation(request: Request) -> Response:
        body = await _body(request)
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
        if is_async:
            return _json(active.created, 202)
        await active.done
        return _json(active.inv.to_created())

    async def get_invocation(request: Request) -> Response:
        inv = await scheduler.get(request.path_params["id"])
        if inv is None:
            raise not_found(f"invocation {request.path_params['id']!r} not found")
        if request.query_params.get("detail") in ("1", "true"):
            return _json(inv.to_detail())
        return _json(inv.to_wire())

    async def update_invocation(request: Request) -> Response:
        body = await _body(request)
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
        return _json(inv.to_wire())

    async def list_invocations(request: Request) -> Response:
        q = request.query_params
        limit = _int_param(request, "limit", 20, 1, 100)
        offset = _int_param(request, "offset", 0, 0, MAX_OFFSET)
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
        return _json(out, headers=page_headers(limit, offset, len(items), has_more))

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
                    yield _sse(first_state)
                for ts, line in replay:
                    yield _sse({"event": "log", "message": line, "timestamp": format_ns(ts)})
                if first_state["invocation"]["status"] in TERMINAL:
                    yield _sse(first_state)
                    return
                while True:
                    if sub.overflowed and sub.queue.empty():
                        yield _sse({"event": "error", "error": {
                            "code": "stream_overflow",
                            "message": "the client fell too far behind; reconnect with since"},
                            "timestamp": format_ns(now_ns())})
                        return
                    try:
                        event = await asyncio.wait_for(sub.get(), heartbeat)
                    except TimeoutError:
                        yield _sse({"event": "sse_heartbeat", "timestamp": format_ns(now_ns())})
                        continue
                    yield _sse(event)
                    if (event["event"] == "invocation_state"
                            and event["invocation"]["status"] in TERMINAL):
                        return
            finally:
                subscription.__exit__(None, None, None)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={
            "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def list_apps(request: Request) -> Response:
        q = request.query_params
        limit = _int_param(request, "limit", 100, 1, 1000)
        offset = _int_param(request, "offset", 0, 0, MAX_OFFSET)
        apps = [
            a for a in runner.app_summaries()
            if (not q.get("app_name") or a["app_name"] == q["app_name"])
            and (not q.get("version") or a["version"] == q["version"])
            and (not q.get("query") or q["query"].lower() in a["app_name"].lower())
        ]
        page = apps[offset:offset + limit]
        has_more = offset + limit < len(apps)
        return _json(page, headers={
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
                yield _sse({"event": "runner_state", "runner": runner.status(),
                            "timestamp": format_ns(now_ns())})
                while not sub.overflowed:
                    try:
                        event = await asyncio.wait_for(sub.get(), heartbeat)
                    except TimeoutError:
                        yield _sse({"event": "sse_heartbeat", "timestamp": format_ns(now_ns())})
                        continue
                    if event["event"] == "invocation_state":
                        yield _sse({"event": "invocation_state", "invocation": {
                            **event["invocation"], "code_generation": event.get("_generation")},
                            "timestamp": event["timestamp"]})
                    elif event["event"] == "runner_state":
                        yield _sse(event)
            finally:
                subscription.__exit__(None, None, None)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={
            "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def runner_status(request: Request) -> Response:
        return _json(runner.status())

    async def health(request: Request) -> Response:
        return _json({"status": "ok"})

    async def openapi_json(request: Request) -> Response:
        from ... import __version__
        from .openapi import openapi

        return _json(openapi(__version__))

    routes = [
        Route("/invocations", _guard(create_invocation), methods=["POST"]),
        Route("/invocations", _guard(list_invocations), methods=["GET"]),
        Route("/invocations/{id}", _guard(get_invocation), methods=["GET"]),
        Route("/invocations/{id}", _guard(update_invocation), methods=["PATCH"]),
        Route("/invocations/{id}/events", _guard(invocation_events), methods=["GET"]),
        Route("/apps", _guard(list_apps), methods=["GET"]),
        Route("/_runner/status", _guard(runner_status), methods=["GET"]),
        Route("/_runner/events", _guard(runner_events), methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
    ]
    routes += runner.extra_routes()
    routes += dashboard_routes()

    async def not_found_handler(request: Request, exc: Exception) -> Response:
        return _json({"code": "not_found", "message": f"no route {request.url.path}"}, 404)

    async def method_not_allowed(request: Request, exc: Exception) -> Response:
        return _json({"code": "method_not_allowed",
                      "message": f"{request.method} is not allowed on {request.url.path}"}, 405)

    async def server_error(request: Request, exc: Exception) -> Response:
        runner.log(f"internal error on {request.method} {request.url.path}: {exc!r}")
        return _json({"code": "internal_error", "message": "internal error in the runner"}, 500)

    return Starlette(
        routes=routes,
        middleware=[Middleware(AuthMiddleware, api_key=runner.config.api_key)],
        exception_handlers={404: not_found_handler, 405: method_not_allowed,
                            Exception: server_error},
    )


def _state_event(inv: Invocation) -> dict[str, Any]:
    return {"event": "invocation_state", "invocation": inv.to_wire(),
            "timestamp": format_ns(now_ns())}
