"""The rest of a browser's session API through the official Python SDK: ``update``
(PATCH), listing deleted browsers, ``logs.stream`` and ``curl``."""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kernel import BadRequestError, ConflictError, Kernel, NotFoundError

from .conftest import BROWSER_MARKS
from .helpers import RunnerProcess, http_server, serving

pytestmark = BROWSER_MARKS


@pytest.fixture
def k(start_runner: Callable[..., RunnerProcess]) -> Kernel:
    runner = start_runner(None, command="serve")
    return Kernel(base_url=runner.url, api_key="local", max_retries=0)


def test_update_renames_retags_and_navigates(k: Kernel) -> None:
    from playwright.sync_api import sync_playwright

    one = k.browsers.create(name="one", tags={"team": "qa"}, timeout_seconds=60)
    k.browsers.create(name="two", timeout_seconds=60)
    updated = k.browsers.update(one.session_id, name="renamed", tags={"env": "dev"})
    assert updated.name == "renamed" and updated.tags == {"env": "dev"}
    assert k.browsers.retrieve("renamed").session_id == one.session_id
    with pytest.raises(NotFoundError):
        k.browsers.retrieve("one")
    assert [b.session_id for b in k.browsers.list(tags={"env": "dev"})] == [one.session_id]
    with pytest.raises(ConflictError):
        k.browsers.update(one.session_id, name="two")
    with pytest.raises(BadRequestError):
        k.browsers.update(one.session_id, tags={"n": 1})  # type: ignore[dict-item]
    with pytest.raises(BadRequestError):
        k.browsers.update(one.session_id, profile={"name": "p"})
    # A bad field changes nothing.
    assert k.browsers.retrieve(one.session_id).name == "renamed"
    # timeout_seconds (a local extra) and clearing name and tags.
    cleared = k.browsers.update(one.session_id, name="", tags={},
                                extra_body={"timeout_seconds": 120})
    assert cleared.name is None and cleared.tags is None and cleared.timeout_seconds == 120

    with http_server(lambda path: (200, "text/html", b"<title>Moved</title>")) as url:
        k.browsers.update(one.session_id, start_url=url + "/")
        with sync_playwright() as pw:
            chromium = pw.chromium.connect_over_cdp(one.cdp_ws_url)
            page = chromium.contexts[0].pages[0]
            page.wait_for_function("document.title === 'Moved'", timeout=20_000)
            chromium.close()


def test_deleted_browsers_are_listed_with_deleted_at(k: Kernel) -> None:
    gone = k.browsers.create(name="gone", timeout_seconds=60)
    kept = k.browsers.create(timeout_seconds=60)
    k.browsers.delete_by_id(gone.session_id)
    active = [b.session_id for b in k.browsers.list()]
    assert active == [kept.session_id]
    deleted = k.browsers.list(status="deleted").items
    assert [b.session_id for b in deleted] == [gone.session_id]
    assert deleted[0].deleted_at is not None and deleted[0].name == "gone"
    everything = k.browsers.list(include_deleted=True).items
    assert {b.session_id for b in everything} == {gone.session_id, kept.session_id}
    assert {b.session_id for b in k.browsers.list(status="all", query="gone")} == {
        gone.session_id}
    assert next(b for b in everything if b.session_id == kept.session_id).deleted_at is None


