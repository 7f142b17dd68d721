"""The ``/browsers/{id_or_name}/playwright/*`` endpoints over each browser's executors."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..engine import background
from ..errors import bad_request
from ..http.common import guard, json_response, read_json_body
from .playwright_exec import (
    ExecutorPool,
    check_executor_name,
    find_playwright_runtime,
    parse_execute,
)

if TYPE_CHECKING:
    from .handles import BrowserList, RunningBrowser

__all__ = ["PlaywrightApi"]


@contextlib.asynccontextmanager
async def kept_active(browser: RunningBrowser) -> AsyncIterator[None]:
    """A call in progress is activity: the browser is not closed as idle while it runs
    (an executor's first call spends a while starting Node before it connects)."""

    async def touch() -> None:
        while True:
            browser.last_active = time.monotonic()
            await asyncio.sleep(0.5)

    toucher = asyncio.create_task(touch())
    try:
        yield
    finally:
        toucher.cancel()
        browser.last_active = time.monotonic()


class PlaywrightApi:
    """Executor pools by browser id; a browser's pool stops with the browser."""

    def __init__(self, browsers: BrowserList) -> None:
        self.browsers = browsers
        self.pools: dict[str, ExecutorPool] = {}
        browsers.close_listeners.append(self.browser_closed)

    def pool(self, browser: RunningBrowser) -> ExecutorPool:
        pool = self.pools.get(browser.id)
        if pool is None:
            pool = self.pools[browser.id] = ExecutorPool(browser.id, browser.cdp_ws_url,
                                                         browser.folder, browser.owner)
        return pool

    def browser_closed(self, browser: RunningBrowser) -> None:
        pool = self.pools.pop(browser.id, None)
        if pool is not None:
            background.start(pool.close(browser.closing or "closed"),
                             name=f"stop executors of {browser.id}")

    def routes(self) -> list[BaseRoute]:
        async def execute(request: Request) -> Response:
            browser = self.browsers.find(request.path_params["id"])
            code, name, timeout = parse_execute(await read_json_body(request))
            runtime = find_playwright_runtime()
            async with kept_active(browser):
                reply = await self.pool(browser).execute(code, name, timeout, runtime)
            return json_response(reply)

        async def executors(request: Request) -> Response:
            browser = self.browsers.find(request.path_params["id"])
            pool = self.pools.get(browser.id)
            listing = pool.listing() if pool is not None else ExecutorPool(
                browser.id, "", browser.folder).listing()
            return json_response({"executors": listing})

        async def delete_executor(request: Request) -> Response:
            browser = self.browsers.find(request.path_params["id"])
            name = check_executor_name(request.path_params["name"])
            raw = request.query_params.get("close_tab", "true").lower()
            if raw not in ("true", "false", "1", "0"):
                raise bad_request(f"'close_tab' must be true or false, got {raw!r}")
            await self.pool(browser).delete(name, close_tab=raw in ("true", "1"))
            return Response(status_code=204)

        base = "/browsers/{id}/playwright"
        return [
            Route(f"{base}/execute", guard(execute), methods=["POST"]),
            Route(f"{base}/executors", guard(executors), methods=["GET"]),
            Route(f"{base}/executors/{{name}}", guard(delete_executor), methods=["DELETE"]),
        ]
