"""Request bodies with bounded memory and time.

A body is refused on its ``Content-Length`` before a byte of it is read, and
counted while it is read (chunked bodies have no length), so no request can
make the runner hold more than its route's limit. A body that stops arriving
(a client that sends half a request and waits) is answered ``408`` after
``idle_timeout`` seconds instead of holding a connection and a task forever.

The handler behind sees the excess or the stall as a client disconnect and
stops; this middleware then sends the JSON error itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .common import PathPatterns, json_response

__all__ = ["BodyLimitMiddleware"]


def _content_length(scope: Scope) -> int | None:
    for key, value in scope["headers"]:
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _too_large(limit: int) -> tuple[int, str, str]:
    return (400, "bad_request",
            f"request body too large: this endpoint accepts at most {limit} bytes "
            f"(payloads: 4.5 MB)")


class BodyLimitMiddleware:
    """Cap each request body at its path's limit, and time out bodies that stall."""

    def __init__(self, app: ASGIApp, default_limit: int, limits: Mapping[str, int] | None = None,
                 idle_timeout: float = 20.0) -> None:
        self.app = app
        self.default_limit = default_limit
        self.limits = PathPatterns(dict(limits or {}))
        self.idle_timeout = idle_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found = self.limits.get(scope["path"])
        limit = self.default_limit if found is None else found
        length = _content_length(scope)
        if length is not None and length > limit:
            status, code, message = _too_large(limit)
            # Close the connection: the rest of the body is never read.
            await json_response({"code": code, "message": message}, status,
                                {"Connection": "close"})(scope, receive, send)
            return

        received = 0
        body_done = False
        refusal: tuple[int, str, str] | None = None
        started = False

        async def limited_receive() -> Message:
            nonlocal received, body_done, refusal
            if refusal is not None:
                return {"type": "http.disconnect"}
            if body_done:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.idle_timeout)
            except TimeoutError:
                refusal = (408, "request_timeout",
                           f"the request body stopped arriving: nothing for "
                           f"{self.idle_timeout:g} s")
                return {"type": "http.disconnect"}
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refusal = _too_large(limit)
                    return {"type": "http.disconnect"}
                if not message.get("more_body", False):
                    body_done = True
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refusal is not None and not started:
                return  # the handler's own answer to the "disconnect": ours goes instead
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if refusal is None or started:
                raise
        if refusal is not None and not started:
            status, code, message = refusal
            await json_response({"code": code, "message": message}, status,
                                {"Connection": "close"})(scope, receive, send)
