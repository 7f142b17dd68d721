"""Shared fixtures: a real runner process on a free loopback port."""

from __future__ import annotations

import http.server
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

TESTS = Path(__file__).parent
APPS = TESTS / "apps"


class RunnerProcess:
    """``kernel-actions dev`` (or ``serve``) started as a user would, on port 0."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
        self.args = args
        self.cwd = cwd
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self.url: str | None = None
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        full_env.pop("KERNEL_BASE_URL", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kernel_actions.cli", *args],
            cwd=cwd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, text=True, start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                if self.url is None and "listening on " in line:
                    self.url = line.split("listening on ", 1)[1].strip()
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[list[str]], bool], timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.lines):
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(
                        "runner output never matched; output was:\n" + "\n".join(self.lines))
                self._cond.wait(min(left, 0.2))

    def wait_line(self, text: str, timeout: float = 20) -> str:
        self.wait_for(lambda lines: any(text in ln for ln in lines), timeout)
        return next(ln for ln in self.lines if text in ln)

    def wait_ready(self, timeout: float = 30) -> str:
        self.wait_for(lambda lines: self.url is not None and any("data:" in ln for ln in lines),
                      timeout)
        assert self.url is not None
        return self.url

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def client(self, **kwargs: object) -> httpx.Client:
        assert self.url is not None
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)  # type: ignore[arg-type]

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig) if sig == signal.SIGKILL else self.proc.send_signal(sig)

    def stop(self, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._reader.join(5)
        return self.proc.returncode

    def kill(self) -> None:
        """``kill -9`` the runner alone (its workers die with it, as the OS makes them)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._reader.join(5)


@pytest.fixture
def start_runner(tmp_path: Path) -> Iterator[Callable[..., RunnerProcess]]:
    """Start runners; each is stopped (and its process group killed) at teardown."""
    started: list[RunnerProcess] = []

    def start(entry: str | Path | None = None, *extra: str, command: str = "dev",
              cwd: Path | None = None, data_dir: Path | None = None, wait: bool = True,
              env: dict[str, str] | None = None) -> RunnerProcess:
        args = [command]
        if entry is not None:
            args.append(str(entry))
        args += ["--port", "0", "--data-dir", str(data_dir or tmp_path / "data")]
        if command == "dev" and "--reload" not in extra:
            args.append("--no-reload")
        args += list(extra)
        runner = RunnerProcess(args, cwd or tmp_path, env)
        started.append(runner)
        if wait:
            runner.wait_ready()
        return runner

    yield start
    for runner in started:
        runner.stop(timeout=10)
        print(f"--- runner {' '.join(runner.args)} output ---\n{runner.output}")
        try:
            os.killpg(runner.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def app_copy(tmp_path: Path) -> Callable[[str], Path]:
    """Copy an app from tests/apps into a fresh folder; returns its entrypoint."""

    def copy(name: str = "conformance_app.py") -> Path:
        folder = tmp_path / "app"
        folder.mkdir(exist_ok=True)
        target = folder / "main.py"
        shutil.copy(APPS / name, target)
        return target

    return copy


@pytest.fixture
def conformance(start_runner: Callable[..., RunnerProcess],
                app_copy: Callable[[str], Path]) -> RunnerProcess:
    """A runner serving tests/apps/conformance_app.py."""
    entry = app_copy("conformance_app.py")
    return start_runner(entry, "--sync-timeout", "3", cwd=entry.parent)


def poll(predicate: Callable[[], object], timeout: float = 10, interval: float = 0.02) -> object:
    """Call ``predicate`` until it returns something truthy, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


Answer = tuple[int, str, bytes]  # status, content type, body


@contextmanager
def http_server(answer: Callable[[str], Answer]) -> Iterator[str]:
    """A plain HTTP server on loopback answering GET and POST with ``answer(path)``."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, content_type, body = answer(self.path)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
