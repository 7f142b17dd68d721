"""The runner's own endpoints: ``/_runner/status`` and ``/_runner/events`` (the
dashboard's live view), ``/health`` and ``/openapi.json``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ... import __version__
from ...timeutil import format_ns, now_ns
from ..engine.events import EventBus
from .common import guard, json_response
from .openapi import openapi
from .sse import EventStream

__all__ = ["RunnerRoutes"]


def _dashboard_event(event: dict[str, Any]) -> dict[str, Any] | None:
    """What the runner-wide stream sends for a bus event: invocation and runner states."""
    if event["event"] == "invocation_state":
        return {"event": "invocation_state",
                "invocation": {**event["invocation"], "code_generation": event.get("_generation")},
                "timestamp": event["timestamp"]}
    if event["event"] == "runner_state":
        return event
    return None


class RunnerRoutes:
    """``status`` gives the runner's state (the body of ``/_runner/status``)."""

    def __init__(self, status: Callable[[], dict[str, Any]], bus: EventBus, *,
                 heartbeat: float) -> None:
        self.status = status
        self.bus = bus
        self.heartbeat = heartbeat

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/_runner/status", guard(self.runner_status), methods=["GET"]),
            Route("/_runner/events", guard(self.runner_events), methods=["GET"]),
            Route("/health", self.health, methods=["GET"]),
            Route("/openapi.json", self.openapi_json, methods=["GET"]),
        ]

    async def runner_status(self, request: Request) -> Response:
        return json_response(self.status())

    async def runner_events(self, request: Request) -> Response:
        """Every invocation's state changes, runner-wide (the dashboard's live list)."""
        with EventStream(self.bus, None) as stream:
            first = {"event": "runner_state", "runner": self.status(),
                     "timestamp": format_ns(now_ns())}
        return stream.response([first], heartbeat=self.heartbeat, select=_dashboard_event,
                               report_overflow=False)

    async def health(self, request: Request) -> Response:
        return json_response({"status": "ok"})

    async def openapi_json(self, request: Request) -> Response:
        return json_response(openapi(__version__))
