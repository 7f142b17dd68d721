"""The ``/browsers`` endpoints (create, list, read, update, delete, and an invocation's
browsers), one method each, and the routes of every browser API served beside them.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..errors import bad_request
from ..http.common import MAX_OFFSET, guard, int_param, json_response, paged, read_json_body
from ..proxies.routes import ProxyRoutes
from .automation import BrowserAutomation
from .cdp import CdpMux
from .cdp_route import cdp_route
from .computer_routes import computer_routes
from .curl import curl_routes
from .extension_routes import ExtensionRoutes
from .logs import log_routes
from .service import Browsers
from .update import update_browser

__all__ = ["BrowserRoutes"]

_TAG = re.compile(r"tags\[(.+)\]")


class BrowserRoutes:
    """The HTTP face of :class:`.service.Browsers`."""

    def __init__(self, browsers: Browsers) -> None:
        self.browsers = browsers
        self.automation = BrowserAutomation(browsers, browsers.root.parent, browsers.log)
        self.automation.follow(browsers)

    def routes(self) -> list[BaseRoute]:
        browsers = self.browsers
        return [
            *self.automation.routes(),
            cdp_route(browsers.runner.config, browsers.devtools),
            *browsers.files.routes(),
            *browsers.processes.routes(),
            *browsers.profiles.routes(),
            *ExtensionRoutes(browsers.extensions, self.extension_target).routes(),
            *ProxyRoutes(browsers.proxies).routes(),
            *curl_routes(browsers.cdp_of),
            *browsers.pools.routes(),
            *log_routes(browsers.logs_of, browsers.is_known),
            Route("/browsers", guard(self.create_browser), methods=["POST"]),
            Route("/browsers", guard(self.list_browsers), methods=["GET"]),
            Route("/browsers/{id}", guard(self.get_browser), methods=["GET"]),
            Route("/browsers/{id}", guard(self.update_browser), methods=["PATCH"]),
            Route("/browsers/{id}", guard(self.delete_browser), methods=["DELETE"]),
            Route("/invocations/{id}/browsers", guard(self.list_invocation_browsers),
                  methods=["GET"]),
            Route("/invocations/{id}/browsers", guard(self.delete_invocation_browsers),
                  methods=["DELETE"]),
            *self.automation.recorded(computer_routes(browsers.find)),
        ]

    def extension_target(self, id_or_name: str) -> tuple[Path, CdpMux]:
        """Where ``POST /browsers/{id}/extensions`` puts extensions, and the pipe that
        loads them."""
        browser = self.browsers.find(id_or_name)
        assert browser.cdp is not None  # found means ready
        return browser.folder, browser.cdp

    async def create_browser(self, request: Request) -> Response:
        body = await read_json_body(request) if (await request.body()).strip() else {}
        browser = await self.browsers.create(body)
        return json_response(browser.to_wire())

    async def list_browsers(self, request: Request) -> Response:
        q = request.query_params
        limit = int_param(request, "limit", 20, 1, 100)
        offset = int_param(request, "offset", 0, 0, MAX_OFFSET)
        status = q.get("status") or "active"
        if status not in ("active", "deleted", "all"):
            raise bad_request(f"'status' must be one of active, deleted, all; got {status!r}")
        if q.get("include_deleted") in ("true", "1") and status == "active":
            status = "all"  # the deprecated spelling of status=all
        tags = {m.group(1): v for k, v in q.multi_items() if (m := _TAG.fullmatch(k))}
        query = q.get("query") or None
        wires = [] if status == "deleted" else [
            b.to_wire() for b in reversed(list(self.browsers.items.values())) if b.ready]
        if status != "active":
            wires += list(self.browsers.deleted)
        items = [
            w for w in wires
            if (not q.get("region") or w["region"] == q["region"])
            and (query is None or query in w["session_id"] or query in (w.get("name") or ""))
            and all((w.get("tags") or {}).get(k) == v for k, v in tags.items())
        ]
        page, headers = paged(items, limit, offset)
        return json_response(page, headers=headers)

    async def get_browser(self, request: Request) -> Response:
        return json_response(self.browsers.find(request.path_params["id"]).to_wire())

    async def update_browser(self, request: Request) -> Response:
        browser = self.browsers.find(request.path_params["id"])
        await update_browser(browser, await read_json_body(request),
                             notice=self.browsers.notice, name_taken=self.browsers.name_taken)
        return json_response(browser.to_wire())

    async def delete_browser(self, request: Request) -> Response:
        browser = self.browsers.find(request.path_params["id"])
        await asyncio.shield(self.browsers.close(browser, "deleted"))
        return Response(status_code=204)

    async def list_invocation_browsers(self, request: Request) -> Response:
        inv_id = request.path_params["id"]
        await self.browsers.check_invocation(inv_id)
        return json_response({"browsers": [b.to_wire() for b in self.browsers.items.values()
                                           if b.ready and b.invocation_id == inv_id]})

    async def delete_invocation_browsers(self, request: Request) -> Response:
        inv_id = request.path_params["id"]
        await self.browsers.check_invocation(inv_id)
        tasks = [self.browsers.close(b, f"deleted with invocation {inv_id}'s browsers")
                 for b in list(self.browsers.items.values()) if b.invocation_id == inv_id]
        if tasks:
            await asyncio.shield(asyncio.gather(*tasks))
        return Response(status_code=204)
