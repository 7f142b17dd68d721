"""``POST /browsers/{id_or_name}/repl`` over each browser's :class:`~.repl.BrowserRepl`, and
the DevTools WebSocket the REPL's Playwright uses.

That WebSocket (``/browsers/{id}/repl/cdp/{token}``) is the browser's pipe like
``cdp_ws_url``, with a token of its own that only the REPL process is told, but its client
is the runner's own: it neither keeps the browser alive nor shows in telemetry as an
external client. The front door's Host and Origin rules apply to it as to every request.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import secrets
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from ..engine import background
from ..errors import ApiError
from ..http.common import guard, json_response, read_json_body
from .cdp import CdpError, CdpMux
from .cdp_route import relay
from .playwright_exec import ExecutorGone, find_playwright_runtime
from .playwright_routes import kept_active
from .repl import BrowserRepl, parse_repl

if TYPE_CHECKING:
    from .handles import BrowserList, RunningBrowser

__all__ = ["ReplApi"]

_NO_RETRY = {"x-should-retry": "false"}


def _mux_of(browser: Any) -> CdpMux | None:
    mux = getattr(browser, "cdp", None)
    return mux if isinstance(mux, CdpMux) and not mux.closed.is_set() else None


class ReplApi:
    """The REPLs by browser id; a browser's REPL stops with the browser."""

    def __init__(self, browsers: BrowserList) -> None:
        self.browsers = browsers
        self.repls: dict[str, BrowserRepl] = {}
        self.tokens: dict[str, str] = {}
        browsers.close_listeners.append(self.browser_closed)

    def repl_for(self, browser: RunningBrowser) -> BrowserRepl:
        repl = self.repls.get(browser.id)
        if repl is None:
            token = self.tokens[browser.id] = secrets.token_urlsafe(32)
            base = browser.cdp_ws_url.rsplit("/browsers/", 1)[0]
            repl = self.repls[browser.id] = BrowserRepl(
                browser.id, f"{base}/browsers/{browser.id}/repl/cdp/{token}", browser.folder,
                browser.owner)
        return repl

    def browser_closed(self, browser: Any) -> None:
        self.tokens.pop(browser.id, None)
        repl = self.repls.pop(browser.id, None)
        if repl is not None:
            background.start(repl.close(browser.closing or "closed"),
                             name=f"stop the REPL of {browser.id}")

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/browsers/{id}/repl", guard(self.browser_repl), methods=["POST"]),
            WebSocketRoute("/browsers/{id}/repl/cdp/{token}", self.repl_devtools),
        ]

    async def browser_repl(self, request: Request) -> Response:
        browser = self.browsers.find(request.path_params["id"])
        code, reset, timeout = parse_repl(await read_json_body(request))
        runtime = find_playwright_runtime()
        async with kept_active(browser):
            try:
                result = await self.repl_for(browser).execute(code, reset, timeout, runtime)
            except ExecutorGone:
                raise ApiError(409, "conflict", f"browser {browser.id} was closed",
                               headers=dict(_NO_RETRY)) from None
        return json_response(result)

    async def repl_devtools(self, websocket: WebSocket) -> None:
        browser_id = websocket.path_params["id"]
        expected = self.tokens.get(browser_id)
        given = websocket.path_params["token"]
        mux = None
        if expected is not None and hmac.compare_digest(given.encode(), expected.encode()):
            with contextlib.suppress(ApiError):
                mux = _mux_of(self.browsers.find(browser_id))
        if mux is None:
            await websocket.close(code=1008, reason="no such REPL connection")
            return
        outbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        try:
            client = await mux.attach(outbox.put_nowait, external=False,
                                      on_close=lambda: outbox.put_nowait(None))
        except CdpError:
            await websocket.close(code=1011, reason="the browser is closing")
            return
        await websocket.accept()

        await relay(websocket, client, outbox)
