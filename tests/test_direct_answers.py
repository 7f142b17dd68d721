"""``POST /invocations`` answered right from the connection (no ASGI cycle): the same
answers as the ASGI path, over raw sockets that split, pipeline, close and stall."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from kernel_actions.runner.config import Config
from kernel_actions.runner.server import Runner

from .conftest import RunnerProcess, poll

ECHO = json.dumps({"app_name": "conformance", "action_name": "echo",
                   "payload": json.dumps({"n": 1})}).encode()


def request(host: str, body: bytes = ECHO, *, target: str = "/invocations",
            version: str = "1.1", headers: str = "") -> bytes:
    return (f"POST {target} HTTP/{version}\r\nHost: {host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"{headers}\r\n").encode() + body


@contextmanager
def connection(runner: RunnerProcess) -> Iterator[tuple[socket.socket, str]]:
    assert runner.url is not None
    host = runner.url.removeprefix("http://")
    name, port = host.rsplit(":", 1)
    sock = socket.create_connection((name, int(port)), timeout=30)
    try:
        yield sock, host
    finally:
        sock.close()


class Reader:
    """HTTP/1.1 answers read off a socket, one at a time."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.data = b""

    def _more(self) -> bool:
        chunk = self.sock.recv(65536)
        self.data += chunk
        return bool(chunk)

    def answer(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.data:
            assert self._more(), f"connection closed mid-head: {self.data!r}"
        head, self.data = self.data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            assert name.lower() not in headers, f"{name} twice in {head!r}"
            headers[name.lower()] = value.strip()
        if status < 200:
            return status, headers, b""
        length = int(headers["content-length"])
        while len(self.data) < length:
            assert self._more(), "connection closed mid-body"
        body, self.data = self.data[:length], self.data[length:]
        return status, headers, body

    def closed(self) -> bool:
        """True once the runner closed the connection (nothing more follows)."""
        return not self._more() and self.data == b""


def test_the_answer_matches_the_asgi_paths_header_for_header(
        conformance: RunnerProcess) -> None:
    with connection(conformance) as (sock, host):
        reader = Reader(sock)
        sock.sendall(request(host))
        direct = reader.answer()
        # A query string sends the same request the ASGI way (the route ignores it).
        sock.sendall(request(host, target="/invocations?via=asgi"))
        routed = reader.answer()
    for status, _, body in (direct, routed):
        assert status == 200
        answer = json.loads(body)
        assert answer["status"] == "succeeded" and json.loads(answer["output"]) == {"n": 1}
    assert direct[1].keys() == routed[1].keys()
    assert direct[1]["content-type"] == routed[1]["content-type"] == "application/json"


def test_a_request_in_pieces_and_pipelined_requests_are_answered_in_order(
        conformance: RunnerProcess) -> None:
    with connection(conformance) as (sock, host):
        reader = Reader(sock)
        whole = request(host)
        head, body = whole.split(b"\r\n\r\n", 1)
        for piece in (head[:20], head[20:] + b"\r\n\r\n", body[:7], body[7:]):
            sock.sendall(piece)
        status, _, answer = reader.answer()
        assert status == 200 and json.loads(answer)["status"] == "succeeded"
        payloads = [json.dumps({"n": i}) for i in range(5)]
        sock.sendall(b"".join(
            request(host, json.dumps({"app_name": "conformance", "action_name": "echo",
                                      "payload": p}).encode()) for p in payloads))
        outputs = [json.loads(reader.answer()[2])["output"] for _ in payloads]
        assert [json.loads(o) for o in outputs] == [json.loads(p) for p in payloads]


@pytest.mark.parametrize("how", ["connection: close", "HTTP/1.0"])
def test_an_answer_that_ends_the_connection_closes_it(conformance: RunnerProcess,
                                                     how: str) -> None:
    with connection(conformance) as (sock, host):
        reader = Reader(sock)
        if how == "HTTP/1.0":
            sock.sendall(request(host, version="1.0"))
        else:
            sock.sendall(request(host, headers="Connection: close\r\n"))
        status, headers, _ = reader.answer()
        assert status == 200 and headers.get("connection") == "close"
        assert reader.closed()


def test_errors_are_json_and_keep_the_connection(conformance: RunnerProcess) -> None:
    with connection(conformance) as (sock, host):
        reader = Reader(sock)
        for body, status, code in (
            (b"{not json", 400, "bad_request"),
            (json.dumps({"app_name": "nope", "action_name": "echo"}).encode(), 404,
             "not_found"),
            (json.dumps({"app_name": "conformance", "action_name": "echo",
                         "payload": '"\\ud800"'}).encode(), 400, "bad_request"),
        ):
            sock.sendall(request(host, body))
            got, headers, answer = reader.answer()
            assert got == status, answer
            assert json.loads(answer)["code"] == code
            assert headers["x-should-retry"] == "false"
        sock.sendall(request(host))
        assert reader.answer()[0] == 200


def test_a_client_gone_mid_invocation_costs_nothing_else(conformance: RunnerProcess) -> None:
    body = json.dumps({"app_name": "conformance", "action_name": "sleep",
                       "payload": "0.5"}).encode()
    with connection(conformance) as (sock, host):
        sock.sendall(request(host, body))
        with conformance.client() as c:
            poll(lambda: c.get("/invocations", params={"action_name": "sleep",
                                                       "status": "running"}).json())
    # The socket is gone; the invocation still ends, recorded, and the runner answers.
    with conformance.client() as c:
        done = poll(lambda: c.get("/invocations", params={"action_name": "sleep",
                                                          "status": "succeeded"}).json())
        assert isinstance(done, list) and len(done) == 1
    with connection(conformance) as (sock, host):
        sock.sendall(request(host))
        assert Reader(sock).answer()[0] == 200


@pytest.mark.parametrize("headers, status, code", [
    ("Origin: http://evil.example\r\n", 403, "forbidden"),
    ("Sec-Fetch-Site: cross-site\r\n", 403, "forbidden"),
    ("Expect: 100-continue\r\n", 200, None),
])
def test_the_front_doors_rules_hold_on_this_path(conformance: RunnerProcess, headers: str,
                                                 status: int, code: str | None) -> None:
    with connection(conformance) as (sock, host):
        reader = Reader(sock)
        sock.sendall(request(host, headers=headers))
        got, _, answer = reader.answer()
        while got == 100:  # Expect: the ASGI path says "100 Continue" first
            got, _, answer = reader.answer()
        assert got == status, answer
        if code is not None:
            assert json.loads(answer)["code"] == code
    with connection(conformance) as (sock, _):
        reader = Reader(sock)
        # A foreign Host (DNS rebinding), a body that isn't JSON, a declared length
        # over the limit: each refused as on every other route.
        for raw, status in (
            (request("evil.example:80"), 403),
            (request(host).replace(b"application/json", b"text/plain"), 415),
            (request(host).replace(f"Content-Length: {len(ECHO)}".encode(),
                                   b"Content-Length: 99999999"), 400),
        ):
            sock2 = socket.create_connection(sock.getpeername(), timeout=30)
            try:
                sock2.sendall(raw)
                assert Reader(sock2).answer()[0] == status
            finally:
                sock2.close()


def test_only_requests_every_rule_lets_through_take_this_path(tmp_path: Path) -> None:
    runner = Runner(Config(entrypoint=None, port=8000, api_key="sekret",
                           data_dir=tmp_path / "data"))
    runner.port = 8000
    try:
        door = runner.api().door
        assert door is not None

        def scope(method: str = "POST", path: str = "/invocations",
                  **headers: str) -> dict[str, object]:
            given = {"host": "127.0.0.1:8000", "content-type": "application/json",
                     "content-length": "10", "authorization": "Bearer sekret",
                     **{k.replace("_", "-"): v for k, v in headers.items()}}
            return {"type": "http", "method": method, "path": path,
                    "headers": [(k.encode(), v.encode()) for k, v in given.items() if v]}

        assert door.direct_for(scope()) is not None
        for refused in (
            scope(host="evil.example:8000"),
            scope(origin="http://evil.example"),
            scope(sec_fetch_site="cross-site"),
            scope(content_type="text/plain"),
            scope(content_length=""),  # chunked: counted on the way in, the ASGI way
            scope(content_length=str(14_000_000)),
            scope(authorization=""),
            scope(authorization="Bearer wrong"),
            scope(method="GET"),
            scope(path="/invocations/abc"),
            scope(path="/deployments"),
        ):
            assert door.direct_for(refused) is None, refused
    finally:
        runner.store.close()