def test_logs_stream_reads_a_file_and_chromium_output(k: Kernel, tmp_path: Path) -> None:
    browser = k.browsers.create(timeout_seconds=60)
    bid = browser.session_id
    k.browsers.fs.write_file(bid, b"first line\nsecond line\nno newline", path="/var/app.log")
    lines = [e.message for e in k.browsers.logs.stream(bid, source="path", path="/var/app.log")]
    assert lines == ["first line", "second line", "no newline"]
    assert all(e.event == "log" for e in k.browsers.logs.stream(
        bid, source="supervisor", supervisor_process="chromium"))
    with pytest.raises(NotFoundError):
        list(k.browsers.logs.stream(bid, source="supervisor", supervisor_process="nginx"))
    with pytest.raises(NotFoundError):
        list(k.browsers.logs.stream(bid, source="path", path="/no/file"))
    with pytest.raises(BadRequestError):
        list(k.browsers.logs.stream(bid, source="bogus"))  # type: ignore[arg-type]

    # follow: lines appended later arrive on the open stream.
    seen: list[str] = []
    stream = k.browsers.logs.stream(bid, source="path", path="/var/app.log", follow=True)
    iterator = iter(stream)
    for _ in range(2):  # the unfinished last line waits for its end
        seen.append(next(iterator).message)
    assert seen == ["first line", "second line"]
    with open(tmp_path / "data" / "browsers" / bid / "fs" / "var" / "app.log", "ab") as f:
        f.write(b"\nappended\n")
    seen += [next(iterator).message, next(iterator).message]
    assert seen[2:] == ["no newline", "appended"]
    stream.response.close()


@contextlib.contextmanager
def echo_server() -> Iterator[str]:
    """Answers every request with what it got: method, path, headers and body, as JSON;
    ``/redirect`` redirects to ``/final``."""

    class Echo(http.server.BaseHTTPRequestHandler):
        def answer(self) -> None:
            if self.path == "/redirect":
                self.send_response(302)
                self.send_header("Location", "/final")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            length = int(self.headers.get("Content-Length") or 0)
            got = {"method": self.command, "path": self.path,
                   "headers": {k.lower(): v for k, v in self.headers.items()},
                   "body": self.rfile.read(length).decode()}
            data = json.dumps(got).encode()
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("X-Multi", "a")
            self.send_header("X-Multi", "b")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serving(Echo) as url:
        yield url


def test_curl_is_made_by_the_browser_with_its_cookies(k: Kernel) -> None:
    from playwright.sync_api import sync_playwright

    browser = k.browsers.create(timeout_seconds=60)
    bid = browser.session_id
    with echo_server() as url:
        with sync_playwright() as pw:  # a cookie set in the browser beforehand
            chromium = pw.chromium.connect_over_cdp(browser.cdp_ws_url)
            chromium.contexts[0].add_cookies([{"name": "sid", "value": "s3", "url": url}])
            chromium.close()
        got = k.browsers.curl(bid, url=url + "/api?q=1", method="POST", body='{"a": 1}',
                              headers={"X-Custom": "yes", "Content-Type": "application/json"})
        assert got.status == 201 and got.duration_ms >= 0
        assert got.headers["X-Multi"] == ["a", "b"]
        echoed = json.loads(got.body)
        assert echoed["method"] == "POST" and echoed["path"] == "/api?q=1"
        assert echoed["body"] == '{"a": 1}'
        assert echoed["headers"]["x-custom"] == "yes"
        assert "sid=s3" in echoed["headers"].get("cookie", "")
        assert "Chrome" in echoed["headers"]["user-agent"]
        # Redirects are followed; base64 for binary bodies; HEAD has none.
        final = k.browsers.curl(bid, url=url + "/redirect", response_encoding="base64")
        assert json.loads(base64.b64decode(final.body))["path"] == "/final"
        assert k.browsers.curl(bid, url=url + "/", method="HEAD").body == ""
        # Nothing is listening: a clear 4xx, not a 5xx.
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            closed = sock.getsockname()[1]
        with pytest.raises(BadRequestError) as failed:
            k.browsers.curl(bid, url=f"http://127.0.0.1:{closed}/")
        assert "ConnectionRefused" in str(failed.value.body)
        with pytest.raises(BadRequestError):
            k.browsers.curl(bid, url="file:///etc/passwd")
    # No tab is left behind.
    with sync_playwright() as pw:
        chromium = pw.chromium.connect_over_cdp(browser.cdp_ws_url)
        assert len(chromium.contexts[0].pages) == 1
        chromium.close()
