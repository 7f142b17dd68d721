"""The ``/proxies`` endpoints: create, list, read, rename, delete and check ``custom``
proxies. Shapes follow the official SDK's ``Proxy*Response`` types."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..http.common import MAX_OFFSET, guard, int_param, json_response, paged, read_json_body
from .check import check_proxy, check_url
from .store import Proxies

__all__ = ["ProxyRoutes"]


class ProxyRoutes:
    """``/proxies``, ``/proxies/{id}`` and ``/proxies/{id}/check``."""

    def __init__(self, proxies: Proxies) -> None:
        self.proxies = proxies

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/proxies", guard(self.create_proxy), methods=["POST"]),
            Route("/proxies", guard(self.list_proxies), methods=["GET"]),
            Route("/proxies/{id}", guard(self.get_proxy), methods=["GET"]),
            Route("/proxies/{id}", guard(self.update_proxy), methods=["PATCH"]),
            Route("/proxies/{id}", guard(self.delete_proxy), methods=["DELETE"]),
            Route("/proxies/{id}/check", guard(self.check_proxy), methods=["POST"]),
        ]

    async def create_proxy(self, request: Request) -> Response:
        return json_response(await self.proxies.create(await read_json_body(request)))

    async def list_proxies(self, request: Request) -> Response:
        q = request.query_params
        limit = int_param(request, "limit", 20, 1, 100)
        offset = int_param(request, "offset", 0, 0, MAX_OFFSET)
        items = self.proxies.listed(name=q.get("name") or None, query=q.get("query") or None)
        page, headers = paged(items, limit, offset)
        return json_response(page, headers=headers)

    async def get_proxy(self, request: Request) -> Response:
        return json_response(self.proxies.to_wire(self.proxies.find(request.path_params["id"])))

    async def update_proxy(self, request: Request) -> Response:
        body = await read_json_body(request)
        return json_response(await self.proxies.rename(request.path_params["id"], body))

    async def delete_proxy(self, request: Request) -> Response:
        await self.proxies.delete(request.path_params["id"])
        return Response(status_code=204)

    async def check_proxy(self, request: Request) -> Response:
        raw = await request.body()
        body = await read_json_body(request) if raw.strip() else {}
        url = check_url(body.get("url"))
        record = self.proxies.find(request.path_params["id"])
        result = await check_proxy(self.proxies.target(record["id"]), url)
        if url is None:  # a check of a site of the user's own says nothing of the proxy
            await self.proxies.checked(record["id"], result.status, result.ip_address)
            record = self.proxies.find(record["id"])
        answer = self.proxies.to_wire(record)
        if url is not None:
            answer["status"] = result.status
        if result.error is not None:
            answer["error"] = result.error
        return json_response(answer)
