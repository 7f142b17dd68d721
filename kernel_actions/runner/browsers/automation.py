"""The APIs served on top of a running browser (Playwright execution, replays, the REPL,
telemetry, WebMCP), each wired to the browser list for lookups and to its close listeners
for cleanup.

:class:`BrowserAutomation` also follows every browser from the moment its DevTools pipe
answers: a :class:`~.page_watch.PageWatcher` per browser feeds its telemetry and its WebMCP
registry, and the pipe's external clients are reported to its telemetry.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from starlette.routing import BaseRoute

from .cdp import CdpError, CdpMux
from .page_watch import PageWatcher
from .playwright_routes import PlaywrightApi
from .repl_routes import ReplApi
from .replay_routes import ReplaysApi
from .telemetry import ClientTelemetry, PageTelemetry
from .telemetry_routes import TelemetryApi
from .webmcp_routes import WebMcpApi

if TYPE_CHECKING:
    from .handles import BrowserList, RunningBrowser

__all__ = ["BrowserAutomation", "automation_routes"]


class FollowedBrowsers(Protocol):
    """What :class:`BrowserAutomation` needs of the browser list beyond lookups: to be told
    when a browser's DevTools pipe first answers (before the browser is served)."""

    ready_listeners: list[Callable[[Any, CdpMux], Awaitable[None]]]


class BrowserAutomation:
    """Every API built on a running browser, and what follows each browser's pages."""

    def __init__(self, browsers: BrowserList, data_dir: Path,
                 log: Callable[[str], None] | None = None) -> None:
        self.browsers = browsers
        self.log = log or (lambda line: None)
        self.playwright = PlaywrightApi(browsers)
        self.replays = ReplaysApi(browsers, data_dir / "replays")
        self.telemetry = TelemetryApi(browsers)
        self.repl = ReplApi(browsers)
        self.webmcp = WebMcpApi(browsers)
        self.watchers: dict[str, PageWatcher] = {}
        browsers.close_listeners.append(self.browser_closed)

    def follow(self, browsers: FollowedBrowsers) -> None:
        """Start following each browser of ``browsers`` as it starts."""
        browsers.ready_listeners.append(self.browser_ready)

    async def browser_ready(self, browser: RunningBrowser, mux: CdpMux) -> None:
        """The browser's pipe answers: report its clients, follow its pages (never raises:
        a browser whose pages can't be followed still works, without telemetry)."""
        log = self.telemetry.log_for(browser.id)
        mux.observers.append(ClientTelemetry(log))
        watcher = PageWatcher(mux, self.log)
        watcher.listeners += [PageTelemetry(log), self.webmcp.registry_for(browser.id)]
        self.watchers[browser.id] = watcher
        try:
            await watcher.start()
        except CdpError as exc:
            self.log(f"browser {browser.id}: its pages are not followed ({exc}): no "
                     "telemetry of them, no WebMCP")
            watcher.close()

    def browser_closed(self, browser: Any) -> None:
        watcher = self.watchers.pop(browser.id, None)
        if watcher is not None:
            with contextlib.suppress(Exception):
                watcher.close()

    def recorded(self, routes: list[BaseRoute]) -> list[BaseRoute]:
        """Browser-driving ``routes`` whose calls are recorded as telemetry ``control``
        events (the computer controls are served beside these)."""
        return self.telemetry.recorded(routes)

    def routes(self) -> list[BaseRoute]:
        return [*self.recorded(self.playwright.routes()), *self.replays.routes(),
                *self.recorded(self.repl.routes()), *self.telemetry.routes(),
                *self.webmcp.routes()]


def automation_routes(browsers: BrowserList, data_dir: Path) -> list[BaseRoute]:
    """The routes of a :class:`BrowserAutomation` that follows no browser's pages."""
    return BrowserAutomation(browsers, data_dir).routes()
