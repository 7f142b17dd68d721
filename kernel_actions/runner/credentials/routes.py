"""The ``/credentials`` endpoints: create, list, read, change, delete, and TOTP codes.

Shapes follow the official SDK's ``Credential`` and ``CredentialTotpCodeResponse``; the
values and the TOTP secret are never answered (see :mod:`.store`).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..http.common import MAX_OFFSET, guard, int_param, json_response, paged, read_json_body
from .store import Credentials

__all__ = ["CredentialRoutes"]


class CredentialRoutes:
    """``/credentials``, ``/credentials/{id}`` and ``/credentials/{id}/totp-code``."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/credentials", guard(self.create_credential), methods=["POST"]),
            Route("/credentials", guard(self.list_credentials), methods=["GET"]),
            Route("/credentials/{id}", guard(self.get_credential), methods=["GET"]),
            Route("/credentials/{id}", guard(self.update_credential), methods=["PATCH"]),
            Route("/credentials/{id}", guard(self.delete_credential), methods=["DELETE"]),
            Route("/credentials/{id}/totp-code", guard(self.totp_code), methods=["GET"]),
        ]

    async def create_credential(self, request: Request) -> Response:
        return json_response(await self.credentials.create(await read_json_body(request)))

    async def list_credentials(self, request: Request) -> Response:
        q = request.query_params
        limit = int_param(request, "limit", 20, 1, 100)
        offset = int_param(request, "offset", 0, 0, MAX_OFFSET)
        items = self.credentials.listed(domain=q.get("domain") or None,
                                        query=q.get("query") or None)
        page, headers = paged(items, limit, offset)
        return json_response(page, headers=headers)

    async def get_credential(self, request: Request) -> Response:
        return json_response(self.credentials.to_wire(
            self.credentials.find(request.path_params["id"])))

    async def update_credential(self, request: Request) -> Response:
        body = await read_json_body(request)
        return json_response(await self.credentials.update(request.path_params["id"], body))

    async def delete_credential(self, request: Request) -> Response:
        await self.credentials.delete(request.path_params["id"])
        return Response(status_code=204)

    async def totp_code(self, request: Request) -> Response:
        return json_response(self.credentials.code(request.path_params["id"]))
