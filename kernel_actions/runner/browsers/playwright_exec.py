"""``browsers.playwright.execute``: Playwright code run against a local browser.

Each executor is a warm Node.js process (``executor.mjs``) that connects to the
browser's ``cdp_ws_url`` with Playwright and runs one call at a time; calls on
different executors run concurrently. The Node runtime and ``playwright-core``
are the ones the Python ``playwright`` wheel ships under ``playwright/driver/``,
so nothing else needs installing (the default install has it).

The code is the body of an ``async`` function with ``page``, ``context`` and
``browser`` in scope; TypeScript is accepted by stripping its type annotations
(Node's own ``stripTypeScriptTypes``), so syntax that needs code generation
(``enum``, ``namespace``, parameter properties) is refused with a clear error.

A call past its ``timeout_sec`` fails and its process is killed, so code it
abandoned cannot keep driving the browser; the next call starts a fresh one.
Executors are stopped when their browser closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...timeutil import format_ns, now_ns
from ..errors import ApiError, bad_request, not_found
from ..supervisor import Process, supervisor

__all__ = ["DEFAULT_EXECUTOR", "Executor", "ExecutorPool", "PlaywrightRuntime",
           "find_playwright_runtime", "EXECUTOR_SCRIPT"]

DEFAULT_EXECUTOR = "default"
#: Named executors a browser may have at once (the default one does not count), as on Kernel.
MAX_NAMED_EXECUTORS = 8
DEFAULT_TIMEOUT_SEC = 60
MAX_TIMEOUT_SEC = 3600
MAX_CODE_CHARS = 1_000_000
#: How long an executor without calls keeps its browser connection.
LINGER_S = 5.0
#: How long a new Node process may take to load Playwright.
START_DEADLINE_S = 30.0
#: Output kept per call and stream.
MAX_OUTPUT_CHARS = 1_000_000
EXECUTOR_SCRIPT = Path(__file__).with_name("executor.mjs")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_RS = b"\x1e"
_NO_RETRY = {"x-should-retry": "false"}


@dataclass(frozen=True)
class PlaywrightRuntime:
    """The Node runtime and ``playwright-core`` entry point of the installed wheel."""

    node: Path
    playwright: Path


def find_playwright_runtime() -> PlaywrightRuntime:
    """The ``playwright`` wheel's Node and ``playwright-core``, or a 503 that says how to
    install them."""
    spec = importlib.util.find_spec("playwright")
    if spec is None or not spec.origin:
        raise ApiError(503, "playwright_unavailable", (
            "playwright.execute needs the Python 'playwright' package, which ships the Node "
            "runtime it runs on: pip install 'kernel-actions' (it installs playwright)"), headers=dict(_NO_RETRY))
    driver = Path(spec.origin).parent / "driver"
    node = driver / ("node.exe" if sys.platform == "win32" else "node")
    package = driver / "package" / "index.js"
    if not (node.is_file() and os.access(node, os.X_OK) and package.is_file()):
        raise ApiError(503, "playwright_unavailable", (
            f"the 'playwright' package at {driver.parent} has no Node driver "
            f"({node.name} and package/index.js): reinstall it with "
            "pip install --force-reinstall playwright"), headers=dict(_NO_RETRY))
    return PlaywrightRuntime(node, package)


class ExecutorGone(Exception):
    """The executor's process exited or was stopped while a call was waiting on it."""


