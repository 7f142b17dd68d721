"""Each invocation's trace, recorded as the runner serves its browsers, and read back.

:class:`TraceRecorder` wraps the routes that drive a browser (:meth:`TraceRecorder.wrap`,
once, over every browser route): a call on a browser created with ``invocation_id`` is a
step of that invocation's trace (:mod:`..engine.traces`): computer actions with their
fields, screenshots with the PNG the agent got, ``playwright.execute`` with its code and its
result or error, REPL code with its result, replays started and stopped, the browser created,
updated and deleted. A call on a browser of no invocation costs one dictionary lookup.

Tracing is on unless ``KERNEL_ACTIONS_TRACE`` is ``0``/``off``/``false``.

It also serves what the dashboard reads: ``GET /_runner/invocations/{id}/trace`` (``?after=N``:
the steps after step N only),
``GET /_runner/invocations/{id}/trace/{step}/screenshot`` and ``GET /_runner/browsers``
(open browsers with their invocation and idle time, and closed ones).
"""

from __future__ import annotations

import collections
import json
import os
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ...timeutil import now_ns
from ..engine.traces import Traces
from ..errors import ApiError, bad_request, not_found
from ..http.common import guard, int_param, json_response

__all__ = ["TRACE_ENV", "TraceRecorder", "tracing_enabled"]

TRACE_ENV = "KERNEL_ACTIONS_TRACE"
#: Closed browsers whose invocation is remembered (for the Browsers view).
_KEPT = 500
#: Dashboard pages whose calls are labelled as theirs (``by``), by the page that sent them.
_PAGES = {"/_dashboard/live.html": "live view", "/": "dashboard"}
#: What a live view reads to show the screen: its frames are not the agent's steps.
_VIEWER_READS = ("computer.screenshot", "computer.get_mouse_position", "computer.clipboard_read")

_Endpoint = Callable[[Request], Awaitable[Response]]


def tracing_enabled(env: dict[str, str] | None = None) -> bool:
    """Whether ``KERNEL_ACTIONS_TRACE`` leaves tracing on (it is on by default)."""
    value = (os.environ if env is None else env).get(TRACE_ENV, "1").strip().lower()
    return value not in ("0", "off", "false", "no")


class BrowserSet(Protocol):
    """What the recorder needs of the browser list (``service.Browsers`` provides it). Its
    browsers (``browser.LocalBrowser``) are read for ``id``, ``invocation_id``, ``ready``,
    ``last_active`` and ``to_wire()``."""

    items: dict[str, Any]
    deleted: collections.deque[dict[str, Any]]

    def find(self, id_or_name: str) -> Any: ...


def _kind(method: str, path: str) -> str | None:
    """The step kind of a route, or ``None`` for one that is not traced."""
    if path == "/browsers" and method == "POST":
        return "browser.create"
    if path == "/browsers/{id}" and method == "DELETE":
        return "browser.delete"
    if path == "/browsers/{id}" and method == "PATCH":
        return "browser.update"
    if method != "POST":
        return None
    if m := re.fullmatch(r"/browsers/\{id\}/computer/([a-z_/]+)", path):
        return "computer." + m.group(1).replace("/", "_")
    if path == "/browsers/{id}/playwright/execute":
        return "playwright.execute"
    if path == "/browsers/{id}/repl":
        return "repl.execute"
    if path == "/browsers/{id}/replays":
        return "replay.start"
    if path == "/browsers/{id}/replays/{replay_id}/stop":
        return "replay.stop"
    return None


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw.strip() else {}
    except ValueError:
        return None


