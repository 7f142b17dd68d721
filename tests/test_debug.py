"""`dev --debug`: a real debug client stops an action past its timeout, and it still succeeds."""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from .helpers import RunnerProcess, poll

APP = '''from kernel_actions import App

app = App("dbg")


@app.action("double")
async def double(ctx, payload: dict) -> dict:
    n = payload["n"]
    doubled = n * 2  # line 9: the breakpoint
    return {"doubled": doubled}
'''
BREAK_LINE = 9
#: The same action as a blocking handler (it runs in a handler thread, while the event
#: loop's thread waits in selectors.py: the log must name the user's line all the same).
BLOCKING_APP = APP.replace("async def double", "def double")


class DapClient:
    """The Debug Adapter Protocol over a socket, as an IDE speaks it to debugpy."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seq = 0
        self.pending: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = self.sock.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, buf = buf.split(b"\r\n\r\n", 1)
                length = int(head.split(b"Content-Length:")[1].strip().split(b"\r\n")[0])
                while len(buf) < length:
                    chunk = self.sock.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                body, buf = buf[:length], buf[length:]
                self.messages.put(json.loads(body))
        except OSError:
            return

    def send(self, command: str, **arguments: Any) -> int:
        self.seq += 1
        body = json.dumps({"seq": self.seq, "type": "request", "command": command,
                           "arguments": arguments}).encode()
        self.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        return self.seq

    def wait(self, match: Callable[[dict[str, Any]], bool], timeout: float = 60) -> dict[str, Any]:
        for i, message in enumerate(self.pending):
            if match(message):
                return self.pending.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching DAP message; saw {self.pending}")
            message = self.messages.get(timeout=left)
            if match(message):
                return message
            self.pending.append(message)

    def event(self, name: str, timeout: float = 60) -> dict[str, Any]:
        return self.wait(lambda m: m.get("type") == "event" and m.get("event") == name, timeout)

    def response(self, seq: int, timeout: float = 60) -> dict[str, Any]:
        reply = self.wait(lambda m: m.get("type") == "response" and m.get("request_seq") == seq,
                          timeout)
        assert reply["success"], reply
        return reply

    def close(self) -> None:
        self.sock.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _events(runner: RunnerProcess, inv_id: str) -> list[dict[str, Any]]:
    with runner.client() as c:
        text = c.get(f"/invocations/{inv_id}/events").text
    return [json.loads(line[5:]) for line in text.splitlines() if line.startswith("data:")]


@pytest.mark.parametrize("source", [APP, BLOCKING_APP], ids=["async-def", "def"])
def test_a_breakpoint_stops_the_clock_and_the_action_then_succeeds(
        start_runner: Callable[..., RunnerProcess], tmp_path: Path, source: str) -> None:
    pytest.importorskip("debugpy", reason="debugpy is a dev dependency")
    folder = tmp_path / "app"
    folder.mkdir()
    entry = folder / "main.py"
    entry.write_text(source)
    runner = start_runner(entry, "--debug", "--debug-port", str(_free_port()),
                          "--sync-timeout", "2", cwd=folder)
    line = runner.wait_line("debugger:")
    # The first start has one worker: not "the next generation's".
    assert line.startswith("debugger: the worker (") and "next generation" not in line
    assert "waits for your IDE at 127.0.0.1:" in line
    assert "frozen modules" not in runner.output  # pydevd's warning, silenced
    port = int(line.rsplit(":", 1)[1])

    dap = DapClient(port)
    try:
        dap.response(dap.send("initialize", adapterID="python", clientID="kernel-actions-test",
                              linesStartAt1=True, columnsStartAt1=True, pathFormat="path"))
        attach = dap.send("attach", justMyCode=False)
        dap.event("initialized")
        reply = dap.response(dap.send("setBreakpoints", source={"path": str(entry)},
                                      breakpoints=[{"line": BREAK_LINE}]))
        assert reply["body"]["breakpoints"][0]["verified"], reply
        dap.response(dap.send("configurationDone"))
        dap.response(attach)

        answer: dict[str, Any] = {}

        def invoke() -> None:
            with httpx.Client(base_url=runner.url, timeout=120) as c:
                r = c.post("/invocations", json={"app_name": "dbg", "action_name": "double",
                                                 "payload": '{"n": 4}'})
                answer.update(r.json())

        caller = threading.Thread(target=invoke)
        caller.start()
        stopped = dap.event("stopped")
        assert stopped["body"]["reason"] == "breakpoint"

        def running() -> str | None:
            with runner.client() as c:
                rows = c.get("/invocations", params={"status": "running"}).json()
            return rows[0]["id"] if rows else None

        inv_id = str(poll(running, timeout=30))

        def paused_note() -> bool:
            return any("[debugger] paused at main.py:9" in e.get("message", "")
                       for e in _events_so_far(runner, inv_id))

        poll(paused_note, timeout=30)
        # Hold the breakpoint well past the 2 s sync timeout: the clock is stopped.
        time.sleep(3)
        with runner.client() as c:
            assert c.get(f"/invocations/{inv_id}").json()["status"] == "running"
        dap.response(dap.send("continue", threadId=stopped["body"]["threadId"]))
        caller.join(60)
    finally:
        dap.close()

    assert answer.get("status") == "succeeded", answer
    assert json.loads(answer["output"]) == {"doubled": 8}
    messages = [e.get("message", "") for e in _events(runner, inv_id) if e["event"] == "log"]
    assert messages[0].startswith("[debugger] paused at main.py:9; the timeout is stopped")
    assert messages[1].startswith("[debugger] resumed after ")


def _events_so_far(runner: RunnerProcess, inv_id: str) -> list[dict[str, Any]]:
    """The events of a running invocation replayed so far (the stream is cut after a moment)."""
    events: list[dict[str, Any]] = []
    with runner.client() as c:
        try:
            with c.stream("GET", f"/invocations/{inv_id}/events", timeout=1.0) as r:
                for line in r.iter_lines():
                    if line.startswith("data:"):
                        events.append(json.loads(line[5:]))
        except httpx.ReadTimeout:
            pass
    return events


def test_debug_options_are_checked(start_runner: Callable[..., RunnerProcess],
                                   tmp_path: Path) -> None:
    entry = tmp_path / "main.py"
    entry.write_text(APP)
    runner = start_runner(entry, "--wait", cwd=tmp_path, wait=False)
    assert runner.proc.wait(30) == 2
    runner.wait_line("--wait goes with --debug")


def test_each_generation_gets_its_own_debug_port_across_a_reload(
        start_runner: Callable[..., RunnerProcess], tmp_path: Path) -> None:
    pytest.importorskip("debugpy", reason="debugpy is a dev dependency")
    folder = tmp_path / "app"
    folder.mkdir()
    entry = folder / "main.py"
    entry.write_text(APP)
    base = _free_port()
    runner = start_runner(entry, "--debug", "--debug-port", str(base), "--reload", cwd=folder)
    first = runner.wait_line("debugger:")
    entry.write_text(APP.replace("n * 2", "n * 3"))
    runner.wait_for(lambda lines: sum("debugger:" in ln for ln in lines) >= 2, timeout=60)
    second = [ln for ln in runner.lines if "debugger:" in ln][1]
    ports = {int(ln.rsplit(":", 1)[1]) for ln in (first, second)}
    assert len(ports) == 2 and min(ports) >= base, (first, second)

    def second_generation_serves() -> bool:
        with runner.client() as c:
            return any(a["code_generation"] >= 2 for a in c.get("/apps").json())

    poll(second_generation_serves, timeout=60)
    with runner.client() as c:
        inv = c.post("/invocations", json={"app_name": "dbg", "action_name": "double",
                                           "payload": '{"n": 2}'}).json()
    assert inv["status"] == "succeeded" and json.loads(inv["output"]) == {"doubled": 6}
