"""The message protocol between the runner and its worker processes.

Each message is a JSON object framed by a 4-byte big-endian length, sent over a
socket pair the runner creates (never the worker's stdout, which user code owns).

Runner → worker: ``load {target}``, ``invoke {id, app, action, version, payload}``,
``cancel {id}``, ``exit``.
Worker → runner: ``ready``, ``loaded {manifest}``, ``load_failed {message, location,
detail}``, ``logs {items: [[id, ts_ns, line], ...]}``, ``result {id, status, output,
status_reason, error}``, ``heartbeat``.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable
from typing import Any, Protocol

from .frames import HEADER as _HEADER
from .frames import MAX_MESSAGE, encode
from .spawning import WORKER_FD_ENV

__all__ = ["encode", "read_message", "Outbox", "FrameProtocol", "MAX_MESSAGE", "WORKER_FD_ENV"]


async def read_message(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """The next message, or ``None`` at end of stream."""
    try:
        header = await reader.readexactly(4)
        (size,) = _HEADER.unpack(header)
        if size > MAX_MESSAGE:
            raise ValueError(f"message of {size} bytes exceeds the protocol limit")
        body = await reader.readexactly(size)
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    message: dict[str, Any] = json.loads(body)
    return message


class Writer(Protocol):
    """Where an :class:`Outbox` writes: a stream writer or a transport."""

    def write(self, data: bytes) -> None: ...
    def is_closing(self) -> bool: ...


class FrameProtocol(asyncio.Protocol):
    """Both ends of the socket: messages handed on as they arrive, written in batches.

    Reading through a ``StreamReader`` costs two awaits per message; here every message
    that arrived in one read is decoded in one pass and handed to ``on_message`` at once,
    in order. ``on_closed(error)`` is called once, when the connection ends: ``error`` is
    ``None`` at a clean end of stream, or says what went wrong (a frame over
    :data:`MAX_MESSAGE`, one that is not a JSON object, or ``on_message`` raised): the
    connection is closed then. Messages after a ``close()`` of the transport are dropped.

    With ``backpressure``, reading pauses while the socket's write buffer is over its
    high-water mark, so a peer that sends work faster than the answers drain can't grow
    the buffer without bound. Only one end may do this (the worker): if both stopped
    reading while their writes wait, neither would ever drain.
    """

    def __init__(self, on_message: Callable[[dict[str, Any]], None],
                 on_closed: Callable[[str | None], None], *, backpressure: bool = False) -> None:
        self._backpressure = backpressure
        self._on_message = on_message
        self._on_closed = on_closed
        self._buffer = bytearray()
        self._error: str | None = None
        self._closed = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buffer: bytes | bytearray = data
        if self._buffer:  # the rest of a message that came in pieces
            self._buffer += data
            buffer = self._buffer
        size = len(buffer)
        at = 0
        unpack = _HEADER.unpack_from
        loads = json.loads
        on_message = self._on_message
        try:
            while size - at >= 4:
                (length,) = unpack(buffer, at)
                if length > MAX_MESSAGE:
                    raise ValueError(f"message of {length} bytes exceeds the protocol limit")
                end = at + 4 + length
                if end > size:
                    break
                # Decoded first: json.loads on bytes guesses their encoding in Python.
                message = loads(buffer[at + 4:end].decode())
                if not isinstance(message, dict):
                    raise ValueError("a message is not a JSON object")
                at = end
                on_message(message)
                if self._closed or (self.transport is not None and self.transport.is_closing()):
                    self._buffer.clear()  # closed by the handler: the rest is dropped
                    return
        except Exception as exc:  # bad data (JSON, UTF-8, size) or a failing handler
            self._fail(str(exc))
            return
        if buffer is self._buffer:
            del self._buffer[:at]
        elif at < size:
            self._buffer += buffer[at:]

    def _fail(self, error: str) -> None:
        self._error = error
        self._buffer.clear()
        if self.transport is not None:
            self.transport.close()

    def eof_received(self) -> bool | None:
        return None  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self._closed:
            return
        self._closed = True
        self._on_closed(self._error)

    def pause_writing(self) -> None:
        if self._backpressure and self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self._backpressure and self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()


async def connect(sock: socket.socket, protocol: FrameProtocol) -> asyncio.Transport:
    """Run ``protocol`` on ``sock`` (one end of a socket pair) on the running loop."""
    transport, _ = await asyncio.get_running_loop().create_unix_connection(
        lambda: protocol, sock=sock)
    return transport


class Outbox:
    """Messages sent during one turn of the loop leave in at most two writes.

    Under load a turn hands several invocations to a worker, or finishes several; writing
    each on its own costs a system call apiece. The first message of a turn is written at
    once (a lone message waits for nothing); the others go out together when the turn
    ends. Order is kept; :meth:`flush` writes what is held at once.
    """

    __slots__ = ("_writer", "_loop", "_pending", "_scheduled")

    def __init__(self, writer: Writer, loop: asyncio.AbstractEventLoop) -> None:
        self._writer = writer
        self._loop = loop
        self._pending: list[bytes] = []
        self._scheduled = False

    def send(self, message: dict[str, Any]) -> None:
        if self._scheduled:  # not the first this turn: goes out with the rest at its end
            self._pending.append(encode(message))
            return
        # The first message of a turn leaves at once (no latency added to a lone message).
        self._scheduled = True
        self._loop.call_soon(self.flush)
        if not self._writer.is_closing():
            self._writer.write(encode(message))

    def flush(self) -> None:
        self._scheduled = False
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        if not self._writer.is_closing():
            self._writer.write(data)
