"""The HTTP/1.1 connection: uvicorn's h11 protocol with a deadline for request heads
and JSON for the requests it can't parse.

uvicorn closes a connection that idles *between* requests (``timeout_keep_alive``)
but waits forever for the head of a request that a client starts and never
finishes, and for a new connection that sends nothing: 500 such connections hold
500 descriptors indefinitely (a slow-loris attack). Here the head of every request
must arrive within ``head_timeout`` seconds of the connection opening or the
previous answer ending; a body that stalls is timed out by
:class:`~.body_limits.BodyLimitMiddleware`.

A request line or header h11 rejects (raw non-ASCII bytes, say) never reaches the
app, so uvicorn answers it itself, in plain text; this answers it with the
runner's JSON error shape instead.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["GuardedH11Protocol", "protocol_class"]

MALFORMED = ("malformed HTTP request: the request line or a header could not be parsed "
             "(they must be ASCII: percent-encode other characters in URLs)")


class GuardedH11Protocol(H11Protocol):
    """:class:`H11Protocol` with a request-head deadline and JSON 400 answers."""

    head_timeout: float = 20.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = asyncio.get_running_loop().call_later(
            self.head_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self.conn.their_state is h11.IDLE and (
                self.cycle is None or self.cycle.response_complete):
            # Still waiting for (the rest of) a request head: give the descriptor back.
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._cancel_head_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm_head_timer()

    def send_400_response(self, msg: str) -> None:
        body = json.dumps({"code": "bad_request", "message": MALFORMED}).encode()
        try:
            event = h11.Response(status_code=400, reason=b"Bad Request", headers=[
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-should-retry", b"false"),
                (b"connection", b"close"),
            ])
            self.transport.write(self.conn.send(event) or b"")
            self.transport.write(self.conn.send(h11.Data(data=body)) or b"")
            self.transport.write(self.conn.send(h11.EndOfMessage()) or b"")
        except h11.LocalProtocolError:
            pass  # a response was already under way: just close
        self.transport.close()


def protocol_class(head_timeout: float) -> type[GuardedH11Protocol]:
    """The protocol class uvicorn instantiates per connection, with this head deadline."""
    return type("RunnerH11Protocol", (GuardedH11Protocol,), {"head_timeout": head_timeout})