@dataclass(eq=False)
class Executor:
    """One named executor: a Node process, its lock, and what the API reports about it."""

    name: str
    created_ns: int = field(default_factory=now_ns)
    last_used_ns: int = field(default_factory=now_ns)
    target_id: str | None = None
    url: str | None = None
    busy: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)
    proc: Process | None = field(default=None, repr=False)
    reader: asyncio.Task[None] | None = field(default=None, repr=False)
    pending: dict[int, asyncio.Future[dict[str, Any]]] = field(default_factory=dict, repr=False)
    stray_out: list[str] = field(default_factory=list, repr=False)
    stray_err: list[str] = field(default_factory=list, repr=False)
    next_id: int = 1
    #: Why a stopped executor's waiting call failed.
    stopped: str | None = None
    #: The Node script it runs, and Node options before it (the REPL runs its own script).
    script: Path = field(default=EXECUTOR_SCRIPT, repr=False)
    node_options: tuple[str, ...] = ()
    what: str = "playwright executor"

    def to_wire(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name, "busy": self.busy,
            "created_at": format_ns(self.created_ns), "last_used_at": format_ns(self.last_used_ns),
        }
        if self.name != DEFAULT_EXECUTOR:
            body["target_id"] = self.target_id
            body["url"] = self.url
        return body

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    # -- the process -------------------------------------------------------------------

    async def start(self, runtime: PlaywrightRuntime, cdp_ws_url: str, marker: Path,
                    owner: str | None = None) -> None:
        """Start the Node process and wait until it has loaded Playwright."""
        self.stopped = None
        self.stray_out.clear()
        self.stray_err.clear()
        # ``marker`` (in the browser's folder) names the process on its command line, so the
        # browser's own cleanup finds it too.
        command = [str(runtime.node), "--disable-warning=ExperimentalWarning",
                   *self.node_options, str(self.script), str(marker)]
        setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None
        if setpriv:  # dies with the runner, even one killed with SIGKILL
            command = [setpriv, "--pdeathsig", "KILL", "--", *command]
        self.proc = await supervisor.start_process(command, name=self.what,
                                                   limit=64 * 2**20, owner=owner)
        self.reader = asyncio.create_task(self._read(self.proc), name=f"executor {self.name}")
        if self.stopped is not None:  # deleted or restarted while the process was spawned
            await self.stop(self.stopped)
            raise ExecutorGone()
        ready = self._expect(0)
        self._send({"playwright": str(runtime.playwright), "cdp_ws_url": cdp_ws_url,
                    "name": self.name, "linger_ms": int(LINGER_S * 1000)})
        try:
            await asyncio.wait_for(ready, START_DEADLINE_S)
        except (TimeoutError, ExecutorGone):
            if self.stopped is not None:  # deleted or restarted while it started
                raise ExecutorGone() from None
            detail = "".join(self.stray_err).strip()[-2000:]
            await self.stop("it did not start")
            raise ApiError(503, "playwright_unavailable", f"the {self.what} did not "
                           f"start{': ' + detail if detail else ''}",
                           headers=dict(_NO_RETRY)) from None

    def _expect(self, request_id: int) -> asyncio.Future[dict[str, Any]]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[request_id] = future
        return future

    def _send(self, message: dict[str, Any]) -> None:
        if self.proc is None or self.proc.stdin is None or self.proc.returncode is not None:
            raise ExecutorGone()
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")

    async def _read(self, proc: Process) -> None:
        assert proc.stdout is not None and proc.stderr is not None

        async def errors() -> None:
            assert proc.stderr is not None
            async for line in proc.stderr:
                _keep(self.stray_err, line.decode(errors="replace"))

        drain = asyncio.create_task(errors())
        try:
            async for line in proc.stdout:
                if line.startswith(_RS):
                    with contextlib.suppress(ValueError):
                        message = json.loads(line[1:])
                        future = self.pending.pop(message.get("id"), None)
                        if future is not None and not future.done():
                            future.set_result(message)
                    continue
                _keep(self.stray_out, line.decode(errors="replace"))
            await drain
        finally:
            drain.cancel()
            with contextlib.suppress(ProcessLookupError):
                await proc.wait()
            for future in self.pending.values():
                if not future.done():
                    future.set_exception(ExecutorGone())
            self.pending.clear()

    async def request(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        request_id = self.next_id
        self.next_id += 1
        future = self._expect(request_id)
        try:
            self._send({**message, "id": request_id})
        except ExecutorGone:
            self.pending.pop(request_id, None)
            raise
        return await asyncio.wait_for(future, timeout)

    async def stop(self, why: str) -> None:
        """Kill the process (its whole group) and wait for it."""
        self.stopped = why
        proc, self.proc = self.proc, None
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, 9)
        if self.reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(self.reader), 5)
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                await proc.wait()


def _keep(buffer: list[str], text: str) -> None:
    if sum(len(s) for s in buffer) < MAX_OUTPUT_CHARS:
        buffer.append(text)


