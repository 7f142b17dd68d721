"""Bearer-key authentication for every request, and the dashboard's key cookie."""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .common import json_response
from .dashboard import dashboard_credential, is_dashboard_path, key_cookie, login_page, wants_html

__all__ = ["AuthMiddleware"]


class AuthMiddleware:
    """Require ``Authorization: Bearer <key>`` on every request when a key is set."""

    def __init__(self, app: ASGIApp, api_key: str | None) -> None:
        self.app = app
        self.expected = f"Bearer {api_key}".encode() if api_key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.expected is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"authorization", b"")
        if not hmac.compare_digest(given, self.expected):
            path = scope.get("path", "")
            if scope.get("method") in ("GET", "HEAD") and is_dashboard_path(path):
                await self._dashboard(scope, receive, send, given)
                return
            message = "missing API key" if not given else "invalid API key"
            resp = json_response({"code": "unauthorized", "message": f"{message}: send "
                          "'Authorization: Bearer <key>'"}, 401,
                         {"WWW-Authenticate": "Bearer"})
            await resp(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _dashboard(self, scope: Scope, receive: Receive, send: Send, given: bytes) -> None:
        """The page and its assets: the key as ``?key=`` (then a cookie) stands for the header."""
        assert self.expected is not None
        key, from_query = dashboard_credential(scope)
        if key is not None and hmac.compare_digest(f"Bearer {key}".encode(), self.expected):
            if not from_query:
                await self.app(scope, receive, send)
                return
            cookie = key_cookie(key)

            async def send_with_cookie(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message = {**message, "headers": [*message.get("headers", []),
                                                      (b"set-cookie", cookie)]}
                await send(message)

            await self.app(scope, receive, send_with_cookie)
            return
        message = "invalid API key" if key or given else "missing API key"
        if wants_html(scope):
            resp = login_page(f"This runner needs its API key (--api-key): {message}.")
        else:
            resp = json_response({"code": "unauthorized", "message": f"{message}: open /?key=<key> "
                          "or send 'Authorization: Bearer <key>'"}, 401,
                         {"WWW-Authenticate": "Bearer"})
        await resp(scope, receive, send)
