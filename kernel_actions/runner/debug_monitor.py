"""The runner's side of ``kernel-actions dev --debug``.

Workers report, one JSON line each, on a unix socket only this runner listens on: the port
their debugger listens on, and when a thread stops in the debugger or runs again. The
monitor prints the ports (which worker generation is on which) and stops or restarts the
clock on that worker's invocations through the scheduler.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from .engine.debugging import DEBUG_ENV

__all__ = ["DebugMonitor", "DEBUG_ENV"]


class Clock(Protocol):
    def pause_timeouts(self, pid: int, where: str | None) -> None: ...
    def resume_timeouts(self, pid: int) -> None: ...


class DebugMonitor:
    def __init__(self, clock: Clock, *, host: str, port: int, wait: bool,
                 log: Callable[[str], None],
                 describe_worker: Callable[[int], str] = lambda pid: f"worker {pid}") -> None:
        self.clock = clock
        self.host = host
        self.port = port
        self.wait = wait
        self.log = log
        self.describe_worker = describe_worker
        #: pid → debug port, for the banner and ``GET /_runner/status``.
        self.ports: dict[int, int] = {}
        # A short path of its own: unix socket paths are limited to ~100 bytes.
        self._dir = Path(tempfile.mkdtemp(prefix="kernel-actions-debug-"))
        self.path = self._dir / "workers.sock"
        self._server: asyncio.AbstractServer | None = None

    @property
    def worker_env(self) -> dict[str, str]:
        value = f"{self.host}|{self.port}|{self.path}" + ("|wait" if self.wait else "")
        # pydevd's "frozen modules" warning (four lines at every start on Python 3.11+):
        # breakpoints in the app's own files don't need the stdlib's validated.
        return {DEBUG_ENV: value, "PYDEVD_DISABLE_FILE_VALIDATION": "1"}

    async def start(self) -> None:
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.path))
        self.path.chmod(0o600)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        shutil.rmtree(self._dir, ignore_errors=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    event = json.loads(line)
                    self.handle(event["event"], int(event["pid"]), event)
                except (ValueError, KeyError, TypeError):
                    continue
        finally:
            writer.close()

    def handle(self, kind: str, pid: int, event: dict[str, object]) -> None:
        if kind == "listening":
            self.ports[pid] = int(str(event["port"]))
            self.log(f"debugger: {self.describe_worker(pid)} waits for your IDE at "
                     f"{event['host']}:{event['port']}")
        elif kind == "paused":
            where = event.get("where")
            self.clock.pause_timeouts(pid, str(where) if where else None)
        elif kind == "resumed":
            self.clock.resume_timeouts(pid)
        elif kind == "failed":
            self.log(f"debugger: {self.describe_worker(pid)}: {event.get('message')}")
