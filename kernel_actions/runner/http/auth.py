"""Bearer-key authentication for every request, and the dashboard's key cookie."""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .common import json_response
from .dashboard import dashboard_credential, is_dashboard_path, key_cookie, login_page, wants_html

__all__ = ["ApiKeyGate"]


class ApiKeyGate:
    """Require ``Authorization: Bearer <key>`` on every HTTP request when a key is set.

    :meth:`given` is the check every request passes; :meth:`refuse` answers one that
    failed it (or lets a dashboard request in on its ``?key=`` or cookie).
    """

    def __init__(self, api_key: str | None) -> None:
        self.expected = f"Bearer {api_key}".encode() if api_key else None

    def given(self, scope: Scope) -> bytes | None:
        """``None`` when the request may pass, else the ``Authorization`` value it sent."""
        expected = self.expected
        if expected is None:
            return None
        given = b""
        for key, value in scope["headers"]:
            if key == b"authorization":
                given = value  # the last one counts
        return None if hmac.compare_digest(given, expected) else given

    async def refuse(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send,
                     given: bytes) -> None:
        """Answer a request that failed :meth:`given` (``app`` serves a dashboard request
        whose key came another way)."""
        path = scope.get("path", "")
        if scope.get("method") in ("GET", "HEAD") and is_dashboard_path(path):
            await self._dashboard(app, scope, receive, send, given)
            return
        message = "missing API key" if not given else "invalid API key"
        resp = json_response({"code": "unauthorized", "message": f"{message}: send "
                              "'Authorization: Bearer <key>'"}, 401,
                             {"WWW-Authenticate": "Bearer"})
        await resp(scope, receive, send)

    async def _dashboard(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send,
                         given: bytes) -> None:
        """The page and its assets: the key as ``?key=`` (then a cookie) stands for the header."""
        assert self.expected is not None
        key, from_query = dashboard_credential(scope)
        if key is not None and hmac.compare_digest(f"Bearer {key}".encode(), self.expected):
            if not from_query:
                await app(scope, receive, send)
                return
            cookie = key_cookie(key)

            async def send_with_cookie(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message = {**message, "headers": [*message.get("headers", []),
                                                      (b"set-cookie", cookie)]}
                await send(message)

            await app(scope, receive, send_with_cookie)
            return
        message = "invalid API key" if key or given else "missing API key"
        if wants_html(scope):
            resp = login_page(f"This runner needs its API key (--api-key): {message}.")
        else:
            resp = json_response({"code": "unauthorized", "message": f"{message}: open /?key=<key> "
                          "or send 'Authorization: Bearer <key>'"}, 401,
                         {"WWW-Authenticate": "Bearer"})
        await resp(scope, receive, send)
