"""The HTTP API, assembled: every route module's routes behind one front door (host,
origin, body-size and key rules), with JSON answers for unknown routes, wrong methods
and internal errors.

The route modules own the endpoints (:mod:`.invocations`, :mod:`.apps`,
:mod:`.runner_routes`, :mod:`.dashboard`); features add theirs through
``feature_routes``. This module only puts them together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from ...limits import MAX_PAYLOAD_BYTES
from ..services import RunnerServices
from .apps import AppRoutes
from .auth import ApiKeyGate
from .body_limits import BodyLimits
from .common import json_response
from .dashboard import dashboard_routes
from .front_door import FrontDoor
from .invocations import InvocationRoutes
from .runner_routes import RunnerRoutes
from .security import request_rules
from .unavailable import unavailable_routes

__all__ = ["RunnerAPI", "build_api"]


class RunnerAPI(Starlette):
    """Starlette's app (router, JSON error handlers) with the :class:`FrontDoor` in front,
    in place of a stack of middleware."""

    def __init__(self, *, front_door: Callable[[ASGIApp], ASGIApp], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._front_door = front_door

    def build_middleware_stack(self) -> ASGIApp:
        return self._front_door(super().build_middleware_stack())

    @property
    def door(self) -> FrontDoor | None:
        """The front door, for the connection to serve direct endpoints without ASGI."""
        if self.middleware_stack is None:
            self.middleware_stack = self.build_middleware_stack()
        stack = self.middleware_stack
        return stack if isinstance(stack, FrontDoor) else None


def build_api(
    services: RunnerServices,
    *,
    status: Callable[[], dict[str, Any]],
    app_summaries: Callable[[], list[dict[str, Any]]],
    feature_routes: Iterable[BaseRoute] = (),
    port: Callable[[], int],
    upload_limits: Mapping[str, int] | None = None,
) -> Starlette:
    """The ASGI app. ``status`` and ``app_summaries`` are the runner's own views; ``port``
    gives the bound port (known once the socket is bound); ``upload_limits`` names the
    paths that take multipart uploads, with their body limits."""
    heartbeat = services.config.heartbeat_interval
    routes: list[BaseRoute] = [
        *InvocationRoutes(services.scheduler, services.store, services.bus,
                          heartbeat=heartbeat, hold_open=services.config.debug,
                          sync_timeout=services.config.sync_timeout, log=services.log).routes(),
        *AppRoutes(app_summaries).routes(),
        *RunnerRoutes(status, services.bus, heartbeat=heartbeat).routes(),
        *feature_routes,
        *dashboard_routes(),
        *unavailable_routes(),  # last: only what nothing above serves
    ]
    log = services.log

    async def not_found_handler(request: Request, exc: Exception) -> Response:
        return json_response({"code": "not_found", "message": f"no route {request.url.path}"}, 404)

    async def method_not_allowed(request: Request, exc: Exception) -> Response:
        return json_response({"code": "method_not_allowed",
                              "message": f"{request.method} is not allowed on {request.url.path}"},
                             405)

    async def server_error(request: Request, exc: Exception) -> Response:
        log(f"internal error on {request.method} {request.url.path}: {exc!r}")
        return json_response({"code": "internal_error",
                              "message": "internal error in the runner"}, 500,
                             {"x-should-retry": "false"})

    config = services.config
    uploads = dict(upload_limits or {})

    def front_door(app: ASGIApp) -> ASGIApp:
        return FrontDoor(
            app, rules=request_rules(config, port, tuple(uploads)),
            limits=BodyLimits(3 * MAX_PAYLOAD_BYTES, uploads, config.body_timeout),
            keys=ApiKeyGate(config.api_key), routes=routes, log=log)

    return RunnerAPI(
        front_door=front_door,
        routes=routes,
        exception_handlers={404: not_found_handler, 405: method_not_allowed,
                            Exception: server_error},
    )
