"""The REPL, telemetry and WebMCP endpoints under the front door's rules, tried from the
outside: no key where one is set, a cross-site Origin, a body over the limit, a body that is
not JSON, a REPL DevTools URL without its token. Every refusal is a JSON 4xx, never a 5xx."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from .conftest import NEEDS_CHROMIUM, RunnerProcess
from .helpers import serve_runner

pytestmark = [NEEDS_CHROMIUM]
KEY = "k3y"
AUTH = {"Authorization": f"Bearer {KEY}"}
ENDPOINTS = [("POST", "/repl"), ("GET", "/telemetry/events"), ("GET", "/telemetry/stream"),
             ("GET", "/webmcp/tools"), ("POST", "/webmcp/invoke"),
             ("GET", "/webmcp/custom-tools"), ("POST", "/webmcp/custom-tools"),
             ("DELETE", "/webmcp/custom-tools/cust_x")]
POSTED = [path for method, path in ENDPOINTS if method == "POST"]


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunnerProcess]:
    with serve_runner(tmp_path_factory.mktemp("guard"), "--api-key", KEY) as proc:
        yield proc


@pytest.fixture(scope="module")
def browser(runner: RunnerProcess) -> Iterator[str]:
    with runner.client(headers=AUTH) as c:
        r = c.post("/browsers", json={"timeout_seconds": 600})
        assert r.status_code == 200, r.text
        browser_id = r.json()["session_id"]
        yield browser_id
        c.delete(f"/browsers/{browser_id}")


def refused(r: httpx.Response, *statuses: int) -> dict[str, str]:
    assert r.status_code in statuses, (r.request.method, r.request.url, r.status_code, r.text)
    body = r.json()
    assert isinstance(body.get("code"), str) and isinstance(body.get("message"), str)
    return body


def test_no_key_and_a_cross_site_origin_are_refused(runner: RunnerProcess, browser: str) -> None:
    with runner.client() as c:
        for method, path in ENDPOINTS:
            url = f"/browsers/{browser}{path}"
            body = {"code": "1"} if method == "POST" else None
            refused(c.request(method, url, json=body), 401)
            refused(c.request(method, url, json=body, headers={**AUTH, "Authorization":
                                                               "Bearer wrong"}), 401)
            refused(c.request(method, url, json=body, headers={
                **AUTH, "Origin": "https://evil.example"}), 403)


def test_bodies_over_the_limit_or_not_json_get_a_json_4xx(runner: RunnerProcess,
                                                          browser: str) -> None:
    huge = b'{"code": "' + b"x" * (20 * 1024 * 1024) + b'"}'
    with runner.client(headers=AUTH) as c:
        for path in POSTED:
            url = f"/browsers/{browser}{path}"
            refused(c.post(url, content=huge, headers={"Content-Type": "application/json"}),
                    400, 413)
            refused(c.post(url, content=b"{not json", headers={
                "Content-Type": "application/json"}), 400)
            refused(c.post(url, content=b'["a list"]', headers={
                "Content-Type": "application/json"}), 400)
            refused(c.post(url, content=b"code=1", headers={
                "Content-Type": "application/x-www-form-urlencoded"}), 400, 415)
        refused(c.post(f"/browsers/{browser}/repl", json={"code": 5}), 400)
        refused(c.post(f"/browsers/{browser}/webmcp/custom-tools",
                       json={"namespace": "bad name!", "source": "[]"}), 400)
        refused(c.get(f"/browsers/{browser}/telemetry/events", params={"limit": "0"}), 400)
        refused(c.get(f"/browsers/{browser}/telemetry/events", params={"since": "soon"}), 400)
        refused(c.get(f"/browsers/{browser}/telemetry/stream",
                      headers={"Last-Event-ID": "x1"}), 400)
        refused(c.post("/browsers/none/repl", json={"code": "1"}), 404)


def test_the_repl_devtools_url_needs_its_token(runner: RunnerProcess, browser: str) -> None:
    assert runner.url is not None
    base = "ws" + runner.url.removeprefix("http") + f"/browsers/{browser}/repl/cdp/"
    with httpx.Client(base_url=runner.url, headers=AUTH, timeout=120) as c:
        assert c.post(f"/browsers/{browser}/repl", json={"code": "repl.write(1)"}).json()[
            "success"]
    for token in ("wrong", "x" * 43):
        with pytest.raises((InvalidStatus, ConnectionClosed)), connect(
                base + token, open_timeout=20) as ws:
            ws.send('{"id": 1, "method": "Browser.getVersion"}')
            ws.recv(timeout=10)
