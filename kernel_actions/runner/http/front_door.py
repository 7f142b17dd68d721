"""The one door every request comes in by: host and origin rules, body limits, the API
key and retry advice, checked in one place before any route.

Each rule could be a middleware of its own, but every middleware wraps ``send`` (and
often ``receive``) once more for every request; here they are one wrapper, or none:

- routes that take their JSON body whole and answer it in one piece (a
  :class:`DirectEndpoint`, e.g. ``POST /invocations``) are served straight from here:
  the body is read within its limits, the handler gets the bytes, its :class:`Answer`
  is sent with the retry advice already in its headers;
- every other route goes through Starlette's router as usual, with ``receive`` counted
  against the path's body limit and ``send`` adding ``x-should-retry: false`` where a
  retry can't help.

The answers, refusals and their order are those of the separate rules: Host, Origin
and content type (403/415) first, then the declared body size (400), then the key (401).

A WebSocket whose URL is its own credential (a :class:`TokenWebSocketRoute`: a browser's
``cdp_ws_url``) is the one exception to the Origin rule: whoever holds the URL may connect,
from wherever (Stagehand's extension opens it with ``Origin: chrome-extension://…``); the
route itself refuses a wrong token, and the Host rule still applies.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from starlette.routing import BaseRoute, Match, Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from ..engine.errors import EngineError
from ..errors import ApiError, api_error
from .auth import ApiKeyGate
from .body_limits import BodyLimits, BodyRefused, content_length, stalled
from .common import compact_json, json_response
from .retry import advise_retry, should_retry
from .security import RequestRules

__all__ = ["Answer", "DirectEndpoint", "FrontDoor", "TokenWebSocketRoute", "error_answer",
           "internal_error", "json_answer"]

_JSON = (b"content-type", b"application/json")
_NO_RETRY = (b"x-should-retry", b"false")


class Answer:
    """A complete JSON answer: status, body bytes, extra headers (lower-case bytes)."""

    __slots__ = ("status", "body", "headers")

    def __init__(self, status: int, body: bytes,
                 headers: list[tuple[bytes, bytes]] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = headers

    def head(self) -> list[tuple[bytes, bytes]]:
        """Its headers, with ``x-should-retry: false`` where a retry can't change it."""
        headers = [(b"content-length", str(len(self.body)).encode()), _JSON]
        extra = self.headers
        if extra:
            headers += extra
        if should_retry(self.status) is False and not (
                extra and any(k == b"x-should-retry" for k, _ in extra)):
            headers.append(_NO_RETRY)
        return headers

    async def send(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status,
                    "headers": self.head()})
        await send({"type": "http.response.body", "body": self.body})


def _header_list(headers: dict[str, str] | None) -> list[tuple[bytes, bytes]] | None:
    if not headers:
        return None
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


