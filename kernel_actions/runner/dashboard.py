"""The dev dashboard: a static page at ``/`` that reads the runner's own API.

Everything it needs ships in ``static/`` (no build step, no CDN). The page and
its assets hold no data, so they are served without the API key; the page
sends the key (from ``?key=`` or asked for) on every API call it makes.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

__all__ = ["STATIC_DIR", "dashboard_routes", "is_dashboard_path"]

STATIC_DIR = Path(__file__).parent / "static"
PREFIX = "/_dashboard"


def is_dashboard_path(path: str) -> bool:
    return path == "/" or path == PREFIX or path.startswith(PREFIX + "/")


async def _index(request: Request) -> Response:
    return FileResponse(STATIC_DIR / "index.html", headers={
        "Cache-Control": "no-cache",
        # Everything the page shows is inserted as text; this forbids any other script.
        "Content-Security-Policy": (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"),
        "X-Content-Type-Options": "nosniff",
    })


def dashboard_routes() -> list[BaseRoute]:
    return [
        Route("/", _index, methods=["GET", "HEAD"]),
        Mount(PREFIX, StaticFiles(directory=STATIC_DIR), name="dashboard"),
    ]
