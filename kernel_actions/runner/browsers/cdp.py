"""A browser's DevTools, over a pipe only the runner holds, shared by any number of clients.

Chromium is started with ``--remote-debugging-pipe``: it reads commands from its fd 3 and
writes answers and events to its fd 4, each message a JSON text ended by a NUL byte. No
TCP port is opened, so no other user of the machine can drive the browser; the runner
serves the DevTools WebSocket itself (see :mod:`.cdp_route`) at a URL carrying a random
token.

Several clients share the one pipe (a user's Playwright, the runner's own screenshot,
screencast or Playwright-execution connections). :class:`CdpMux` gives each client its own
browser-target session (``Target.attachToBrowserTarget``), so a client talks to what looks
like a whole browser connection of its own:

* a message a client sends without ``sessionId`` goes to its browser session; one with a
  ``sessionId`` goes through only if that session is the client's;
* message ids are renumbered on the way in and restored on the way out;
* a session attached through a client's own sessions (``Target.attachedToTarget`` events,
  ``Target.attachToTarget`` results) belongs to that client, and its traffic goes to it
  alone;
* ``Browser.close`` from a client is answered without closing the browser (browsers are
  closed through the API, as on Kernel).

``observers`` are told when an external client comes and goes and of each command it sends
(browser telemetry's ``connection`` and ``control`` events, see :mod:`.telemetry`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import itertools
import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["CdpClient", "CdpConnection", "CdpError", "CdpMux", "MuxObserver", "PipeEnds",
           "PIPE_SWITCH", "settle_reply"]

#: The switch that makes Chromium talk DevTools over fds 3 and 4 instead of a port.
PIPE_SWITCH = "--remote-debugging-pipe"
#: The fds Chromium reads commands from and writes messages to.
CHILD_READ_FD, CHILD_WRITE_FD = 3, 4
#: A message Chromium writes larger than this is refused (a frame of a screencast or a
#: full-page screenshot is a few MB).
MAX_MESSAGE_BYTES = 256 * 1024 * 1024
_INVALID_REQUEST = -32600
_NO_SESSION = -32001


class CdpError(Exception):
    """A DevTools command answered with an error, or a connection that ended."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class PipeEnds:
    """The two pipes between the runner and one Chromium, made before it starts.

    The child's ends are kept on fds of 10 and up so that the start (:meth:`fd_map`) puts them on
    3 and 4 in the child without one overwriting the other; the runner's ends are
    close-on-exec, so Chromium never holds them.
    """

    def __init__(self) -> None:
        to_child_r, self.to_child = os.pipe()
        self.from_child, from_child_w = os.pipe()
        self.child_read = fcntl.fcntl(to_child_r, fcntl.F_DUPFD_CLOEXEC, 10)
        self.child_write = fcntl.fcntl(from_child_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(to_child_r)
        os.close(from_child_w)

    def fd_map(self) -> dict[int, int]:
        """Where the child's ends go in Chromium (``{target: source}``): fds 3 and 4, put
        there by the supervisor's ``posix_spawn`` file actions (no code runs in between)."""
        return {CHILD_READ_FD: self.child_read, CHILD_WRITE_FD: self.child_write}

    def close_child_ends(self) -> None:
        """Once the child started (or failed to): the runner keeps only its own ends, so
        the pipe reads end-of-file when Chromium exits."""
        for fd in (self.child_read, self.child_write):
            with contextlib.suppress(OSError):
                os.close(fd)

    def close(self) -> None:
        self.close_child_ends()
        for fd in (self.to_child, self.from_child):
            with contextlib.suppress(OSError):
                os.close(fd)


class _PipeReader(asyncio.Protocol):
    """Splits what Chromium writes into NUL-ended messages."""

    def __init__(self, on_message: Callable[[bytes], None], on_eof: Callable[[], None]) -> None:
        self._buffer = bytearray()
        self._on_message = on_message
        self._on_eof = on_eof

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while True:
            end = self._buffer.find(b"\0")
            if end < 0:
                if len(self._buffer) > MAX_MESSAGE_BYTES:
                    self._buffer.clear()
                    self._on_eof()
                return
            message = bytes(self._buffer[:end])
            del self._buffer[:end + 1]
            self._on_message(message)

    def eof_received(self) -> bool | None:
        self._on_eof()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._on_eof()


@dataclass(eq=False)
class CdpClient:
    """One party on the shared pipe: it gets its own browser session, and the messages
    of that session and of the sessions it attaches, ids restored, through ``deliver``."""

    mux: CdpMux
    deliver: Callable[[dict[str, Any]], None]
    #: Whether it counts as use of the browser (a client from outside the runner).
    external: bool
    on_close: Callable[[], None] | None = None
    browser_session: str = ""
    sessions: set[str] = field(default_factory=set)
    closed: bool = False
    #: Told apart in telemetry by this; when it attached; messages relayed either way.
    connection_id: str = field(default_factory=lambda: secrets.token_hex(8))
    opened: float = field(default_factory=time.monotonic)
    messages: int = 0

    def send(self, message: Any) -> None:
        """A message from the client: checked, renumbered and sent to Chromium."""
        self.mux.forward(self, message)

    def close(self) -> None:
        self.mux.detach(self)


class MuxObserver(Protocol):
    """Told of the external clients of a :class:`CdpMux` (must not raise or block)."""

    def client_attached(self, client: CdpClient) -> None: ...

    def client_detached(self, client: CdpClient, browser_gone: bool) -> None: ...

    def client_command(self, client: CdpClient, message: dict[str, Any]) -> None: ...


class CdpMux:
    """The one DevTools pipe of a browser, shared by many :class:`CdpClient`."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        #: upstream id -> (client, the client's id, method); client None: the mux's own call.
        self._pending: dict[int, tuple[CdpClient | None, Any, str]] = {}
        self._own_calls: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._owners: dict[str, CdpClient] = {}
        self.clients: set[CdpClient] = set()
        self._write: asyncio.WriteTransport | None = None
        self._read: asyncio.BaseTransport | None = None
        self.closed = asyncio.Event()
        self.messages = 0
        #: Rewrites a client's command before it goes to Chromium (``(method, params)`` to
        #: new params), e.g. to map a download folder into the browser's file system.
        self.rewrite: Callable[[str, dict[str, Any]], dict[str, Any]] | None = None
        self.observers: list[MuxObserver] = []

    # -- the pipe ---------------------------------------------------------------------------

    async def open(self, ends: PipeEnds) -> None:
        """Start reading and writing the runner's ends of ``ends`` (which it then owns)."""
        loop = asyncio.get_running_loop()
        reader = os.fdopen(ends.from_child, "rb", buffering=0)
        writer = os.fdopen(ends.to_child, "wb", buffering=0)
        self._read, _ = await loop.connect_read_pipe(
            lambda: _PipeReader(self._received, self._ended), reader)
        self._write, _ = await loop.connect_write_pipe(asyncio.Protocol, writer)

    @property
    def external_clients(self) -> int:
        return sum(1 for c in self.clients if c.external)

    def _send(self, message: dict[str, Any]) -> None:
        if self._write is None or self._write.is_closing():
            raise CdpError("the browser's DevTools pipe is closed")
        self._write.write(json.dumps(message, separators=(",", ":")).encode() + b"\0")

    async def call(self, method: str, params: dict[str, Any] | None = None,
                   session_id: str | None = None) -> dict[str, Any]:
        """A command of the runner's own, on the root connection or on ``session_id``."""
        if self.closed.is_set():
            raise CdpError("the browser's DevTools pipe is closed")
        upstream = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._own_calls[upstream] = future
        self._pending[upstream] = (None, None, method)
        message: dict[str, Any] = {"id": upstream, "method": method, "params": params or {}}
        if session_id is not None:
            message["sessionId"] = session_id
        try:
            self._send(message)
            return await future
        finally:
            self._own_calls.pop(upstream, None)
            self._pending.pop(upstream, None)

    def _ended(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for future in self._own_calls.values():
            if not future.done():
                future.set_exception(CdpError("the browser closed its DevTools pipe"))
        for client in list(self.clients):
            self._drop(client)
        if self._write is not None:
            self._write.close()
        if self._read is not None:
            self._read.close()

    def close(self) -> None:
        self._ended()

    # -- clients ----------------------------------------------------------------------------

    async def attach(self, deliver: Callable[[dict[str, Any]], None], *, external: bool,
                     on_close: Callable[[], None] | None = None) -> CdpClient:
        """A new client with a browser session of its own."""
        result = await self.call("Target.attachToBrowserTarget")
        session = result.get("sessionId")
        if not isinstance(session, str):
            raise CdpError("Chromium gave no browser session")
        client = CdpClient(self, deliver, external, on_close, browser_session=session)
        if self.closed.is_set():
            client.closed = True
            raise CdpError("the browser's DevTools pipe is closed")
        self.clients.add(client)
        self._owners[session] = client
        if external:
            for observer in self.observers:
                observer.client_attached(client)
        return client

    async def connect(self) -> CdpConnection:
        """A connection for the runner's own use (it does not keep the browser alive)."""
        connection = CdpConnection()
        connection.client = await self.attach(connection.received, external=False,
                                              on_close=connection.ended)
        return connection

    def detach(self, client: CdpClient) -> None:
        """The client is gone: its sessions are detached (what it opened stays open)."""
        if client.closed:
            return
        for session in client.sessions:
            self._owners.pop(session, None)
        self._owners.pop(client.browser_session, None)
        if not self.closed.is_set():
            with contextlib.suppress(CdpError):
                self._send({"id": next(self._ids), "method": "Target.detachFromTarget",
                            "params": {"sessionId": client.browser_session}})
        self._drop(client)

    def _drop(self, client: CdpClient) -> None:
        if client.closed:
            return
        client.closed = True
        self.clients.discard(client)
        if client.external:
            for observer in self.observers:
                observer.client_detached(client, self.closed.is_set())
        if client.on_close is not None:
            client.on_close()

    def forward(self, client: CdpClient, message: Any) -> None:
        if client.closed:
            return
        request_id = message.get("id") if isinstance(message, dict) else None
        if (not isinstance(message, dict) or isinstance(request_id, bool)
                or not isinstance(request_id, int) or not isinstance(message.get("method"), str)
                or not isinstance(message.get("params", {}), dict)):
            client.deliver({"id": request_id if isinstance(request_id, int) else None,
                            "error": {"code": _INVALID_REQUEST, "message": (
                                "a DevTools message is a JSON object with an integer 'id', a "
                                "string 'method' and an optional object 'params'")}})
            return
        session = message.get("sessionId")
        if session is None:
            session = client.browser_session
        elif session != client.browser_session and session not in client.sessions:
            client.deliver({"id": request_id, "sessionId": session, "error": {
                "code": _NO_SESSION, "message": f"Session with given id not found: {session}"}})
            return
        method = message["method"]
        client.messages += 1
        if client.external:
            for observer in self.observers:
                observer.client_command(client, message)
        if method == "Browser.close" and session == client.browser_session:
            client.deliver({"id": request_id, "result": {}})
            return
        upstream = next(self._ids)
        self._pending[upstream] = (client, request_id, method)
        outgoing = {**message, "id": upstream, "sessionId": session}
        if self.rewrite is not None and "params" in message:
            outgoing["params"] = self.rewrite(method, message["params"])
        try:
            self._send(outgoing)
        except CdpError as exc:
            self._pending.pop(upstream, None)
            client.deliver({"id": request_id, "error": {"code": _NO_SESSION,
                                                         "message": str(exc)}})

    # -- from Chromium ----------------------------------------------------------------------

    def _received(self, raw: bytes) -> None:
        self.messages += 1
        try:
            message = json.loads(raw)
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        if "id" in message:
            self._answer(message)
        else:
            self._event(message)

    def _answer(self, message: dict[str, Any]) -> None:
        entry = self._pending.pop(message["id"], None)
        if entry is None:
            return
        client, client_id, method = entry
        if client is None:
            future = self._own_calls.get(message["id"])
            if future is not None and not future.done():
                if "error" in message:
                    error = message["error"] or {}
                    future.set_exception(CdpError(f"{method}: {error.get('message')}",
                                                  error.get("code")))
                else:
                    future.set_result(message.get("result") or {})
            return
        if client.closed:
            return
        if method in ("Target.attachToTarget", "Target.attachToBrowserTarget"):
            session = (message.get("result") or {}).get("sessionId")
            if isinstance(session, str):
                self._own(client, session)
        message["id"] = client_id
        if message.get("sessionId") == client.browser_session:
            del message["sessionId"]
        client.messages += 1
        client.deliver(message)

    def _event(self, message: dict[str, Any]) -> None:
        session = message.get("sessionId")
        client = self._owners.get(session) if isinstance(session, str) else None
        if client is None or client.closed:
            return
        params = message.get("params") or {}
        method = message.get("method")
        if method == "Target.attachedToTarget" and isinstance(params.get("sessionId"), str):
            self._own(client, params["sessionId"])
        elif method == "Target.detachedFromTarget" and isinstance(params.get("sessionId"), str):
            client.sessions.discard(params["sessionId"])
            self._owners.pop(params["sessionId"], None)
        if session == client.browser_session:
            del message["sessionId"]
        client.messages += 1
        client.deliver(message)

    def _own(self, client: CdpClient, session: str) -> None:
        client.sessions.add(session)
        self._owners[session] = client


def settle_reply(waiting: dict[int, asyncio.Future[dict[str, Any]]],
                 message: dict[str, Any]) -> bool:
    """If ``message`` answers a call (it has an ``id``), settle the call's future in
    ``waiting`` with its result or a :class:`CdpError`; whether it was an answer."""
    if "id" not in message:
        return False
    future = waiting.get(message["id"])
    if future is not None and not future.done():
        if "error" in message:
            error = message["error"] or {}
            future.set_exception(CdpError(str(error.get("message")), error.get("code")))
        else:
            future.set_result(message.get("result") or {})
    return True


class CdpConnection:
    """The runner's own DevTools connection to a browser: ``await send(method, params)``,
    and ``on(event, handler)`` for events, as a CDP client library would offer."""

    def __init__(self) -> None:
        self.client: CdpClient | None = None
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._handlers: dict[str, list[Callable[[dict[str, Any], str | None], None]]] = {}

    async def send(self, method: str, params: dict[str, Any] | None = None,
                   session_id: str | None = None) -> dict[str, Any]:
        if self.client is None or self.client.closed:
            raise CdpError("the DevTools connection is closed")
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        message: dict[str, Any] = {"id": request_id, "method": method, "params": params or {}}
        if session_id is not None:
            message["sessionId"] = session_id
        try:
            self.client.send(message)
            return await future
        finally:
            self._waiting.pop(request_id, None)

    def on(self, event: str, handler: Callable[[dict[str, Any], str | None], None]) -> None:
        """Call ``handler(params, session_id)`` for every ``event`` this connection gets."""
        self._handlers.setdefault(event, []).append(handler)

    def received(self, message: dict[str, Any]) -> None:
        if settle_reply(self._waiting, message):
            return
        for handler in self._handlers.get(message.get("method", ""), []):
            handler(message.get("params") or {}, message.get("sessionId"))

    def ended(self) -> None:
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(CdpError("the DevTools connection is closed"))

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
