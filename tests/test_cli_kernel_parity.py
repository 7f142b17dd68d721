"""Kernel CLI's spellings work with kernel-actions: ``invoke -o json`` streams events,
``invoke --since``, ``invoke history|get|update|browsers``, ``logs --with-timestamps``, and
Ctrl-C during ``invoke`` deletes the invocation's browsers after cancelling it."""

from __future__ import annotations

import http.server
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from .conftest import RunnerProcess
from .test_cli import Process, invocation_id, run


def test_invoke_o_json_streams_every_event_and_json_is_the_final_document(
        conformance: RunnerProcess) -> None:
    out = run(conformance, "invoke", "conformance", "logs", "-p", '{"lines": 2}', "-o", "json")
    assert out.exit_code == 0, out.output
    events = [json.loads(line) for line in out.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds.count("log") == 6 and kinds[-1] == "invocation_state"
    assert events[-1]["invocation"]["status"] == "succeeded"
    assert out.stderr == ""

    final = run(conformance, "invoke", "conformance", "logs", "-p", '{"lines": 1}', "--json")
    assert final.exit_code == 0 and json.loads(final.stdout)["status"] == "succeeded"

    failed = run(conformance, "invoke", "conformance", "fail", "-o", "json")
    assert failed.exit_code == 1
    last = json.loads(failed.stdout.splitlines()[-1])
    assert last["event"] == "invocation_state" and last["invocation"]["status"] == "failed"


def test_invoke_since_skips_earlier_events(conformance: RunnerProcess) -> None:
    out = run(conformance, "invoke", "conformance", "logs", "-p", '{"lines": 2}', "-o", "json",
              "--since", "2999-01-01T00:00:00Z")
    assert out.exit_code == 0, out.output
    kinds = [json.loads(line)["event"] for line in out.stdout.splitlines()]
    assert "log" not in kinds and kinds[-1] == "invocation_state"


def test_kernels_invoke_subcommands_are_the_invocations_commands(
        conformance: RunnerProcess) -> None:
    started = run(conformance, "invoke", "conformance", "echo", "-p", '{"a": 1}', "-s")
    inv_id = invocation_id(started.stderr)
    history = run(conformance, "invoke", "history", "--app", "conformance", "--json")
    listed = run(conformance, "invocations", "list", "--app", "conformance", "--json")
    assert history.exit_code == 0 and json.loads(history.stdout) == json.loads(listed.stdout)
    got = run(conformance, "invoke", "get", inv_id, "--json")
    assert got.exit_code == 0 and json.loads(got.stdout)["id"] == inv_id
    browsers = run(conformance, "invoke", "browsers", inv_id, "-o", "json")
    assert browsers.exit_code == 0 and json.loads(browsers.stdout) == []
    updated = run(conformance, "invoke", "update", inv_id, "--status", "failed")
    assert updated.exit_code == 4 and "conflict" in updated.stderr  # it had finished
    # The aliased command checks its own options.
    assert run(conformance, "invoke", "history", "--bogus").exit_code == 2


def test_logs_with_timestamps_adds_the_date(conformance: RunnerProcess) -> None:
    run(conformance, "invoke", "conformance", "logs", "-p", '{"lines": 1}')
    plain = run(conformance, "logs", "conformance")
    dated = run(conformance, "logs", "conformance", "--with-timestamps")
    assert plain.exit_code == 0 and dated.exit_code == 0
    assert re.match(r"\d\d:\d\d:\d\d\.\d{3} ", plain.stdout)
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} ", dated.stdout)
    assert [ln.split(" ", 1)[1] for ln in dated.stdout.splitlines()] == plain.stdout.splitlines()


@pytest.fixture
def processes() -> Iterator[Callable[..., Process]]:
    started: list[Process] = []

    def start(api: object, *args: str) -> Process:
        started.append(Process(api, *args))  # type: ignore[arg-type]  # anything with .url
        return started[-1]

    yield start
    for proc in started:
        proc.kill()


@dataclass
class _Api:
    url: str
    requests: list[tuple[str, str]]


@pytest.fixture
def kernel_like_api() -> Iterator[_Api]:
    """A hosted-Kernel stand-in: an async invocation whose event stream stays open."""
    requests: list[tuple[str, str]] = []
    hold = threading.Event()
    invocation = {"id": "inv_held1", "app_name": "a", "action_name": "b", "status": "queued",
                  "started_at": "2026-01-02T15:04:05Z"}

    class Handler(http.server.BaseHTTPRequestHandler):
        def _send(self, status: int, body: bytes = b"", kind: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _record(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            requests.append((self.command, self.path.split("?")[0]))

        def do_POST(self) -> None:
            self._record()
            self._send(202, json.dumps(invocation).encode())

        def do_PATCH(self) -> None:
            self._record()
            self._send(200, json.dumps({**invocation, "status": "failed"}).encode())

        def do_DELETE(self) -> None:
            self._record()
            self._send(204)

        def do_GET(self) -> None:
            self._record()
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            line = {"event": "log", "timestamp": "2026-01-02T15:04:06Z", "message": "working"}
            self.wfile.write(f"data: {json.dumps(line)}\n\n".encode())
            self.wfile.flush()
            hold.wait(30)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield _Api(f"http://127.0.0.1:{server.server_address[1]}", requests)
    finally:
        hold.set()
        server.shutdown()
        server.server_close()


def test_ctrl_c_during_invoke_cancels_then_deletes_the_browsers(
        kernel_like_api: _Api, processes: Callable[..., Process]) -> None:
    proc = processes(kernel_like_api, "invoke", "a", "b")
    proc.wait_for("working")
    assert proc.interrupt() == 130
    assert "cancelled invocation inv_held1" in proc.seen["err"]
    assert kernel_like_api.requests[-2:] == [("PATCH", "/invocations/inv_held1"),
                                             ("DELETE", "/invocations/inv_held1/browsers")]
