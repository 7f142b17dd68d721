"""Commands run "on the browser's machine" (``/browsers/{id}/process/*``): exec, spawn,
status, stdin, the output stream, kill and resize.

On Kernel they run inside the browser's VM. Here there is no VM: they would run on the
developer's own machine, as the runner's user, so the API is off unless the runner was
started with ``--allow-process``; without it every call answers 403 naming the flag. A
process starts in the browser's file-system folder (``cwd`` is a path of that file
system, see :mod:`.files`), in a session of its own, and is killed with its whole group
when the browser closes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import os
import pwd
import signal
import struct
import termios
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from ...ids import new_id
from ...timeutil import format_ns, now_ns
from ..errors import ApiError, bad_request, not_found
from ..http.common import guard, json_response, read_json_body, sse_event
from ..supervisor import PIPE, Process, supervisor
from .files import Sandbox

__all__ = ["ProcessService", "ALLOW_FLAG"]

ALLOW_FLAG = "--allow-process"
#: Output kept for each stream of an ``exec``, and for a spawned process's late readers.
MAX_OUTPUT_BYTES = 16 * 1024 * 1024
MAX_TIMEOUT_S = 86_400
MAX_PROCESSES = 64
_SIGNALS = {"TERM": signal.SIGTERM, "KILL": signal.SIGKILL, "INT": signal.SIGINT,
            "HUP": signal.SIGHUP}
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _refused() -> ApiError:
    return ApiError(403, "forbidden", (
        "the process API runs commands on this machine, so it is off: start the runner with "
        f"{ALLOW_FLAG} (kernel-actions dev {ALLOW_FLAG}) to allow it"),
        headers={"x-should-retry": "false"})


@dataclass(eq=False)
class _Process:
    id: str
    proc: Process
    started_ns: int
    tty: int | None = None
    #: Output so far, as (stream, bytes) chunks, for readers that come late.
    backlog: list[tuple[str, bytes]] = field(default_factory=list)
    backlog_bytes: int = 0
    readers: set[asyncio.Queue[tuple[str, bytes] | None]] = field(default_factory=set)
    exit_code: int | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def emit(self, stream: str, data: bytes) -> None:
        if self.backlog_bytes + len(data) <= MAX_OUTPUT_BYTES:
            self.backlog.append((stream, data))
            self.backlog_bytes += len(data)
        for queue in self.readers:
            queue.put_nowait((stream, data))


def _exit_code(returncode: int) -> int:
    """A shell's convention: 128 + the signal for a process killed by one."""
    return 128 - returncode if returncode < 0 else returncode


