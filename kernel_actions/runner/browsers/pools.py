"""Browser pools (``/browser_pools``): warm browsers kept ready, acquired and released.

A pool keeps ``size`` warm browsers ready (acquired ones are not counted), made from its configuration (``headless``, ``viewport``,
``timeout_seconds``, ``start_url``, ``profile`` loaded read-only), each one a normal local
browser. A warm browser holds a DevTools connection of the pool's, so the idle timeout
does not close it; ``acquire`` hands one out (the idle timeout starts then) and the pool
makes a new one in the background; ``release`` takes it back (``reuse: false`` closes it
and makes a fresh one); ``flush`` replaces the warm ones. An acquired browser that is
deleted or times out leaves the pool, which refills. Pool browsers count against
``--max-browsers``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ...ids import new_id
from ...timeutil import format_ns, now_ns
from ..errors import ApiError, bad_request, conflict, not_found
from ..http.common import MAX_OFFSET, guard, int_param, json_response, paged, read_json_body
from .cdp import CdpClient, CdpError
from .update import update_browser


class LocalBrowser(Protocol):
    """What a pool needs of a browser (``browser.LocalBrowser`` provides it)."""

    id: str
    name: str | None
    tags: dict[str, str] | None
    last_active: float

    @property
    def ready(self) -> bool: ...
    def to_wire(self) -> dict[str, Any]: ...


class Browsers(Protocol):
    """What a pool needs of the browser list (``service.Browsers`` provides it)."""

    items: dict[str, Any]
    profiles: Any

    def log(self, message: str) -> None: ...
    def name_taken(self, name: str) -> bool: ...
    async def create(self, body: dict[str, Any], *, warm: bool = True) -> Any: ...
    def close(self, browser: Any, reason: str) -> asyncio.Task[None]: ...
    def check_settings(self, body: dict[str, Any]) -> None: ...

__all__ = ["Pools"]

MAX_POOL_SIZE = 50
DEFAULT_ACQUIRE_TIMEOUT_S = 30
_NAME = re.compile(r"[A-Za-z0-9._-]{1,255}")
#: Settings of a pool that its browsers are made with.
_BROWSER_SETTINGS = ("headless", "viewport", "timeout_seconds", "start_url", "stealth",
                     "kiosk_mode", "proxy_id", "extensions", "chrome_policy", "memory")


@dataclass(eq=False)
class _Pool:
    id: str
    config: dict[str, Any]
    created_ns: int
    available: list[tuple[LocalBrowser, CdpClient]] = field(default_factory=list)
    acquired: dict[str, LocalBrowser] = field(default_factory=dict)
    starting: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    filler: asyncio.Task[None] | None = None
    last_error: str | None = None

    @property
    def name(self) -> str | None:
        return self.config.get("name")

    @property
    def size(self) -> int:
        return int(self.config["size"])

    def to_wire(self, profile_id: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id, "name": self.name, "created_at": format_ns(self.created_ns),
            "acquired_count": len(self.acquired), "available_count": len(self.available),
            "browser_pool_config": dict(self.config), "extension_ids": [],
            "region": "us-east",
        }
        if profile_id is not None:
            body["profile_id"] = profile_id
        return body


class Pools:
    def __init__(self, browsers: Browsers) -> None:
        self.browsers = browsers
        self.items: dict[str, _Pool] = {}

    # -- filling -----------------------------------------------------------------------------

    def _find(self, id_or_name: str) -> _Pool:
        pool = self.items.get(id_or_name) or next(
            (p for p in self.items.values() if p.name == id_or_name), None)
        if pool is None:
            raise not_found(f"browser pool {id_or_name!r} not found")
        return pool

    def open(self, config: dict[str, Any]) -> _Pool:
        """A new pool of ``config`` (checked), filling from now on."""
        pool = _Pool(new_id(), config, now_ns())
        self.items[pool.id] = pool
        self._start(pool)
        return pool

    def _start(self, pool: _Pool) -> None:
        pool.filler = asyncio.ensure_future(self._fill(pool))

    async def _fill(self, pool: _Pool) -> None:
        """Keep ``size`` browsers in the pool until it is deleted."""
        while pool.id in self.items:
            live = self.browsers.items
            for browser_id in [b for b in pool.acquired if b not in live]:
                del pool.acquired[browser_id]  # deleted or timed out by its user
            pool.available = [(b, keeper) for b, keeper in pool.available
                              if b.id in live and not keeper.closed]
            if len(pool.available) < pool.size:
                try:
                    # The pool's browsers are its own warm ones: no spare of the runner's.
                    browser = await self.browsers.create(self._browser_body(pool), warm=False)
                    keeper = await self._keep(browser)
                except Exception as exc:  # noqa: BLE001 - the pool keeps trying, and says why
                    message = (exc.message if isinstance(exc, ApiError) else str(exc)
                               if isinstance(exc, CdpError) else f"{type(exc).__name__}: {exc}")
                    if pool.last_error != message:
                        self.browsers.log(f"browser pool {pool.id}: {message}")
                    pool.last_error = message
                    await self._wait(pool, 1.0)
                    continue
                if pool.id not in self.items:
                    self.browsers.close(browser, "its pool was deleted")
                    return
                pool.last_error = None
                pool.available.append((browser, keeper))
                pool.changed.set()
                continue
            await self._wait(pool, 1.0)

    @staticmethod
    async def _wait(pool: _Pool, seconds: float) -> None:
        pool.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(pool.changed.wait(), seconds)

    async def _keep(self, browser: LocalBrowser) -> CdpClient:
        assert browser.cdp is not None
        return await browser.cdp.attach(lambda message: None, external=True)

    def _browser_body(self, pool: _Pool) -> dict[str, Any]:
        body = {k: pool.config[k] for k in _BROWSER_SETTINGS if pool.config.get(k) is not None}
        profile = pool.config.get("profile")
        if isinstance(profile, dict):  # read-only in a pool
            body["profile"] = {k: v for k, v in profile.items() if k in ("id", "name")}
        return body

    def _check(self, body: dict[str, Any], current: dict[str, Any] | None = None
               ) -> dict[str, Any]:
        config = {**(current or {}), **{k: v for k, v in body.items()
                                        if k not in ("discard_all_idle",)}}
        size = config.get("size")
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_POOL_SIZE:
            raise bad_request(f"'size' must be an integer between 0 and {MAX_POOL_SIZE}")
        name = config.get("name")
        if name is not None and (not isinstance(name, str) or not _NAME.fullmatch(name)):
            raise bad_request("'name' must be 1-255 letters, digits, dots, underscores or "
                              "hyphens")
        if name is not None and any(p.name == name and p.config is not current
                                    for p in self.items.values()):
            raise conflict(f"a browser pool named {name!r} already exists")
        probe = self._browser_body(_Pool("probe", config, 0))
        self.browsers.check_settings(probe)  # a bad browser setting fails now, not later
        return config

    def _profile_id(self, pool: _Pool) -> str | None:
        profile = pool.config.get("profile")
        if not isinstance(profile, dict):
            return None
        with contextlib.suppress(ApiError):
            return str(self.browsers.profiles.find(profile.get("id") or profile.get("name")
                                                   or "")["id"])
        return None

    def _wire(self, pool: _Pool) -> dict[str, Any]:
        return pool.to_wire(self._profile_id(pool))

    def _close_available(self, pool: _Pool, reason: str) -> None:
        for browser, keeper in pool.available:
            keeper.close()
            self.browsers.close(browser, reason)
        pool.available.clear()

    def close_all(self) -> None:
        for pool in list(self.items.values()):
            self.items.pop(pool.id, None)
            if pool.filler is not None:
                pool.filler.cancel()

    # -- HTTP --------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/browser_pools", guard(self.create_pool), methods=["POST"]),
            Route("/browser_pools", guard(self.list_pools), methods=["GET"]),
            Route("/browser_pools/{id}", guard(self.get_pool), methods=["GET"]),
            Route("/browser_pools/{id}", guard(self.update_pool), methods=["PATCH"]),
            Route("/browser_pools/{id}", guard(self.delete_pool), methods=["DELETE"]),
            Route("/browser_pools/{id}/acquire", guard(self.acquire_browser), methods=["POST"]),
            Route("/browser_pools/{id}/release", guard(self.release_browser), methods=["POST"]),
            Route("/browser_pools/{id}/flush", guard(self.flush_pool), methods=["POST"]),
        ]

    async def create_pool(self, request: Request) -> Response:
        pool = self.open(self._check(await read_json_body(request)))
        return json_response(self._wire(pool))

    async def list_pools(self, request: Request) -> Response:
        limit = int_param(request, "limit", 20, 1, 100)
        offset = int_param(request, "offset", 0, 0, MAX_OFFSET)
        page, headers = paged(list(reversed(self.items.values())), limit, offset)
        return json_response([self._wire(p) for p in page], headers=headers)

    async def get_pool(self, request: Request) -> Response:
        return json_response(self._wire(self._find(request.path_params["id"])))

    async def update_pool(self, request: Request) -> Response:
        pool = self._find(request.path_params["id"])
        body = await read_json_body(request)
        pool.config = self._check(body, pool.config)
        if body.get("discard_all_idle"):
            self._close_available(pool, "its pool was updated")
        while len(pool.available) > pool.size:
            browser, keeper = pool.available.pop()
            keeper.close()
            self.browsers.close(browser, "its pool shrank")
        pool.changed.set()
        return json_response(self._wire(pool))

    async def delete_pool(self, request: Request) -> Response:
        pool = self._find(request.path_params["id"])
        raw = await request.body()
        body = await read_json_body(request) if raw.strip() else {}
        if pool.acquired and not body.get("force"):
            raise conflict(f"browser pool {pool.id} has {len(pool.acquired)} acquired "
                           "browser(s): release them, or delete with force")
        self.items.pop(pool.id, None)
        if pool.filler is not None:
            pool.filler.cancel()
        self._close_available(pool, "its pool was deleted")
        for browser in list(pool.acquired.values()):
            self.browsers.close(browser, "its pool was deleted")
        return Response(status_code=204)

    async def acquire_browser(self, request: Request) -> Response:
        pool = self._find(request.path_params["id"])
        raw = await request.body()
        body = await read_json_body(request) if raw.strip() else {}
        timeout = body.get("acquire_timeout_seconds") or DEFAULT_ACQUIRE_TIMEOUT_S
        if isinstance(timeout, bool) or not isinstance(timeout, int) or not (
                1 <= timeout <= 3600):
            raise bad_request("'acquire_timeout_seconds' must be between 1 and 3600")
        if body.get("profile") is not None:
            raise bad_request("an acquire-time profile is not available locally: set the "
                              "pool's profile")
        deadline = time.monotonic() + timeout
        while True:
            live = [(b, k) for b, k in pool.available if b.ready and not k.closed]
            if live:
                browser, keeper = live[0]
                pool.available.remove((browser, keeper))
                break
            if pool.id not in self.items:
                raise not_found(f"browser pool {pool.id} was deleted")
            left = deadline - time.monotonic()
            if left <= 0:
                return Response(status_code=204)  # none became free in time
            await self._wait(pool, min(left, 1.0))


        keeper.close()
        pool.acquired[browser.id] = browser
        browser.last_active = time.monotonic()  # its idle timeout starts now
        pool.changed.set()  # make the next one
        lease = {k: body[k] for k in ("name", "tags", "start_url") if body.get(k)}
        if lease:
            await update_browser(browser, lease, notice=lambda key, message: None,
                                 name_taken=self.browsers.name_taken)
        return json_response(browser.to_wire())

    async def release_browser(self, request: Request) -> Response:
        pool = self._find(request.path_params["id"])
        body = await read_json_body(request)
        session_id = body.get("session_id")
        browser = pool.acquired.pop(session_id, None) if isinstance(session_id, str) else None
        if browser is None:
            raise not_found(f"browser {session_id!r} is not acquired from pool {pool.id}")
        reuse = body.get("reuse", True)
        if reuse is False or not browser.ready or len(pool.available) >= pool.size:
            self.browsers.close(browser, "released to its pool")
        else:
            browser.name, browser.tags = None, None
            try:
                pool.available.append((browser, await self._keep(browser)))
            except CdpError:
                self.browsers.close(browser, "released to its pool")
        pool.changed.set()
        return Response(status_code=204)

    async def flush_pool(self, request: Request) -> Response:
        pool = self._find(request.path_params["id"])
        self._close_available(pool, "its pool was flushed")
        pool.changed.set()
        return Response(status_code=204)
