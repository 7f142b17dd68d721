"""The dev dashboard: a static page at ``/`` that reads the runner's own API.

Everything it needs ships in ``static/`` (no build step, no CDN). With an API
key set, a browser can't send a header when it navigates, so the page takes
the key once as ``/?key=...``; the runner answers with a same-site, HTTP-only
cookie that opens the page and its assets (nothing else), and the page sends
the key as a bearer token on every API call. Without a valid key, a browser
gets a small form asking for it.
"""

from __future__ import annotations

import html
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

__all__ = ["STATIC_DIR", "COOKIE", "dashboard_credential", "dashboard_routes",
           "is_dashboard_path", "key_cookie", "login_page", "wants_html"]

STATIC_DIR = Path(__file__).parent / "static"
PREFIX = "/_dashboard"
COOKIE = "kernel_actions_key"


def is_dashboard_path(path: str) -> bool:
    return path == "/" or path == PREFIX or path.startswith(PREFIX + "/")


def dashboard_credential(scope: Scope) -> tuple[str | None, bool]:
    """The key a browser offers for the dashboard: ``?key=`` first, else the cookie.

    Returns the key (or ``None``) and whether it came from the query string.
    """
    query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("key")
    if query:
        return query[0], True
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed cookie header: no credential
                continue
            if COOKIE in jar:
                return jar[COOKIE].value, False
    return None, False


def key_cookie(key: str) -> bytes:
    jar: SimpleCookie = SimpleCookie()
    jar[COOKIE] = key
    morsel = jar[COOKIE]
    morsel["path"] = "/"
    morsel["httponly"] = True
    morsel["samesite"] = "Strict"
    return morsel.OutputString().encode("latin-1")


def wants_html(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"accept":
            return b"text/html" in value
    return False


def login_page(message: str) -> Response:
    """The 401 a browser gets at ``/`` without a valid key: a form that asks for it."""
    body = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>kernel-actions: API key</title>
<style>body{{font:15px system-ui,sans-serif;max-width:420px;margin:80px auto;color:#1d1d22}}
input{{font:inherit;padding:5px 8px;width:260px}}button{{font:inherit;padding:5px 12px}}</style>
</head><body><h1>kernel-actions</h1>
<form class="keybox" method="get" action="/">
<p>{html.escape(message)}</p>
<input type="password" name="key" id="api-key" autocomplete="off" autofocus>
<button type="submit">Open the dashboard</button></form></body></html>"""
    return HTMLResponse(body, status_code=401, headers={
        "WWW-Authenticate": "Bearer",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                                   "form-action 'self'; frame-ancestors 'none'",
    })


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
