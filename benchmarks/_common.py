"""Shared pieces of the benchmark scripts: starting servers, waiting, summarising."""

from __future__ import annotations

import asyncio
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

HERE = Path(__file__).parent
APPS = HERE / "apps"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server process whose readiness is a successful HTTP answer (or an output line)."""

    def __init__(self, args: list[str], cwd: Path, url: str | None = None,
                 ready_line: str | None = None, env: dict[str, str] | None = None) -> None:
        self.lines: list[str] = []
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            start_new_session=True,
        )
        self.url = url
        self._ready = threading.Event()
        self._ready_line = ready_line
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())
            if self._ready_line and self._ready_line in line:
                m = re.search(r"http://\S+", line)
                if m and self.url is None:
                    self.url = m.group(0)
                self._ready.set()

    def wait_line(self, timeout: float = 30) -> None:
        if not self._ready.wait(timeout):
            raise RuntimeError("server never became ready:\n" + "\n".join(self.lines))

    def wait_http(self, path: str = "/", timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.url}{path}", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.005)
        raise RuntimeError("server never answered:\n" + "\n".join(self.lines))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


_TEMP = tempfile.TemporaryDirectory(prefix="kernel-actions-bench-")


def runner(entry: Path, *extra: str, data_dir: Path | None = None) -> Server:
    data = data_dir or Path(tempfile.mkdtemp(dir=_TEMP.name))
    server = Server([sys.executable, "-m", "kernel_actions.cli", "dev", str(entry), "--port", "0",
                     "--data-dir", str(data), *extra], cwd=entry.parent,
                    ready_line="listening on")
    server.wait_line()
    server.wait_http("/health")
    return server


def uvicorn(module: str, cwd: Path, *extra: str) -> Server:
    port = free_port()
    server = Server([sys.executable, "-m", "uvicorn", module, "--port", str(port), "--log-level",
                     "warning", *extra], cwd=cwd, url=f"http://127.0.0.1:{port}")
    return server


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
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
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
