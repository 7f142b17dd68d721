"""What the tests and the benchmarks share: server processes started as a user
would start them, polling with a deadline, a plain loopback HTTP server, and the
two ways of talking to a runner (raw HTTP, and the official SDK).

Fixtures that use these live in ``conftest.py``.
"""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import httpx
from kernel import Kernel

if TYPE_CHECKING:
    from kernel_actions.runner.server import Runner

__all__ = [
    "APPS", "TESTS", "Answer", "RunnerProcess", "ServerProcess", "http_server", "invoke",
    "poll", "runner_in_process", "sdk_client", "send_invocation",
]

TESTS = Path(__file__).parent
APPS = TESTS / "apps"


class ServerProcess:
    """A server process in its own session whose output is collected line by line."""

    def __init__(self, command: list[str], cwd: Path, env: dict[str, str] | None = None,
                 url: str | None = None, unset: tuple[str, ...] = ()) -> None:
        """``env`` adds to this process's environment; ``unset`` names what it drops."""
        self.command = command
        self.cwd = cwd
        self.url = url
        self.lines: list[str] = []
        self._cond = threading.Condition()
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        for name in unset:
            full_env.pop(name, None)
        self.proc = subprocess.Popen(
            command, cwd=cwd, env=full_env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            text=True, start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self.saw(line)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def saw(self, line: str) -> None:
        """Called with each output line as it arrives (under the output lock)."""

    def wait_for(self, predicate: Callable[[list[str]], bool], timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.lines):
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(
                        "server output never matched; output was:\n" + "\n".join(self.lines))
                self._cond.wait(min(left, 0.2))

    def wait_line(self, text: str, timeout: float = 20) -> str:
        self.wait_for(lambda lines: any(text in ln for ln in lines), timeout)
        return next(ln for ln in self.lines if text in ln)

    def wait_http(self, path: str = "/", timeout: float = 30) -> None:
        """Wait until the server answers ``path`` at all (any status)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                httpx.get(f"{self.url}{path}", timeout=1)
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise AssertionError(
                        "server never answered; output was:\n" + self.output) from None
                time.sleep(0.005)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig) if sig == signal.SIGKILL else self.proc.send_signal(sig)

    def stop(self, timeout: float = 20) -> int:
        """Ctrl-C, as a user stops it; ``kill -9`` of its process group past ``timeout``."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._reader.join(5)
        return self.proc.returncode

    def close(self) -> None:
        """Stop it, then make sure nothing of its process group is left (cleanup)."""
        self.stop()
        self.kill_group()

    def kill(self) -> None:
        """``kill -9`` the server alone (its workers die with it, as the OS makes them)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._reader.join(5)

    def kill_group(self) -> None:
        """``kill -9`` whatever is left of its process group (cleanup, not a test step)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class RunnerProcess(ServerProcess):
    """``kernel-actions dev`` (or ``serve``, ...) started as a user would; ``args`` are
    the CLI's arguments. Its URL is the one it says it listens on."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
        self.args = args
        # A KERNEL_BASE_URL in the test's own environment must not redirect the runner.
        super().__init__([sys.executable, "-m", "kernel_actions.cli", *args], cwd, env,
                         unset=("KERNEL_BASE_URL",))

    def saw(self, line: str) -> None:
        if self.url is None and "listening on " in line:
            self.url = line.split("listening on ", 1)[1].strip()

    def wait_ready(self, timeout: float = 30) -> str:
        self.wait_for(lambda lines: self.url is not None and any("data:" in ln for ln in lines),
                      timeout)
        assert self.url is not None
        return self.url

    def client(self, **kwargs: object) -> httpx.Client:
        assert self.url is not None
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)  # type: ignore[arg-type]


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

    with serving(Handler) as url:
        yield url


@contextmanager
def serving(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """``handler`` served on a free loopback port, in a thread; its URL while it runs."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def send_invocation(target: httpx.Client | str, action: str, payload: str | None = None, *,
                    app: str, is_async: bool | None = None, key: str | None = None,
                    **fields: object) -> httpx.Response:
    """``POST /invocations`` for ``app``/``action`` to a client or a runner's URL, as is."""
    body: dict[str, object] = {"app_name": app, "action_name": action, **fields}
    if payload is not None:
        body["payload"] = payload
    if is_async is not None:
        body["async"] = is_async
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if isinstance(target, str):
        return httpx.post(f"{target}/invocations", json=body, headers=headers, timeout=30)
    return target.post("/invocations", json=body, headers=headers)


def invoke(target: httpx.Client | str, action: str, payload: str | None = None, *, app: str,
           is_async: bool | None = None, key: str | None = None, **fields: object) -> dict:
    """:func:`send_invocation`, which must be accepted; returns the answer's body."""
    r = send_invocation(target, action, payload, app=app, is_async=is_async, key=key, **fields)
    assert r.status_code in (200, 202), r.text
    return r.json()


def sdk_client(runner: RunnerProcess, api_key: str = "local",
               timeout: float | None = None) -> Kernel:
    """The official SDK pointed at ``runner``, without retries (a failure shows at once)."""
    assert runner.url is not None
    if timeout is None:
        return Kernel(base_url=runner.url, api_key=api_key, max_retries=0)
    return Kernel(base_url=runner.url, api_key=api_key, max_retries=0, timeout=timeout)


@contextmanager
def serve_runner(folder: Path, *extra: str, env: dict[str, str] | None = None
                 ) -> Iterator[RunnerProcess]:
    """A ``serve`` runner on a free port with its data in ``folder``, stopped afterwards
    (for module-scoped fixtures that share one runner)."""
    proc = RunnerProcess(["serve", "--port", "0", "--data-dir", str(folder / "data"), *extra],
                         folder, env)
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop(timeout=15)


def all_invocations(c: httpx.Client) -> list[dict]:
    """Every stored invocation, page by page, newest first."""
    out: list[dict] = []
    offset = 0
    while True:
        r = c.get("/invocations", params={"limit": 100, "offset": offset})
        out += r.json()
        if r.headers["X-Has-More"] != "true":
            return out
        offset = int(r.headers["X-Next-Offset"])


@contextmanager
def runner_in_process(tmp_path: Path, entrypoint: Path | None = None,
                      **settings: object) -> Iterator[Runner]:
    """A runner serving on a loopback port from a thread of this process (no code, or
    ``entrypoint``'s, run in worker processes as ever)."""
    from kernel_actions.runner.config import Config
    from kernel_actions.runner.server import serve

    if entrypoint is None:
        config = Config(entrypoint=None, port=0, data_dir=tmp_path / "inproc", **settings)  # type: ignore[arg-type]
    else:
        config = Config.for_entrypoint(str(entrypoint), port=0, data_dir=tmp_path / "inproc",
                                       **settings)
    ready = threading.Event()
    holder: dict[str, Runner] = {}

    def started(r: Runner) -> None:
        holder["runner"] = r
        ready.set()

    thread = threading.Thread(target=lambda: anyio.run(lambda: serve(config, started=started)),
                              daemon=True)
    thread.start()
    assert ready.wait(60), "the runner did not start"
    runner = holder["runner"]
    try:
        yield runner
    finally:
        runner.request_exit()
        thread.join(30)
