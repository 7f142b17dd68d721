"""Shared pieces of the benchmark scripts: starting servers, waiting, summarising.

Server processes are the tests' own (``tests/helpers.py``): one way to start a
runner and wait for it, whether a test or a benchmark does it.
"""

from __future__ import annotations

import asyncio
import os
import platform
import socket
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
APPS = HERE / "apps"
if str(HERE.parent) not in sys.path:  # run as ``python benchmarks/bench_x.py``
    sys.path.insert(0, str(HERE.parent))

from tests.helpers import RunnerProcess, ServerProcess  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_TEMP = tempfile.TemporaryDirectory(prefix="kernel-actions-bench-")


def runner(entry: Path, *extra: str, data_dir: Path | None = None) -> RunnerProcess:
    """``kernel-actions dev`` on ``entry``, answering; stop it with ``close()``."""
    data = data_dir or Path(tempfile.mkdtemp(dir=_TEMP.name))
    server = RunnerProcess(["dev", str(entry), "--port", "0", "--data-dir", str(data), *extra],
                           cwd=entry.parent)
    server.wait_ready()
    server.wait_http("/health")
    return server


def uvicorn(module: str, cwd: Path, *extra: str) -> ServerProcess:
    """A baseline app on uvicorn (call ``wait_http`` before using it)."""
    port = free_port()
    return ServerProcess([sys.executable, "-m", "uvicorn", module, "--port", str(port),
                          "--log-level", "warning", *extra], cwd=cwd,
                         url=f"http://127.0.0.1:{port}")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def median(values: list[float]) -> float:
    return statistics.median(values)


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


class RawClient:
    """A minimal keep-alive HTTP/1.1 client on asyncio streams.

    httpx costs more CPU per request than the servers under test, which would make
    every figure a measure of the client; this one costs a few microseconds.
    """

    def __init__(self, url: str) -> None:
        rest = url.split("://", 1)[1]
        host, _, port = rest.partition(":")
        self.host = host
        self.port = int(port.rstrip("/"))
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        if self.writer is None:
            await self.connect()
        assert self.reader is not None and self.writer is not None
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
