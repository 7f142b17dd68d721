"""``GET /apps``: the app versions the runner serves, filtered and paged."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .common import MAX_OFFSET, guard, int_param, json_response, paged

__all__ = ["AppRoutes"]


class AppRoutes:
    """Lists what ``summaries`` returns: one app summary per served app version."""

    def __init__(self, summaries: Callable[[], list[dict[str, Any]]]) -> None:
        self.summaries = summaries

    def routes(self) -> list[BaseRoute]:
        return [Route("/apps", guard(self.list_apps), methods=["GET"])]

    async def list_apps(self, request: Request) -> Response:
        q = request.query_params
        limit = int_param(request, "limit", 100, 1, 1000)
        offset = int_param(request, "offset", 0, 0, MAX_OFFSET)
        apps = [
            a for a in self.summaries()
            if (not q.get("app_name") or a["app_name"] == q["app_name"])
            and (not q.get("version") or a["version"] == q["version"])
            and (not q.get("query") or q["query"].lower() in a["app_name"].lower())
        ]
        page, headers = paged(apps, limit, offset)
        return json_response(page, headers=headers)
