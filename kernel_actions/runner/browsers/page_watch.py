"""One runner-side DevTools connection per browser that follows every tab.

Telemetry and WebMCP both need to hear what each page of a browser does (its console, its
network, its navigations, the tools it registers) whoever opened the page: the user's
Playwright, computer controls on the real screen, or a REPL. A :class:`PageWatcher` is one
internal client of the browser's :class:`~.cdp.CdpMux` (it never keeps the browser alive):
it asks Chromium to attach it to every page target, present and future
(``Target.setAutoAttach`` with ``flatten``), and hands each attached page and each of its
events to its listeners. Listeners enable the domains they need on the page's session in
:meth:`PageListener.page_attached`.

The sessions are the watcher's own, so nothing it enables or injects shows on the user's
sessions (the CDP domains are per session).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..engine import background
from .cdp import CdpClient, CdpError, CdpMux, settle_reply

__all__ = ["PageListener", "PageWatcher", "WatchedPage"]


@dataclass(eq=False)
class WatchedPage:
    """One page target the watcher is attached to, and what is known of it."""

    watcher: PageWatcher
    session_id: str
    target_id: str
    target_type: str = "page"
    url: str = ""
    title: str = ""
    opener_id: str | None = None
    #: The top frame's id (the target id, for a page) and its current document's loader.
    frame_id: str | None = None
    loader_id: str | None = None
    #: Top-level navigations seen on it (the "navigation epoch" of telemetry events).
    nav_seq: int = 0
    #: What listeners keep about the page (each under its own key).
    state: dict[str, Any] = field(default_factory=dict)
    detached: bool = False

    async def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """A command on this page's session."""
        return await self.watcher.send(method, params, self.session_id)


class PageListener(Protocol):
    """What a feature built on the watcher implements (each method must not raise)."""

    async def page_attached(self, page: WatchedPage) -> None:
        """A page was attached: enable what you need on its session."""
        ...

    def page_event(self, page: WatchedPage, method: str, params: dict[str, Any]) -> None:
        """An event on the page's session."""
        ...

    def page_detached(self, page: WatchedPage) -> None:
        """The page closed (or the watcher stopped)."""
        ...


class PageWatcher:
    """Follows every page of one browser over an internal DevTools connection."""

    def __init__(self, mux: CdpMux, log: Callable[[str], None] | None = None) -> None:
        self.mux = mux
        self.listeners: list[PageListener] = []
        self.pages: dict[str, WatchedPage] = {}  # by session id
        self._client: CdpClient | None = None
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._log = log or (lambda line: None)
        self.closed = False

    # -- the connection ---------------------------------------------------------------------

    async def start(self) -> None:
        """Attach to the browser and to every page it has and will have."""
        self._client = await self.mux.attach(self._received, external=False,
                                             on_close=self._ended)
        await self.send("Target.setDiscoverTargets", {"discover": True})
        await self.send("Target.setAutoAttach", {
            "autoAttach": True, "waitForDebuggerOnStart": False, "flatten": True,
            "filter": [{"type": "page", "exclude": False}]})

    async def send(self, method: str, params: dict[str, Any] | None = None,
                   session_id: str | None = None) -> dict[str, Any]:
        client = self._client
        if client is None or client.closed:
            raise CdpError("the page watcher's connection is closed")
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        message: dict[str, Any] = {"id": request_id, "method": method, "params": params or {}}
        if session_id is not None:
            message["sessionId"] = session_id
        try:
            client.send(message)
            return await future
        finally:
            self._waiting.pop(request_id, None)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        self._ended()

    def _ended(self) -> None:
        if self.closed:
            return
        self.closed = True
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(CdpError("the page watcher's connection is closed"))
        for page in list(self.pages.values()):
            self._detach(page)

    # -- what Chromium says -----------------------------------------------------------------

    def _received(self, message: dict[str, Any]) -> None:
        if settle_reply(self._waiting, message):
            return
        method = message.get("method") or ""
        params = message.get("params") or {}
        session = message.get("sessionId")
        if session is None:
            self._browser_event(method, params)
            return
        page = self.pages.get(session)
        if page is None:
            return
        if method == "Page.frameNavigated":
            frame = params.get("frame") or {}
            if not frame.get("parentId"):
                page.url = frame.get("url") or page.url
                page.frame_id = frame.get("id") or page.frame_id
                page.loader_id = frame.get("loaderId") or page.loader_id
                page.nav_seq += 1
        for listener in self.listeners:
            try:
                listener.page_event(page, method, params)
            except Exception as exc:  # a listener's bug must not stop the others
                self._log(f"page watcher: {type(listener).__name__} failed on {method}: {exc}")

    def _browser_event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Target.attachedToTarget":
            info = params.get("targetInfo") or {}
            session = params.get("sessionId")
            if not isinstance(session, str) or info.get("type") != "page":
                return
            page = WatchedPage(self, session, str(info.get("targetId") or ""),
                               url=info.get("url") or "", title=info.get("title") or "",
                               opener_id=info.get("openerId"))
            page.frame_id = page.target_id
            self.pages[session] = page
            background.start(self._attached(page), name=f"watch page {page.target_id}")
        elif method == "Target.detachedFromTarget":
            page = self.pages.get(params.get("sessionId") or "")
            if page is not None:
                self._detach(page)
        elif method == "Target.targetInfoChanged":
            info = params.get("targetInfo") or {}
            for page in self.pages.values():
                if page.target_id == info.get("targetId"):
                    page.url = info.get("url") or page.url
                    page.title = info.get("title") or page.title

    async def _attached(self, page: WatchedPage) -> None:
        for listener in self.listeners:
            if page.detached:
                return
            with contextlib.suppress(CdpError):
                try:
                    await listener.page_attached(page)
                except CdpError:
                    raise
                except Exception as exc:
                    self._log(f"page watcher: {type(listener).__name__} could not follow "
                              f"page {page.target_id}: {exc}")

    def _detach(self, page: WatchedPage) -> None:
        if page.detached:
            return
        page.detached = True
        self.pages.pop(page.session_id, None)
        for listener in self.listeners:
            with contextlib.suppress(Exception):
                listener.page_detached(page)

    def page_by_target(self, target_id: str) -> WatchedPage | None:
        return next((p for p in self.pages.values() if p.target_id == target_id), None)
