"""A request served straight from the connection, without an ASGI cycle.

``POST /invocations`` is most of what a busy runner answers, and for a small JSON body
and a small JSON answer the way through ASGI costs more than the runner's own work:
a scope, an event, a ``receive`` and two ``send`` messages, a task wrapping the app,
each rule's wrapper, header validation. When a request to a :class:`~.front_door.
DirectEndpoint` passes every rule of the front door with nothing to answer (see
:meth:`~.front_door.FrontDoor.direct_for`: its host, origin and content type pass, it
declares a length within the limit, no API key is missing and it expects no
``100 Continue``), the connection hands its body to a :class:`DirectCycle` instead:
the body is gathered as it arrives, the endpoint's handler runs in one task, and its
:class:`~.front_door.Answer` leaves in one write, headed as the ASGI path heads it.
Everything else (refusals, pipelined requests, streamed answers) takes the ASGI path,
so the rules and their answers live in one place.

The cycle stands in for uvicorn's ``RequestResponseCycle`` where the connection
touches it (``body``, ``more_body``, ``message_event``, ``disconnected``,
``response_complete``, ``keep_alive``), so the connection's own code (flow control,
keep-alive, pipelining, shutdown) works unchanged.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from starlette.types import Scope
from uvicorn.protocols.http.httptools_impl import STATUS_LINE

from .front_door import Answer

if TYPE_CHECKING:
    from .front_door import DirectEndpoint, FrontDoor

__all__ = ["DirectCycle"]


class DirectCycle:
    """One request to a direct endpoint on one connection (``protocol``)."""

    __slots__ = ("protocol", "door", "endpoint", "scope", "body", "more_body", "disconnected",
                 "response_complete", "keep_alive", "started", "last_data", "timer")

    def __init__(self, protocol: Any, door: FrontDoor, endpoint: DirectEndpoint,
                 scope: Scope, keep_alive: bool) -> None:
        self.protocol = protocol
        self.door = door
        self.endpoint = endpoint
        self.scope = scope
        self.body = bytearray()
        self.more_body = True
        self.disconnected = False
        self.response_complete = False
        self.keep_alive = keep_alive
        self.started = False
        self.last_data = 0.0
        self.timer: asyncio.TimerHandle | None = None

    # -- what the connection calls ----------------------------------------------------------

    @property
    def message_event(self) -> DirectCycle:
        """The connection "sets the event" on every piece of body and at its end."""
        return self

    def set(self) -> None:
        if self.started:
            return
        if self.disconnected:
            self._stop_timer()
            return
        protocol = self.protocol
        if self.more_body:
            # The declared length is within the limit: take the body as fast as it comes.
            protocol.flow.resume_reading()
            self.last_data = protocol.loop.time()
            return
        self.started = True
        self._stop_timer()
        task = protocol.loop.create_task(self._run())
        protocol.tasks.add(task)
        task.add_done_callback(protocol.tasks.discard)

    def body_pending(self) -> None:
        """The connection's data ran out before the body's end: time it from here."""
        if self.timer is None and not self.started and not self.disconnected:
            loop = self.protocol.loop
            self.last_data = loop.time()
            self.timer = loop.call_at(self.last_data + self.door.limits.idle_timeout,
                                      self._body_timed_out)

    # -- the answer -------------------------------------------------------------------------

    async def _run(self) -> None:
        answer = await self.door.answer_direct(self.endpoint, self.scope, bytes(self.body))
        self.send(answer)

    def send(self, answer: Answer) -> None:
        protocol = self.protocol
        transport = protocol.transport
        if self.disconnected or transport.is_closing():
            self.response_complete = True
            return
        parts = [STATUS_LINE[answer.status]]
        for name, value in protocol.server_state.default_headers:
            parts += (name, b": ", value, b"\r\n")
        for name, value in answer.head():
            parts += (name, b": ", value, b"\r\n")
        if not self.keep_alive:
            parts.append(b"connection: close\r\n")
        parts += (b"\r\n", answer.body)
        transport.write(b"".join(parts))
        self.response_complete = True
        if not self.keep_alive:
            transport.close()
        protocol.on_response_complete()

    # -- a body that stops arriving ---------------------------------------------------------

    def _stop_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _body_timed_out(self) -> None:
        self.timer = None
        if self.started or self.disconnected:
            return
        loop = self.protocol.loop
        idle = self.door.limits.idle_timeout
        due = self.last_data + idle
        if loop.time() < due:
            self.timer = loop.call_at(due, self._body_timed_out)
            return
        # As the ASGI path answers a stalled body: a JSON 408, and the connection closed
        # (the rest of the body is never read).
        self.started = True
        self.keep_alive = False
        self.send(self.door.stalled_answer())
