"""Request bodies, slow clients, malformed input and large lists: bounded memory,
bounded time, and JSON 4xx answers, never 5xx."""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from .conftest import APPS, RunnerProcess, poll
from .helpers import runner_in_process

LIMIT = 13_500_000  # the JSON body limit: 3 × the 4.5 MB payload limit
UPLOAD_LIMIT = 200 * 1024 * 1024 + 1024 * 1024


@pytest.fixture
def runner(start_runner: Callable[..., RunnerProcess], app_copy: Callable[[str], Path]
           ) -> RunnerProcess:
    entry = app_copy("conformance_app.py")
    return start_runner(entry, cwd=entry.parent)


def address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def rss_kb(pid: int, field: str = "VmHWM") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def reset_peak(pid: int) -> int:
    """Reset the process's peak resident size to its current one (Linux), and return it."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return rss_kb(pid)


def established_to(port: int) -> int:
    """Open connections whose server side is on ``port`` (``/proc/net/tcp``: state 01)."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
            count += 1
    return count


def read_response(sock: socket.socket, timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def stream_until_answered(url: str, path: str, head: bytes, chunk: bytes, most: int
                          ) -> tuple[int, int, dict[str, str], bytes]:
    """Send a chunked body of up to ``most`` bytes until the runner answers.

    Returns how many body bytes were sent, and the answer's status, headers and body.
    """
    host, port = address(url)
    sock = socket.create_connection((host, port))
    try:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n".encode() + head
                     + b"Transfer-Encoding: chunked\r\n\r\n")
        sent = 0
        frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        while sent < most:
            readable, writable, _ = select.select([sock], [sock], [], 30)
            if readable:
                break
            assert writable, "the runner neither read nor answered for 30 s"
            try:
                sock.sendall(frame)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        status, headers, body = read_response(sock)
        return sent, status, headers, body
    finally:
        sock.close()


def test_a_declared_length_over_the_limit_is_refused_before_any_of_it_is_read(
        runner: RunnerProcess) -> None:
    assert runner.url is not None
    host, port = address(runner.url)
    for path, content_type, length in [
        ("/invocations", "application/json", 1 << 30),
        ("/invocations/nope", "application/json", LIMIT + 1),
        ("/deployments", "multipart/form-data; boundary=x", UPLOAD_LIMIT + 1),
    ]:
        with socket.create_connection((host, port)) as sock:
            method = "PATCH" if path == "/invocations/nope" else "POST"
            sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                         f"Content-Type: {content_type}\r\nContent-Length: {length}\r\n\r\n"
                         .encode())
            status, headers, body = read_response(sock)  # not a byte of the body sent
        assert status == 400, (path, body)
        answer = json.loads(body)
        assert answer["code"] == "bad_request" and "too large" in answer["message"]
        assert headers["x-should-retry"] == "false"


def test_a_chunked_gibibyte_is_cut_at_the_limit_and_memory_stays_bounded(
        runner: RunnerProcess) -> None:
    assert runner.url is not None
    before = reset_peak(runner.proc.pid)
    sent, status, _, body = stream_until_answered(
        runner.url, "/invocations", b"Content-Type: application/json\r\n",
        b" " * (1 << 20), 1 << 30)
    peak = rss_kb(runner.proc.pid)
    assert status == 400 and "too large" in json.loads(body)["message"], body
    assert sent < 1 << 28, f"the runner kept reading: {sent} bytes sent"
    grew = (peak - before) * 1024
    print(f"sent {sent / 1e6:.0f} MB; peak resident size grew {grew / 1e6:.1f} MB")
    assert grew < LIMIT + 4_000_000, f"resident memory grew {grew} bytes"
    with runner.client() as c:
        assert c.get("/health").status_code == 200


def test_a_chunked_upload_cannot_pass_the_deployment_cap(runner: RunnerProcess) -> None:
    assert runner.url is not None
    head = b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.zip"\r\n\r\n'
    sent, status, _, body = stream_until_answered(
        runner.url, "/deployments", b"Content-Type: multipart/form-data; boundary=x\r\n",
        head + b"\0" * ((4 << 20) - len(head)), 400 << 20)
    assert status == 400 and "too large" in json.loads(body)["message"], body
    assert UPLOAD_LIMIT <= sent < UPLOAD_LIMIT + (64 << 20), sent
    with runner.client() as c:
        assert c.get("/deployments").json() == []


