"""The floor: the least any process-isolated, durable runner must do per invocation.

A bare Starlette endpoint that inserts the invocation into SQLite (WAL), forwards the call
to one worker process over a unix socket (length-prefixed JSON), gets the result back,
updates the row, and answers once that update is committed (an answer is never lost to a
crash); the writes of one event-loop turn share one commit. Run it under uvicorn with
httptools and uvloop:

    uvicorn floor:app --http httptools --loop uvloop
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

HERE = Path(__file__).parent
HEADER = struct.Struct("!I")

WORKER = f"""
import json, socket, struct, sys
sys.path.insert(0, {str(HERE)!r})
from trivial import add
H = struct.Struct("!I")
s = socket.socket(fileno=int(sys.argv[1]))
f = s.makefile("rb")
while True:
    head = f.read(4)
    if not head:
        break
    msg = json.loads(f.read(H.unpack(head)[0]))
    out = json.dumps({{"id": msg["id"], "output": json.dumps(add(json.loads(msg["payload"])))}})
    data = out.encode()
    s.sendall(H.pack(len(data)) + data)
"""


class Floor:
    def __init__(self) -> None:
        self.db = sqlite3.connect(os.path.join(tempfile.mkdtemp(), "floor.db"),
                                  isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("CREATE TABLE inv (id INTEGER PRIMARY KEY, payload TEXT, status TEXT,"
                        " output TEXT, created REAL, finished REAL)")
        self.pending: list[tuple[str, tuple[Any, ...]]] = []
        self.commit_scheduled = False
        #: Resolved when the writes queued so far are committed.
        self.committed: asyncio.Future[None] | None = None
        self.waiters: dict[int, asyncio.Future[str]] = {}
        self.next_id = 0
        self.writer: asyncio.StreamWriter | None = None

    async def start(self) -> None:
        parent, child = socket.socketpair()
        subprocess.Popen([sys.executable, "-c", WORKER, str(child.fileno())],
                         pass_fds=(child.fileno(),))
        child.close()
        reader, self.writer = await asyncio.open_unix_connection(sock=parent)
        asyncio.get_running_loop().create_task(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while True:
            head = await reader.readexactly(4)
            msg = json.loads(await reader.readexactly(HEADER.unpack(head)[0]))
            self.waiters.pop(msg["id"]).set_result(msg["output"])

    def write(self, sql: str, params: tuple[Any, ...]) -> asyncio.Future[None]:
        """Queue a write for this turn's commit; the future is resolved once it is done."""
        self.pending.append((sql, params))
        if not self.commit_scheduled:
            self.commit_scheduled = True
            loop = asyncio.get_running_loop()
            self.committed = loop.create_future()
            loop.call_soon(self._commit)
        assert self.committed is not None
        return self.committed

    def _commit(self) -> None:
        self.commit_scheduled = False
        batch, self.pending = self.pending, []
        done, self.committed = self.committed, None
        self.db.execute("BEGIN")
        for sql, params in batch:
            self.db.execute(sql, params)
        self.db.execute("COMMIT")
        if done is not None:
            done.set_result(None)

    async def invoke(self, payload: str) -> str:
        if self.writer is None:
            await self.start()
        assert self.writer is not None
        self.next_id += 1
        inv_id = self.next_id
        self.write("INSERT INTO inv VALUES (?, ?, 'running', NULL, ?, NULL)",
                   (inv_id, payload, time.time()))
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.waiters[inv_id] = fut
        data = json.dumps({"id": inv_id, "payload": payload}).encode()
        self.writer.write(HEADER.pack(len(data)) + data)
        output = await fut
        await self.write("UPDATE inv SET status='succeeded', output=?, finished=? WHERE id=?",
                         (output, time.time(), inv_id))
        return output


floor = Floor()


async def invoke(request: Request) -> Response:
    body = json.loads(await request.body())
    output = await floor.invoke(body["payload"])
    return Response(json.dumps({"status": "succeeded", "output": output}),
                    media_type="application/json")


app = Starlette(routes=[Route("/invocations", invoke, methods=["POST"])])