class ProcessService:
    """The process endpoints. ``find(id_or_name)`` gives a running browser's ``(id, folder)``;
    ``sandbox(id_or_name)`` its file system."""

    def __init__(self, allowed: bool, sandbox: Callable[[str], tuple[str, Sandbox]],
                 owner: Callable[[str], str | None] = lambda browser_id: None) -> None:
        self.allowed = allowed
        self._sandbox = sandbox
        #: A browser's owner token: its processes carry it, so closing it ends them all.
        self._owner = owner
        self._processes: dict[str, dict[str, _Process]] = {}

    def forget(self, browser_id: str) -> None:
        """The browser closed: its processes are killed, with their groups."""
        for process in self._processes.pop(browser_id, {}).values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.proc.pid, signal.SIGKILL)
            if process.tty is not None:
                with contextlib.suppress(OSError):
                    os.close(process.tty)

    # -- starting ----------------------------------------------------------------------------

    def _options(self, data: dict[str, Any], box: Sandbox, browser_id: str) -> dict[str, Any]:
        command = data.get("command")
        if not isinstance(command, str) or not command.strip():
            raise bad_request("'command' must be a non-empty string")
        args = data.get("args")
        if args is not None and (not isinstance(args, list)
                                 or not all(isinstance(a, str) for a in args)):
            raise bad_request("'args' must be a list of strings")
        argv = [command, *args] if args else ["/bin/sh", "-c", command]
        env = data.get("env")
        if env is not None and (not isinstance(env, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in env.items())):
            raise bad_request("'env' must be an object of string values")
        cwd = box.resolve(data["cwd"], "cwd") if data.get("cwd") else box.real_root
        if not cwd.is_dir():
            raise bad_request(f"'cwd' {data.get('cwd')!r} is not a directory")
        timeout = data.get("timeout_sec")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int)
                                    or not 1 <= timeout <= MAX_TIMEOUT_S):
            raise bad_request(f"'timeout_sec' must be an integer between 1 and {MAX_TIMEOUT_S}")
        user: int | None = None
        as_user = data.get("as_user")
        if as_user:
            try:
                user = pwd.getpwnam(str(as_user)).pw_uid
            except KeyError:
                raise bad_request(f"no such user: {as_user!r}") from None
        elif data.get("as_root"):
            user = 0
        if user is not None and user != os.geteuid() and os.geteuid() != 0:
            raise ApiError(403, "forbidden", "running as another user needs the runner to run "
                           "as root")
        return {"argv": argv, "env": {**os.environ, **(env or {})}, "cwd": str(cwd),
                "timeout": timeout, "user": user, "owner": self._owner(browser_id)}

    async def _start(self, options: dict[str, Any], tty: tuple[int, int] | None = None
                     ) -> tuple[Process, int | None]:
        master: int | None = None
        streams: dict[str, Any] = {"stdin": PIPE, "stdout": PIPE, "stderr": PIPE}
        slave = None
        if tty is not None:
            master, slave = os.openpty()
            fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", tty[1], tty[0], 0, 0))
            streams = {"stdin": slave, "stdout": slave, "stderr": slave}
        try:
            proc = await supervisor.start_process(
                options["argv"], name="process", cwd=options["cwd"], env=options["env"],
                user=options["user"], owner=options["owner"], **streams)
        except OSError as exc:
            if master is not None:
                os.close(master)
            raise bad_request(f"cannot run {options['argv'][0]!r}: "
                              f"{exc.strerror or exc}") from None
        finally:
            if slave is not None:
                os.close(slave)
        return proc, master

    # -- HTTP --------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        base = "/browsers/{id}/process"
        return [
            Route(f"{base}/exec", guard(self.exec_process), methods=["POST"]),
            Route(f"{base}/spawn", guard(self.spawn_process), methods=["POST"]),
            Route(f"{base}/{{pid}}/status", guard(self.process_status), methods=["GET"]),
            Route(f"{base}/{{pid}}/stdin", guard(self.write_stdin), methods=["POST"]),
            Route(f"{base}/{{pid}}/stdout/stream", guard(self.stream_output), methods=["GET"]),
            Route(f"{base}/{{pid}}/kill", guard(self.kill_process), methods=["POST"]),
            Route(f"{base}/{{pid}}/resize", guard(self.resize_terminal), methods=["POST"]),
        ]

    def _open(self, request: Request) -> tuple[str, Sandbox]:
        if not self.allowed:
            raise _refused()
        return self._sandbox(request.path_params["id"])

    def _find_process(self, request: Request) -> _Process:
        browser_id, _ = self._open(request)
        process = self._processes.get(browser_id, {}).get(request.path_params["pid"])
        if process is None:
            raise not_found(f"process {request.path_params['pid']!r} not found")
        return process

    async def exec_process(self, request: Request) -> Response:
        browser_id, box = self._open(request)
        options = self._options(await read_json_body(request), box, browser_id)
        started = time.monotonic()
        proc, _ = await self._start(options)
        try:
            out, err = await asyncio.wait_for(_collect(proc), options["timeout"])
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            out, err = await _collect(proc)
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        return json_response({
            "exit_code": _exit_code(proc.returncode or 0),
            "stdout_b64": base64.b64encode(out).decode(),
            "stderr_b64": base64.b64encode(err).decode(),
            "duration_ms": int((time.monotonic() - started) * 1000),
        })

    async def spawn_process(self, request: Request) -> Response:
        browser_id, box = self._open(request)
        data = await read_json_body(request)
        options = self._options(data, box, browser_id)
        processes = self._processes.setdefault(browser_id, {})
        if sum(1 for p in processes.values() if p.exit_code is None) >= MAX_PROCESSES:
            raise ApiError(429, "rate_limited", f"at most {MAX_PROCESSES} running processes "
                           "a browser", headers={"Retry-After": "1"})
        tty = None
        if data.get("allocate_tty"):
            tty = (_size(data.get("cols"), "cols", 80), _size(data.get("rows"), "rows", 24))
        proc, master = await self._start(options, tty)
        process = _Process(new_id(), proc, now_ns(), tty=master)
        processes[process.id] = process
        process.tasks.append(asyncio.ensure_future(self._pump(process, options["timeout"])))
        return json_response({"process_id": process.id, "pid": proc.pid,
                              "started_at": format_ns(process.started_ns)})

    async def process_status(self, request: Request) -> Response:
        process = self._find_process(request)
        body: dict[str, Any] = {"state": "exited" if process.exit_code is not None
                                else "running", "exit_code": process.exit_code}
        if process.exit_code is None:
            body.update(_usage(process.proc.pid, process.started_ns))
        else:
            body.update({"cpu_pct": 0.0, "mem_bytes": 0})
        return json_response(body)

    async def write_stdin(self, request: Request) -> Response:
        process = self._find_process(request)
        data = await read_json_body(request)
        try:
            raw = base64.b64decode(str(data.get("data_b64", "")), validate=True)
        except ValueError:
            raise bad_request("'data_b64' must be base64") from None
        if process.exit_code is not None:
            raise ApiError(409, "conflict", "the process has exited",
                           headers={"x-should-retry": "false"})
        if process.tty is not None:
            await asyncio.to_thread(os.write, process.tty, raw)
        else:
            assert process.proc.stdin is not None
            process.proc.stdin.write(raw)
            with contextlib.suppress(ConnectionError):
                await process.proc.stdin.drain()
        return json_response({"written_bytes": len(raw)})

    async def stream_output(self, request: Request) -> Response:
        process = self._find_process(request)
        queue: asyncio.Queue[tuple[str, bytes] | None] = asyncio.Queue()
        backlog = list(process.backlog)
        finished = process.exit_code is not None
        if not finished:
            process.readers.add(queue)

        async def stream() -> AsyncIterator[bytes]:
            try:
                for name, chunk in backlog:
                    yield sse_event({"stream": name,
                                     "data_b64": base64.b64encode(chunk).decode()})
                while not finished:
                    item = await queue.get()
                    if item is None:
                        break
                    yield sse_event({"stream": item[0],
                                     "data_b64": base64.b64encode(item[1]).decode()})
                yield sse_event({"event": "exit", "exit_code": process.exit_code})
            finally:
                process.readers.discard(queue)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    async def kill_process(self, request: Request) -> Response:
        process = self._find_process(request)
        data = await read_json_body(request)
        sig = _SIGNALS.get(str(data.get("signal")))
        if sig is None:
            raise bad_request(f"'signal' must be one of {', '.join(_SIGNALS)}")
        if process.exit_code is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.proc.pid, sig)
        return json_response({"ok": True})

    async def resize_terminal(self, request: Request) -> Response:
        process = self._find_process(request)
        data = await read_json_body(request)
        cols, rows = _size(data.get("cols"), "cols", None), _size(data.get("rows"), "rows",
                                                                  None)
        if process.tty is None:
            raise bad_request("the process has no terminal: spawn it with allocate_tty")
        fcntl.ioctl(process.tty, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        return json_response({"ok": True})

    async def _pump(self, process: _Process, timeout: int | None) -> None:
        """Read the process's output until it exits; then tell every reader."""
        proc = process.proc

        async def read(reader: asyncio.StreamReader | None, name: str) -> None:
            if reader is None:
                return
            while chunk := await reader.read(65536):
                process.emit(name, chunk)

        async def read_tty(fd: int) -> None:
            loop = asyncio.get_running_loop()
            while True:
                ready: asyncio.Future[None] = loop.create_future()
                loop.add_reader(fd, _resolve, ready)
                try:
                    await ready
                finally:
                    loop.remove_reader(fd)
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # EIO: the terminal's last writer is gone
                    return
                if not chunk:
                    return
                process.emit("stdout", chunk)

        readers = ([read_tty(process.tty)] if process.tty is not None
                   else [read(proc.stdout, "stdout"), read(proc.stderr, "stderr")])
        try:
            await asyncio.wait_for(asyncio.gather(*readers, proc.wait()), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        except Exception:  # an output pipe failed: the exit still has to be told
            pass
        returncode = await proc.wait()
        process.exit_code = _exit_code(returncode)
        for queue in process.readers:
            queue.put_nowait(None)
        process.done.set()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _collect(proc: Process) -> tuple[bytes, bytes]:
    async def read(reader: asyncio.StreamReader | None) -> bytes:
        kept = bytearray()
        if reader is None:
            return b""
        while chunk := await reader.read(65536):
            if len(kept) < MAX_OUTPUT_BYTES:
                kept += chunk[:MAX_OUTPUT_BYTES - len(kept)]
        return bytes(kept)

    if proc.stdin is not None:
        proc.stdin.close()
    out, err, _ = await asyncio.gather(read(proc.stdout), read(proc.stderr), proc.wait())
    return out, err


def _size(value: Any, name: str, default: int | None) -> int:
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000:
        raise bad_request(f"{name!r} must be an integer between 1 and 10000")
    return value


def _usage(pid: int, started_ns: int) -> dict[str, Any]:
    """CPU (average since start) and resident memory of a process, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu_s = (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
        rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return {"cpu_pct": 0.0, "mem_bytes": 0}
    elapsed = max((now_ns() - started_ns) / 1e9, 1e-3)
    return {"cpu_pct": round(100 * cpu_s / elapsed, 1), "mem_bytes": rss}