def test_half_sent_requests_are_dropped_after_the_timeout(tmp_path: Path) -> None:
    with runner_in_process(tmp_path, body_timeout=1.0) as runner:
        host, port = "127.0.0.1", runner.port
        socks: list[tuple[str, socket.socket]] = []
        try:
            for i in range(500):
                sock = socket.create_connection((host, port))
                kind = ("silent", "half a head", "half a body")[i % 3]
                if kind == "half a head":
                    sock.sendall(f"GET /invocations HTTP/1.1\r\nHost: {host}:{port}\r\n".encode())
                elif kind == "half a body":
                    sock.sendall(f"POST /invocations HTTP/1.1\r\nHost: {host}:{port}\r\n"
                                 "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                                 '{"app_name": '.encode())
                socks.append((kind, sock))
            poll(lambda: established_to(port) >= 400, timeout=30)
            # The runner lets go of every one of them while the clients still hold on.
            poll(lambda: established_to(port) == 0, timeout=60, interval=0.1)
            for kind, sock in socks:
                sock.settimeout(10)
                data = b""
                try:
                    while chunk := sock.recv(65536):
                        data += chunk
                except ConnectionResetError:
                    pass
                if kind == "half a body":
                    assert data.startswith(b"HTTP/1.1 408 "), data[:200]
                    assert b'"request_timeout"' in data
                    assert data.lower().count(b"connection: close") == 1, data
                else:
                    assert data == b"", (kind, data[:200])
        finally:
            for _, sock in socks:
                sock.close()
        r = httpx.get(f"http://{host}:{port}/health", timeout=10)
        assert r.status_code == 200


def test_deep_json_huge_numbers_and_non_ascii_bytes_get_json_400s(
        runner: RunnerProcess) -> None:
    deep = "[" * 10_000 + "]" * 10_000
    with runner.client() as c:
        done = c.post("/invocations", json={"app_name": "conformance", "action_name": "echo"})
        inv_id = done.json()["id"]
        answers = [
            c.post("/invocations", content=deep.encode(),
                   headers={"Content-Type": "application/json"}),
            c.post("/invocations", content=('{"a":' + deep + "}").encode(),
                   headers={"Content-Type": "application/json"}),
            c.post("/invocations", json={"app_name": "conformance", "action_name": "echo",
                                         "payload": deep}),
            c.patch(f"/invocations/{inv_id}", json={"status": "failed", "output": deep}),
            c.get("/invocations", params={"since": "9" * 400}),
            c.get(f"/invocations/{inv_id}/events", params={"since": "9" * 400}),
            c.get("/invocations", params={"since": "9" * 400 + "h"}),
            c.get("/invocations", params={"detail": "everything"}),
            # A duration reaching back past what a time can be, like the others.
            c.get("/invocations", params={"since": "99999999999999999999d"}),
            c.get(f"/invocations/{inv_id}/events", params={"since": "999999d"}),
        ]
        for r in answers:
            assert r.status_code == 400, (r.request.url, r.text)
            assert r.json()["code"] == "bad_request" and r.json()["message"]
            assert r.headers["x-should-retry"] == "false"
        assert "deep" in answers[0].json()["message"]
        assert "too large" in answers[4].json()["message"]
        assert "too large" in answers[-2].json()["message"]
        assert "too large" in answers[-1].json()["message"]
    assert "internal error" not in runner.output

    assert runner.url is not None
    host, port = address(runner.url)
    for raw in [b"GET /invocations/caf\xc3\xa9 HTTP/1.1\r\nHost: %s\r\n\r\n",
                b"GET /invocations HTTP/1.1\r\nHost: %s\r\nX-Caf\xc3\xa9: 1\r\n\r\n",
                b"GET /invocations HTTP/1.1\r\nHost: %s\r\nBad header\r\n\r\n"]:
        with socket.create_connection((host, port)) as sock:
            sock.sendall(raw % f"{host}:{port}".encode())
            status, headers, body = read_response(sock)
        assert status == 400 and headers["content-type"] == "application/json", body
        assert json.loads(body)["code"] == "bad_request"
        assert "ASCII" in json.loads(body)["message"]


def test_answers_a_retry_cannot_change_say_so_and_the_sdk_obeys(runner: RunnerProcess) -> None:
    from kernel import ConflictError, Kernel, NotFoundError

    assert runner.url is not None
    requests: list[str] = []
    http = httpx.Client(event_hooks={"request": [lambda r: requests.append(r.method)]})
    client = Kernel(base_url=runner.url, api_key="local", max_retries=2, http_client=http)
    inv = client.invocations.create(app_name="conformance", action_name="echo",
                                    version="latest", payload="{}")
    requests.clear()
    with pytest.raises(ConflictError):
        client.invocations.update(inv.id, status="failed")
    with pytest.raises(NotFoundError):
        client.invocations.retrieve("nope")
    assert requests == ["PATCH", "GET"], "the SDK retried an answer that can't change"
    with runner.client() as c:
        assert "x-should-retry" not in c.get("/health").headers
        r = c.get("/invocations?limit=0")
        assert r.status_code == 400 and r.headers["x-should-retry"] == "false"


def test_a_retried_synchronous_invocation_is_reported_with_the_client_timeout(
        runner: RunnerProcess) -> None:
    from kernel import APITimeoutError, Kernel

    assert runner.url is not None
    client = Kernel(base_url=runner.url, api_key="local", max_retries=1, timeout=1.0)
    with pytest.raises(APITimeoutError):
        client.invocations.create(app_name="conformance", action_name="sleep",
                                  version="latest", payload="3")
    line = runner.wait_line("retried a synchronous invocation")
    assert "read timeout is 1.0 s" in line and "async" in line
    # Both attempts ran: that is what the warning is about.
    with runner.client() as c:
        assert len(c.get("/invocations").json()) == 2


def test_large_lists_stream_with_bounded_memory_and_summaries_skip_outputs(
        start_runner: Callable[..., RunnerProcess], tmp_path: Path) -> None:
    folder = tmp_path / "hostile"
    folder.mkdir()
    (folder / "main.py").write_text((APPS / "hostile_app.py").read_text())
    runner = start_runner(folder / "main.py", cwd=folder)
    rows, size = 40, 3_000_000
    assert runner.url is not None
    with httpx.Client(base_url=runner.url, timeout=120) as c:
        for _ in range(rows):
            r = c.post("/invocations", json={"app_name": "hostile", "action_name": "huge",
                                             "payload": str(size)})
            assert r.json()["status"] == "succeeded", r.text[:300]

        def listing_growth(limit: int) -> tuple[int, int]:
            """Bytes listed, and how much the runner's peak resident size grew meanwhile."""
            before = reset_peak(runner.proc.pid)
            total = 0
            with c.stream("GET", "/invocations", params={"limit": limit}) as r:
                assert r.status_code == 200
                for chunk in r.iter_bytes():
                    total += len(chunk)
            return total, (rss_kb(runner.proc.pid) - before) * 1024

        one_row, grew_one = listing_growth(1)
        total, grew = listing_growth(100)
        print(f"listed {total / 1e6:.0f} MB: peak resident size grew {grew / 1e6:.1f} MB "
              f"(one row of {one_row / 1e6:.0f} MB: {grew_one / 1e6:.1f} MB)")
        assert total > rows * size
        # Built whole, the answer would cost three times its size (rows, text, bytes);
        # streamed, it costs about what a single row does.
        assert grew < min(grew_one + 4 * size, total / 4), f"listing {total} bytes grew the runner {grew} bytes"

        full = c.get("/invocations", params={"limit": 3, "detail": "1"})
        assert [len(row["output"]) for row in full.json()] == [size + 2] * 3
        summary = c.get("/invocations", params={"limit": 3, "detail": "summary"})
        assert summary.headers["x-has-more"] == "true"
        assert [row["id"] for row in summary.json()] == [row["id"] for row in full.json()]
        for row in summary.json():
            assert "output" not in row and "payload" not in row
            assert row["status"] == "succeeded" and "code_generation" in row
        assert len(summary.content) < 5_000


def test_a_kept_alive_connection_gets_the_whole_head_timeout_for_each_request(
        tmp_path: Path) -> None:
    """The head deadline runs from the end of the previous answer, not from when the
    connection opened: a client that pauses before and between requests is not cut short,
    and one that stalls in a head is still dropped."""
    with runner_in_process(tmp_path, body_timeout=1.0) as runner:
        host, port = "127.0.0.1", runner.port
        with socket.create_connection((host, port)) as sock:
            sock.settimeout(30)
            time.sleep(0.6)  # the client thinks before its first request...
            sock.sendall(f"GET /health HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
            status, _, _ = read_response(sock)
            answered = time.monotonic()
            assert status == 200
            time.sleep(0.6)  # ...and between requests, then stalls in the second head
            sock.sendall(f"GET /health HTTP/1.1\r\nHost: {host}:{port}\r\n".encode())
            assert sock.recv(65536) == b""  # dropped, unanswered...
            assert time.monotonic() - answered >= 0.95  # ...a full second after the answer
