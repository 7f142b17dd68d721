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
import struct
from typing import Any

__all__ = ["encode", "read_message", "Outbox", "MAX_MESSAGE", "WORKER_FD_ENV"]

#: Largest message accepted (a result over this fails the invocation instead).
MAX_MESSAGE = 256 * 1024 * 1024
WORKER_FD_ENV = "KERNEL_ACTIONS_WORKER_FD"

_HEADER = struct.Struct(">I")


def encode(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()
    return _HEADER.pack(len(body)) + body


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


class Outbox:
    """Messages sent during one turn of the loop leave in at most two writes.

    Under load a turn hands several invocations to a worker, or finishes several; writing
    each on its own costs a system call apiece. The first message of a turn is written at
    once (a lone message waits for nothing); the others go out together when the turn
    ends. Order is kept; :meth:`flush` writes what is held at once.
    """

    __slots__ = ("_writer", "_loop", "_pending", "_scheduled")

    def __init__(self, writer: asyncio.StreamWriter, loop: asyncio.AbstractEventLoop) -> None:
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
