"""Request bodies with bounded memory and time.

A body is refused on its ``Content-Length`` before a byte of it is read, and
counted while it is read (chunked bodies have no length), so no request can
make the runner hold more than its route's limit. A body that stops arriving
(a client that sends half a request and waits) is answered ``408`` after
``idle_timeout`` seconds instead of holding a connection and a task forever.

The handler behind sees the excess or the stall as a client disconnect and
stops; the JSON error is then sent in its place. A route that takes its body
whole (:meth:`BodyLimits.read`) gets it with the same limits, without the wrapping.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .common import PathPatterns, json_response

__all__ = ["BodyLimits", "BodyRefused", "content_length", "stalled"]


def content_length(scope: Scope) -> int | None:
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


class BodyRefused(Exception):
    """A body over its limit, or one that stopped arriving: ``(status, code, message)``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.answer = (status, code, message)


class BodyLimits:
    """Each request body capped at its path's limit, and timed out when it stalls."""

    def __init__(self, default_limit: int, limits: Mapping[str, int] | None = None,
                 idle_timeout: float = 20.0) -> None:
        self.default_limit = default_limit
        self.limits = PathPatterns(dict(limits or {}))
        self.idle_timeout = idle_timeout

    def limit_for(self, scope: Scope) -> int:
        found = self.limits.get(scope["path"])
        return self.default_limit if found is None else found

    async def refuse_declared(self, scope: Scope, receive: Receive, send: Send,
                              limit: int) -> bool:
        """Answer (and return True) when the declared ``Content-Length`` is over ``limit``."""
        length = content_length(scope)
        if length is None or length <= limit:
            return False
        await self.refuse(scope, receive, send, _too_large(limit))
        return True

    @staticmethod
    async def refuse(scope: Scope, receive: Receive, send: Send,
                     answer: tuple[int, str, str]) -> None:
        status, code, message = answer
        # Close the connection: the rest of the body is never read.
        await json_response({"code": code, "message": message}, status,
                            {"Connection": "close"})(scope, receive, send)

    async def read(self, receive: Receive, limit: int) -> bytes | None:
        """The whole body, or ``None`` when the client went away; :class:`BodyRefused`
        when it grows past ``limit`` or stalls for ``idle_timeout`` seconds."""
        chunks: list[bytes] = []
        received = 0
        idle = self.idle_timeout
        try:
            async with asyncio.timeout(idle) as deadline:
                while True:
                    message = await receive()
                    if message["type"] != "http.request":
                        return None
                    chunk = message.get("body", b"")
                    received += len(chunk)
                    if received > limit:
                        raise BodyRefused(*_too_large(limit))
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
                    deadline.reschedule(asyncio.get_running_loop().time() + idle)
        except TimeoutError:
            raise BodyRefused(*stalled(idle)) from None
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def serve(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send,
                    limit: int) -> None:
        """Run ``app`` with its body counted against ``limit`` and timed while it arrives.

        The app sees the excess or the stall as a client disconnect and stops; the JSON
        error is then sent here, instead of whatever the app answered.
        """
        received = 0
        body_done = False
        refusal: tuple[int, str, str] | None = None
        started = False
        idle = self.idle_timeout

        async def limited_receive() -> Message:
            nonlocal received, body_done, refusal
            if refusal is not None:
                return {"type": "http.disconnect"}
            if body_done:
                return await receive()
            try:
                async with asyncio.timeout(idle):
                    message = await receive()
            except TimeoutError:
                refusal = stalled(idle)
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
            await app(scope, limited_receive, guarded_send)
        except Exception:
            if refusal is None or started:
                raise
        if refusal is not None and not started:
            await self.refuse(scope, receive, send, refusal)


def stalled(idle: float) -> tuple[int, str, str]:
    return (408, "request_timeout",
            f"the request body stopped arriving: nothing for {idle:g} s")