class ExecutorPool:
    """The executors of one browser."""

    def __init__(self, browser_id: str, cdp_ws_url: str, folder: Path,
                 owner: str | None = None) -> None:
        self.browser_id = browser_id
        self.cdp_ws_url = cdp_ws_url
        self.marker = folder / "playwright"
        self.owner = owner
        self.executors: dict[str, Executor] = {DEFAULT_EXECUTOR: Executor(DEFAULT_EXECUTOR)}
        self.closed: str | None = None

    def listing(self) -> list[dict[str, Any]]:
        return [e.to_wire() for e in self.executors.values()]

    def executor_for(self, name: str) -> Executor:
        executor = self.executors.get(name)
        if executor is not None:
            return executor
        named = len(self.executors) - 1
        if named >= MAX_NAMED_EXECUTORS:
            raise ApiError(409, "conflict", (
                f"this browser already has {MAX_NAMED_EXECUTORS} named executors "
                f"({', '.join(n for n in self.executors if n != DEFAULT_EXECUTOR)}): delete one "
                "with DELETE /browsers/{id}/playwright/executors/{name}"),
                headers=dict(_NO_RETRY), details=[{"executors": self.listing()}])
        executor = self.executors[name] = Executor(name)
        return executor

    async def execute(self, code: str, name: str, timeout_s: int,
                      runtime: PlaywrightRuntime) -> dict[str, Any]:
        executor = self.executor_for(name)
        async with executor.lock:
            if self.closed is not None:
                raise ApiError(409, "conflict", f"the browser was closed: {self.closed}",
                               headers=dict(_NO_RETRY))
            if self.executors.get(name) is not executor:  # deleted while this call waited
                return {"success": False, "error": f"executor {name!r} was deleted",
                        "stdout": "", "stderr": ""}
            executor.busy = True
            executor.last_used_ns = now_ns()
            try:
                return await self._run(executor, code, timeout_s, runtime)
            finally:
                executor.busy = False

    async def _run(self, executor: Executor, code: str, timeout_s: int,
                   runtime: PlaywrightRuntime) -> dict[str, Any]:
        started = time.monotonic()
        try:
            if not executor.alive:
                await executor.start(runtime, self.cdp_ws_url, self.marker, self.owner)
            executor.stray_out.clear()
            executor.stray_err.clear()
            owned = [e.target_id for e in self.executors.values()
                     if e is not executor and e.target_id is not None]
            remaining = max(0.001, timeout_s - (time.monotonic() - started))
            reply = await executor.request(
                {"op": "run", "code": code, "exclude_targets": owned}, remaining)
        except TimeoutError:
            out, err = "".join(executor.stray_out), "".join(executor.stray_err)
            await executor.stop("timed out")
            return {"success": False, "error": f"execution timed out after {timeout_s} s",
                    "stdout": out, "stderr": err}
        except ExecutorGone:
            why = executor.stopped or "its process exited"
            err = "".join(executor.stray_err)
            await executor.stop(why)
            message = (f"executor {executor.name!r} was restarted" if why == "restarted"
                       else f"executor {executor.name!r} was deleted" if why == "deleted"
                       else f"the executor stopped: {why}")
            return {"success": False, "error": message, "stdout": "", "stderr": err}
        reply.pop("id", None)
        url = reply.pop("url", None)
        tab = reply.get("tab")
        if tab is not None and executor.name != DEFAULT_EXECUTOR:
            executor.target_id = tab.get("target_id")
            executor.url = url
        reply["stdout"] = (reply.get("stdout") or "") + "".join(executor.stray_out)
        reply["stderr"] = (reply.get("stderr") or "") + "".join(executor.stray_err)
        return reply

    async def delete(self, name: str, close_tab: bool) -> None:
        executor = self.executors.get(name)
        if executor is None:
            raise not_found(f"executor {name!r} not found on browser {self.browser_id}")
        if name == DEFAULT_EXECUTOR:
            await executor.stop("restarted")
            return
        del self.executors[name]
        if close_tab and executor.alive and not executor.busy:
            with contextlib.suppress(Exception):
                await executor.request({"op": "close_tab"}, 5)
        await executor.stop("deleted")

    async def close(self, why: str) -> None:
        self.closed = why
        await asyncio.gather(*(e.stop(why) for e in self.executors.values()),
                             return_exceptions=True)


def parse_execute(body: dict[str, Any]) -> tuple[str, str, int]:
    """``(code, executor, timeout_sec)`` of an execute request, or a 400 saying what is wrong."""
    code = body.get("code")
    if not isinstance(code, str) or not code.strip():
        raise bad_request("'code' must be a non-empty string of TypeScript or JavaScript")
    if len(code) > MAX_CODE_CHARS:
        raise bad_request(f"'code' is longer than {MAX_CODE_CHARS} characters")
    name = body.get("executor", DEFAULT_EXECUTOR)
    if name is None:
        name = DEFAULT_EXECUTOR
    check_executor_name(name)
    timeout = body.get("timeout_sec", DEFAULT_TIMEOUT_SEC)
    if timeout is None:
        timeout = DEFAULT_TIMEOUT_SEC
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not (
            1 <= timeout <= MAX_TIMEOUT_SEC):
        raise bad_request(f"'timeout_sec' must be an integer between 1 and {MAX_TIMEOUT_SEC}, "
                          f"got {timeout!r}")
    return code, name, timeout


def check_executor_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise bad_request("'executor' must be 1-64 letters, digits, '_', '.' or '-', starting "
                          f"with a letter or digit; got {name!r}")
    return name