def json_answer(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Answer:
    """The same answer as ``common.json_response``, without a Response object."""
    return Answer(status, compact_json(body).encode(),
                  _header_list(headers))


def error_answer(exc: ApiError | EngineError) -> Answer:
    exc = api_error(exc)
    return json_answer(exc.body(), exc.status, exc.headers)


def internal_error() -> Answer:
    """The answer to a request whose handler failed unexpectedly (the 500)."""
    return json_answer({"code": "internal_error", "message": "internal error in the runner"},
                       500, {"x-should-retry": "false"})


#: What a direct endpoint's handler does: the request (scope, whole body) to its answer.
#: It may return any ASGI app instead (a streamed answer), which is then run.
DirectHandler = Callable[[Scope, bytes], Awaitable["Answer | ASGIApp"]]


class DirectEndpoint:
    """An endpoint that takes its body whole and answers in one piece.

    Registered as an ordinary ``Route`` (so it is listed, documented and matched like
    every other route); the :class:`FrontDoor` serves it without the router when its
    path has no parameters.
    """

    def __init__(self, handler: DirectHandler, *, whole: bool = False) -> None:
        self.handler = handler
        #: The handler always answers an :class:`Answer` (never a streamed app): the
        #: connection may then serve it without ASGI (:mod:`.direct_cycle`).
        self.whole = whole

    async def answer(self, scope: Scope, body: bytes) -> Answer | ASGIApp:
        """The handler's answer; a refusal it raises (:class:`ApiError`, or the engine's
        :class:`EngineError`) as its JSON answer."""
        try:
            return await self.handler(scope, body)
        except (ApiError, EngineError) as exc:
            return error_answer(exc)

    async def respond(self, scope: Scope, receive: Receive, send: Send, body: bytes) -> None:
        answer = await self.answer(scope, body)
        if isinstance(answer, Answer):
            await answer.send(send)
        else:
            await answer(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Reached through the router: the body was limited on the way in."""
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        await self.respond(scope, receive, send, b"".join(chunks))


def direct_routes(routes: Iterable[BaseRoute]) -> dict[tuple[str, str], DirectEndpoint]:
    """``(method, path)`` of every direct endpoint at a fixed path."""
    found: dict[tuple[str, str], DirectEndpoint] = {}
    for route in routes:
        if (isinstance(route, Route) and isinstance(route.endpoint, DirectEndpoint)
                and not route.param_convertors):
            for method in route.methods or ():
                found.setdefault((method, route.path), route.endpoint)
    return found


class TokenWebSocketRoute(WebSocketRoute):
    """A WebSocket route whose URL carries an unguessable token that its endpoint checks:
    the front door lets any ``Origin`` through to it (the token is the credential)."""


class FrontDoor:
    """The ASGI app uvicorn calls: the request rules, then the route."""

    def __init__(self, app: ASGIApp, *, rules: RequestRules, limits: BodyLimits,
                 keys: ApiKeyGate, routes: Iterable[BaseRoute],
                 log: Callable[[str], None]) -> None:
        self.app = app
        self.rules = rules
        self.limits = limits
        self.keys = keys
        self.direct = direct_routes(routes)
        self.token_sockets = tuple(r for r in routes if isinstance(r, TokenWebSocketRoute))
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http":
            if kind == "websocket":
                refusal = self.rules.check(self._origin_checked(scope))
                if refusal is not None:
                    await self._refuse_upgrade(scope, receive, send, refusal)
                    return
            await self.app(scope, receive, send)
            return
        refusal = self.rules.check(scope)
        if refusal is not None:
            status, code, message = refusal
            await json_answer({"code": code, "message": message}, status).send(send)
            return
        limit = self.limits.limit_for(scope)
        if await self.limits.refuse_declared(scope, receive, advise_retry(send), limit):
            return
        given = self.keys.given(scope)
        direct = self.direct.get((scope["method"], scope["path"]))
        if given is None and direct is not None:
            await self._direct(direct, scope, receive, send, limit)
            return
        send = advise_retry(send)
        if given is not None:
            await self.keys.refuse(self._limited(limit), scope, receive, send, given)
            return
        await self.limits.serve(self.app, scope, receive, send, limit)

    def _origin_checked(self, scope: Scope) -> Scope:
        """The upgrade as the rules see it: without its ``Origin`` when a token route takes
        it (whose token stands for the credential; see :class:`TokenWebSocketRoute`)."""
        if not any(r.matches(scope)[0] is Match.FULL for r in self.token_sockets):
            return scope
        return {**scope, "headers": [(k, v) for k, v in scope["headers"] if k != b"origin"]}

    def direct_for(self, scope: Scope) -> DirectEndpoint | None:
        """The endpoint that may answer this request right from the connection: a whole
        direct endpoint, for a request that every rule lets through with nothing to say
        (the host, origin and content type pass; a ``Content-Length`` within the limit;
        no API key missing). ``None``: the request goes the ASGI way, which answers it."""
        endpoint = self.direct.get((scope["method"], scope["path"]))
        if endpoint is None or not endpoint.whole or self.rules.check(scope) is not None:
            return None
        length = content_length(scope)
        if length is None or length > self.limits.limit_for(scope):
            return None
        if self.keys.given(scope) is not None:
            return None
        return endpoint

    async def answer_direct(self, endpoint: DirectEndpoint, scope: Scope,
                            body: bytes) -> Answer:
        """The handler's answer, an :class:`ApiError` as its JSON, anything else a 500."""
        try:
            answer = await endpoint.answer(scope, body)
        except Exception as exc:
            self.log(f"internal error on {scope['method']} {scope['path']}: {exc!r}")
            asyncio.get_running_loop().call_exception_handler({
                "message": f"internal error on {scope['method']} {scope['path']}",
                "exception": exc,
            })
            return internal_error()
        if not isinstance(answer, Answer):  # pragma: no cover - a whole endpoint's promise
            raise TypeError(f"{endpoint.handler!r} answered {answer!r}, not an Answer")
        return answer

    def stalled_answer(self) -> Answer:
        """What a body that stopped arriving is answered (as :class:`BodyLimits` does; the
        connection that sends it adds ``connection: close``)."""
        status, code, message = stalled(self.limits.idle_timeout)
        return json_answer({"code": code, "message": message}, status)

    def _limited(self, limit: int) -> ASGIApp:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await self.limits.serve(self.app, scope, receive, send, limit)
        return app

    async def _direct(self, endpoint: DirectEndpoint, scope: Scope, receive: Receive,
                      send: Send, limit: int) -> None:
        started = False

        async def tracked(message: Any) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            try:
                body = await self.limits.read(receive, limit)
            except BodyRefused as exc:
                await self.limits.refuse(scope, receive, advise_retry(send), exc.answer)
                return
            if body is None:
                return  # the client went away before its body arrived
            await endpoint.respond(scope, receive, tracked, body)
        except Exception as exc:
            # As the router's error handler: say so in the log, answer a JSON 500 (when
            # nothing was sent yet), and let the server log the traceback.
            self.log(f"internal error on {scope['method']} {scope['path']}: {exc!r}")
            if not started:
                await internal_error().send(send)
            raise

    @staticmethod
    async def _refuse_upgrade(scope: Scope, receive: Receive, send: Send,
                              refusal: tuple[int, str, str]) -> None:
        # WebSockets know no CORS: the Origin check is all that stands in the way. The
        # refusal is a JSON answer to the upgrade where the server can send one.
        status, code, message = refusal
        if "websocket.http.response" in scope.get("extensions", {}):
            response = json_response({"code": code, "message": message}, status,
                                     {"x-should-retry": "false"})
            await response(scope, receive, send)  # sent as the upgrade's denial
        else:
            await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
