"""The HTTP/1.1 connection: uvicorn's protocol (httptools, else h11) with a deadline for
request heads and JSON for the requests it can't parse.

uvicorn closes a connection that idles *between* requests (``timeout_keep_alive``)
but waits forever for the head of a request that a client starts and never
finishes, and for a new connection that sends nothing: 500 such connections hold
500 descriptors indefinitely (a slow-loris attack). Here the head of every request
must arrive within ``head_timeout`` seconds of the connection opening or the
previous answer ending; a body that stalls is timed out by
:class:`~.body_limits.BodyLimits`.

Every connection is first checked against :class:`~.local_users.OwnerOnly` (who may
use the runner), once, when it opens.

A request line or header the parser rejects (raw non-ASCII bytes, say) never reaches
the app, so uvicorn answers it itself, in plain text; this answers it with the
runner's JSON error shape instead.

uvicorn writes an answer's head and its body with two writes, each a system call
that also wakes the client; :class:`CorkedWrites` holds the head back until the body
follows (in the same turn of the loop, for every complete answer), so an answer
leaves in one.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from .local_users import LocalUsers, OwnerOnly

__all__ = ["CorkedWrites", "HeadDeadline", "LazyWebSocketProtocol", "protocol_class"]

MALFORMED = ("malformed HTTP request: the request line or a header could not be parsed "
             "(they must be ASCII: percent-encode other characters in URLs)")


class HeadDeadline:
    """Mixed into a uvicorn HTTP protocol: a deadline for request heads, JSON 400 answers.

    Works over uvicorn's h11 and httptools protocols alike (their shared attributes:
    ``transport``, ``cycle``, ``on_response_complete``, ``send_400_response``).
    """

    head_timeout: float = 20.0
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    cycle: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._awaiting_head = False
        #: When the wait for the current head began (the loop's clock).
        self._head_since = 0.0

    def _arm_head_timer(self) -> None:
        # One timer per connection, not one per request: when it fires early (the head it
        # was set for arrived, and another wait began since), it is set again for the
        # time the current wait has left.
        loop = self.loop
        self._awaiting_head = True
        self._head_since = loop.time()
        if self._head_timer is None:
            self._head_timer = loop.call_at(self._head_since + self.head_timeout,
                                            self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_arrived(self) -> None:
        self._awaiting_head = False

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if not self._awaiting_head:
            return  # set again when the next wait begins
        due = self._head_since + self.head_timeout
        loop = self.loop
        if loop.time() < due:
            self._head_timer = loop.call_at(due, self._head_timed_out)
            return
        busy = self.cycle is not None and not self.cycle.response_complete
        if not busy and not getattr(self, "pipeline", None):
            # Still waiting for (the rest of) a request head: give the descriptor back.
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)  # type: ignore[misc]

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if not self.transport.is_closing() and (
                self.cycle is None or self.cycle.response_complete):
            self._arm_head_timer()

    def send_400_response(self, msg: str) -> None:
        body = json.dumps({"code": "bad_request", "message": MALFORMED}).encode()
        self.transport.write(
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n"
            b"x-should-retry: false\r\nconnection: close\r\n\r\n" + body)
        self.transport.close()


class CorkedWrites:
    """A connection's transport as an answer sees it: a write is held until the next write
    or the end of the loop's turn, whichever comes first, and then leaves with it.

    An answer's head and body (written one after the other) become one system call; a
    streamed body's chunks still leave every turn. Large writes are never held.
    """

    __slots__ = ("transport", "_loop", "_held", "_scheduled")

    #: Writes at least this large go straight out (after what is held).
    HOLD_LIMIT = 64 * 1024

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self._scheduled = False

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self.transport.write(held + data)
        elif len(data) >= self.HOLD_LIMIT:
            self.transport.write(data)
        else:
            self._held = bytes(data)
            if not self._scheduled:
                self._scheduled = True
                self._loop.call_soon(self.flush)

    def flush(self) -> None:
        self._scheduled = False
        held = self._held
        if held is not None:
            self._held = None
            self.transport.write(held)

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


def _h11_class() -> type:
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class _H11(HeadDeadline, H11Protocol):
        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:
                self._head_arrived()

    return _H11


class LazyWebSocketProtocol(asyncio.Protocol):
    """uvicorn's wsproto WebSocket protocol, imported at the first upgrade.

    Only browsers' DevTools connections are WebSockets; a runner that never serves one
    never imports wsproto (uvicorn would at start, on the way to the first answer).
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        from uvicorn.protocols.websockets.wsproto_impl import WSProtocol

        return WSProtocol(*args, **kwargs)


def _httptools_class() -> type | None:
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return None

    from .direct_cycle import DirectCycle

    class _HttpTools(HeadDeadline, HttpToolsProtocol):
        _corked: CorkedWrites | None = None

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            cycle = self.cycle
            if type(cycle) is DirectCycle and cycle.more_body:
                cycle.body_pending()

        def _direct(self) -> bool:
            """Serve this request without ASGI when the front door allows it."""
            door = getattr(self.app, "door", None)
            if door is None or self.expect_100_continue or self.parser.should_upgrade():
                return False
            method = self.parser.get_method()
            if method != b"POST" or b"?" in self.url or b"%" in self.url:
                return False
            scope = self.scope
            path = self.url.decode("ascii")
            scope["method"] = "POST"
            scope["path"] = path
            scope["raw_path"] = self.url
            scope["query_string"] = b""
            version = self.parser.get_http_version()
            if version != "1.1":
                scope["http_version"] = version
            endpoint = door.direct_for(scope)
            if endpoint is None:
                return False
            self.cycle = DirectCycle(self, door, endpoint, scope,
                                     version != "1.0" and self.parser.should_keep_alive())
            return True

        def on_headers_complete(self) -> None:
            self._head_arrived()
            before = self.cycle
            if (before is None or before.response_complete) and self._direct():
                return
            super().on_headers_complete()
            if self.cycle is not before and self.cycle is not None:
                # The answer's writes go through the cork (the protocol's own don't).
                if self._corked is None:
                    self._corked = CorkedWrites(self.transport, self.loop)
                self.cycle.transport = self._corked

    return _HttpTools


def protocol_class(head_timeout: float, users: LocalUsers | None = None) -> type:
    """The protocol class uvicorn instantiates per connection (httptools when installed,
    as uvicorn itself prefers, else h11), with this head deadline, refusing connections
    from the local users ``users`` refuses (see :mod:`.local_users`)."""
    base = _httptools_class() or _h11_class()
    return type("RunnerHTTPProtocol", (OwnerOnly, base),
                {"head_timeout": head_timeout, "users": users})