class TraceRecorder:
    """Records the steps of invocations' browsers into ``traces``."""

    def __init__(self, traces: Traces, browsers: BrowserSet) -> None:
        self.traces = traces
        self.browsers = browsers
        #: Which invocation each browser was created for (closed ones too, the latest kept).
        self.owners: collections.OrderedDict[str, str] = collections.OrderedDict()

    # -- recording ----------------------------------------------------------------------

    def wrap(self, routes: list[BaseRoute]) -> list[BaseRoute]:
        """``routes`` with each browser-driving one recorded (the others as they are)."""
        if not self.traces.enabled:
            return routes
        out: list[BaseRoute] = []
        for route in routes:
            if isinstance(route, Route):
                methods = sorted(m for m in route.methods or () if m != "HEAD")
                kind = _kind(methods[0], route.path) if len(methods) == 1 else None
                if kind is not None:
                    route = Route(route.path, self._recording(kind, route.endpoint),
                                  methods=methods, name=route.name)
            out.append(route)
        return out

    def _owner(self, request: Request) -> tuple[str, str] | None:
        """``(browser id, invocation id)`` of the browser a request names, if it has one."""
        key = request.path_params.get("id")
        if key is None:
            return None
        browser = self.browsers.items.get(key)
        if browser is None:
            try:
                browser = self.browsers.find(key)
            except ApiError:
                return None
        inv = browser.invocation_id
        return (browser.id, inv) if inv else None

    def _recording(self, kind: str, endpoint: _Endpoint) -> _Endpoint:
        async def recorded(request: Request) -> Response:
            owner = None if kind == "browser.create" else self._owner(request)
            by = _PAGES.get(urlsplit(request.headers.get("referer", "")).path)
            if (owner is None and kind != "browser.create") or (
                    by == "live view" and kind in _VIEWER_READS):
                return await endpoint(request)
            raw = await request.body()  # cached: the endpoint reads the same
            started_ns, started = now_ns(), time.perf_counter()
            response = await endpoint(request)
            took = time.perf_counter() - started
            try:
                self._record(kind, owner, request, raw, response, started_ns, took, by)
            except Exception as exc:  # a trace never fails the call it records
                log = getattr(self.browsers, "log", None)
                if callable(log):
                    log(f"trace: {kind} not recorded: {exc!r}")
            return response

        recorded.__name__ = getattr(endpoint, "__name__", kind)
        return recorded

    def _record(self, kind: str, owner: tuple[str, str] | None, request: Request, raw: bytes,
                response: Response, started_ns: int, took: float, by: str | None) -> None:
        body = getattr(response, "body", b"")
        ok = 200 <= response.status_code < 300
        answer = _json(body) if response.media_type == "application/json" else None
        args = _json(raw)
        detail: dict[str, Any] = {"status": response.status_code}
        if by is not None:  # a person, from a dashboard page: not the agent
            detail["by"] = by
        if args:
            detail["args"] = args
        if not ok:
            detail["error"] = (answer.get("message") if isinstance(answer, dict) else None) \
                or f"HTTP {response.status_code}"
        image = None
        if kind == "browser.create":
            if not ok or not isinstance(answer, dict):
                return
            browser_id = str(answer.get("session_id", ""))
            inv = args.get("invocation_id") if isinstance(args, dict) else None
            if not isinstance(inv, str) or not inv:
                return
            owner = (browser_id, inv)
            self.owners[browser_id] = inv
            while len(self.owners) > _KEPT:
                self.owners.popitem(last=False)
            detail["result"] = {k: answer.get(k) for k in (
                "session_id", "viewport", "headless", "browser_live_view_url")}
        elif kind == "computer.screenshot" and ok and response.media_type == "image/png":
            image = bytes(body)
        elif kind in ("playwright.execute", "repl.execute") and isinstance(answer, dict):
            detail["result"] = answer
        elif kind == "replay.start" and ok and isinstance(answer, dict):
            replay_id = answer.get("replay_id")
            detail["replay_id"] = replay_id
            detail["recording_started_ns"] = started_ns + int(took * 1e9)
            assert owner is not None
            detail["video_url"] = f"/_dashboard/replays/{owner[0]}/{replay_id}/video"
        elif kind == "replay.stop":
            detail["replay_id"] = request.path_params.get("replay_id")
        elif ok and answer is not None:
            detail["result"] = answer
        assert owner is not None
        self.traces.add(owner[1], kind, owner[0], started_ns=started_ns,
                        duration_ns=int(took * 1e9), detail=detail, image=image)

    # -- reading ------------------------------------------------------------------------

    def routes(self, invocation_exists: Callable[[str], bool]) -> list[BaseRoute]:
        """The dashboard's reads; ``invocation_exists`` says whether an id names one."""

        def check(request: Request) -> str:
            inv = request.path_params["id"]
            if not invocation_exists(inv):
                raise not_found(f"invocation {inv!r} not found")
            return inv

        async def trace(request: Request) -> Response:
            inv = check(request)
            after = int_param(request, "after", 0, 0, 10**9)
            await self.traces.store.flush()
            return json_response({"invocation_id": inv, "enabled": self.traces.enabled,
                                  "steps": self.traces.steps(inv, after),
                                  "dropped": self.traces.dropped(inv)})

        async def screenshot(request: Request) -> Response:
            inv = check(request)
            raw = request.path_params["step"]
            if not raw.isdigit() or not 0 < int(raw) < 10**9:
                raise bad_request(f"'step' must be a step number (from 1), got {raw!r}")
            await self.traces.store.flush()
            png = self.traces.screenshot(inv, int(raw))
            if png is None:
                raise not_found(f"step {raw} of invocation {inv} has no screenshot")
            return Response(png, media_type="image/png",
                            headers={"Cache-Control": "private, max-age=3600"})

        async def browsers(request: Request) -> Response:
            now = time.monotonic()
            open_ = [{**b.to_wire(), "invocation_id": b.invocation_id,
                      "idle_seconds": round(max(0.0, now - b.last_active), 1)}
                     for b in reversed(list(self.browsers.items.values())) if b.ready]
            closed = [{**w, "invocation_id": self.owners.get(str(w.get("session_id")))}
                      for w in self.browsers.deleted]
            return json_response({"open": open_, "closed": closed})

        return [
            Route("/_runner/invocations/{id}/trace", guard(trace), methods=["GET"]),
            Route("/_runner/invocations/{id}/trace/{step}/screenshot", guard(screenshot),
                  methods=["GET"]),
            Route("/_runner/browsers", guard(browsers), methods=["GET"]),
        ]
