"""Who may talk to the runner: Host, Origin, Sec-Fetch-Site and content-type rules,
tried on every route the app serves (read from the app itself, so a route added
later is covered without touching this file)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.routing import Mount, Route, WebSocketRoute

from kernel_actions.runner.config import Config, ConfigError
from kernel_actions.runner.http.security import HostPolicy, split_host
from kernel_actions.runner.http.unavailable import UnavailableRoutes
from kernel_actions.runner.server import Runner

from .conftest import APPS, RunnerProcess

BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def app_routes(tmp_path: Path) -> list[tuple[str, str]]:
    """Every ``(method, path)`` the runner's app serves, path parameters filled in."""
    runner = Runner(Config(entrypoint=None, data_dir=tmp_path / "routes-data"))
    try:
        app = runner.api()
        found: list[tuple[str, str]] = []
        # The 501s for Kernel's endpoints not served here are one route holding the table.
        routes = [inner for route in app.routes for inner in (
            route.routes if isinstance(route, UnavailableRoutes) else [route])]
        for route in routes:
            if isinstance(route, Route):
                path = re.sub(r"\{[^}]*\}", "nope", route.path_format)
                found += [(m, path) for m in sorted(route.methods or ()) if m != "HEAD"]
            elif isinstance(route, Mount):
                found.append(("GET", route.path + "/app.js"))
            elif isinstance(route, WebSocketRoute):
                continue  # upgrades: test_browser_cdp tries Host, Origin and key on them
            else:
                raise AssertionError(f"a route of an unknown kind: {route!r}")
    finally:
        runner.store.close()
    assert len(found) >= 20 and ("POST", "/deployments") in found
    return found


@pytest.fixture
def runner(start_runner: Callable[..., RunnerProcess], app_copy: Callable[[str], Path]
           ) -> RunnerProcess:
    entry = app_copy("conformance_app.py")
    return start_runner(entry, cwd=entry.parent)


@pytest.fixture
def routes(tmp_path: Path) -> list[tuple[str, str]]:
    return app_routes(tmp_path)


def port_of(runner: RunnerProcess) -> int:
    assert runner.url is not None
    return int(runner.url.rsplit(":", 1)[1])


def no_invocations(runner: RunnerProcess) -> None:
    with runner.client() as c:
        assert c.get("/invocations").json() == []
        assert c.get("/deployments").json() == []
        assert c.get("/browsers").json() == []


def assert_refused(r: httpx.Response, status: int, code: str, what: str) -> None:
    assert r.status_code == status, (what, r.status_code, r.text)
    body = r.json()
    assert body["code"] == code and body["message"], (what, body)
    assert r.headers["x-should-retry"] == "false", what
    assert not any(k.lower().startswith("access-control-") for k in r.headers), what


def body_for(method: str, path: str) -> bytes:
    if method in BODY_METHODS:
        return json.dumps({"app_name": "conformance", "action_name": "echo",
                           "payload": "{}", "status": "failed"}).encode()
    return b""


def test_every_route_refuses_a_host_that_does_not_name_the_runner(
        runner: RunnerProcess, routes: list[tuple[str, str]]) -> None:
    port = port_of(runner)
    hosts = [f"evil.example:{port}", "evil.example", f"127.0.0.1:{port + 1}",
             f"localhost.evil.example:{port}", f"127.0.0.1.nip.io:{port}", "", "a b",
             f"[::2]:{port}"]
    with runner.client() as c:
        for method, path in routes:
            for host in hosts:
                r = c.request(method, path, content=body_for(method, path),
                              headers={"Host": host, "Content-Type": "application/json"})
                assert_refused(r, 403, "forbidden", f"{method} {path} Host {host!r}")
                if host:
                    assert "--allowed-host" in r.json()["message"]
    no_invocations(runner)


def test_every_route_refuses_other_origins_and_cross_site_fetches(
        runner: RunnerProcess, routes: list[tuple[str, str]]) -> None:
    port = port_of(runner)
    foreign = [
        {"Origin": "http://evil.example"},
        {"Origin": f"http://127.0.0.1:{port + 1}"},  # another port of the same host
        {"Origin": f"https://evil.example:{port}"},
        {"Origin": "null"},  # sandboxed frames, file:// pages
        {"Origin": f"http://127.0.0.1:{port}/path"},
        {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"},
        {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "cors"},
        {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate",
         "Sec-Fetch-Dest": "iframe"},
    ]
    with runner.client() as c:
        for method, path in routes:
            for headers in foreign:
                r = c.request(method, path, content=body_for(method, path),
                              headers={**headers, "Content-Type": "application/json"})
                assert_refused(r, 403, "forbidden", f"{method} {path} {headers}")
                assert "Origin" in r.json()["message"] or "cross-site" in r.json()["message"]
    no_invocations(runner)


def test_request_bodies_must_be_json_except_on_uploads(
        runner: RunnerProcess, routes: list[tuple[str, str]]) -> None:
    form_types = ["text/plain", "application/x-www-form-urlencoded", None,
                  "multipart/form-data; boundary=x", "application/jsonx", "text/json"]
    with runner.client() as c:
        for method, path in routes:
            # Uploads: a deployment's zip, and files into a browser's file system.
            upload = (method, path) in (("POST", "/deployments"), ("POST", "/extensions")) or (
                method in ("POST", "PUT") and path.endswith(
                    ("/fs/upload", "/fs/upload_zip", "/fs/write_file", "/extensions")))
            for content_type in form_types:
                if upload and content_type and content_type.startswith("multipart/"):
                    continue
                headers = {"Content-Type": content_type} if content_type else {}
                if content_type == CURL_FORM:  # from a browser: curl's is taken (below)
                    headers.update(BROWSER)
                r = c.request(method, path, content=body_for(method, path) or b"{}",
                              headers=headers)
                assert_refused(r, 415, "unsupported_media_type",
                               f"{method} {path} {content_type}")
        # A JSON body with a charset is fine; so is a multipart upload (refused here for
        # what it holds, not for its type).
        r = c.post("/invocations", content=b'{"app_name": "conformance", "action_name": "echo"}',
                   headers={"Content-Type": "application/json; charset=utf-8"})
        assert r.status_code == 200, r.text
        r = c.post("/deployments", files={"file": ("x.zip", b"not a zip")})
        assert r.status_code == 400 and "zip" in r.json()["message"], r.text
        assert len(c.get("/invocations").json()) == 1


CURL_FORM = "application/x-www-form-urlencoded"
#: What every browser adds to a post a page makes (fetch, XHR or a form).
BROWSER = {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "no-cors",
           "Sec-Fetch-Dest": "empty"}


def test_curl_d_json_is_taken_from_tools_but_not_from_browsers(runner: RunnerProcess) -> None:
    """``curl -d '{...}'`` sends the JSON form-encoded: taken from a client that sends no
    ``Origin`` and no ``Sec-Fetch-*`` header, refused (415) when either says a browser."""
    body = b'{"app_name": "conformance", "action_name": "echo", "payload": "{\\"n\\": 1}"}'
    own = f"http://127.0.0.1:{port_of(runner)}"
    with runner.client() as c:
        r = c.post("/invocations", content=body, headers={"Content-Type": CURL_FORM})
        assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text
        for browser in (BROWSER, {"Sec-Fetch-Mode": "cors"}, {"Sec-Fetch-Dest": "empty"},
                        {"Origin": own}):
            r = c.post("/invocations", content=body,
                       headers={"Content-Type": CURL_FORM, **browser})
            assert_refused(r, 415, "unsupported_media_type", f"{browser}")
        r = c.post("/invocations", content=b"a=b", headers={"Content-Type": CURL_FORM})
        assert r.status_code == 400 and r.json()["code"] == "bad_request", r.text
        assert len(c.get("/invocations").json()) == 1


def test_options_is_refused_and_no_cors_is_ever_granted(
        runner: RunnerProcess, routes: list[tuple[str, str]]) -> None:
    port = port_of(runner)
    with runner.client() as c:
        for method, path in routes:
            for origin in (f"http://127.0.0.1:{port}", "http://evil.example"):
                r = c.options(path, headers={
                    "Origin": origin, "Access-Control-Request-Method": method,
                    "Access-Control-Request-Headers": "content-type"})
                assert_refused(r, 403, "forbidden", f"OPTIONS {path} from {origin}")
            r = c.options(path)
            assert_refused(r, 403, "forbidden", f"OPTIONS {path}")
        r = c.get("/invocations", headers={"Origin": f"http://127.0.0.1:{port}"})
        assert r.status_code == 200
        assert not any(k.lower().startswith("access-control-") for k in r.headers)


def test_the_runner_own_names_and_origins_and_server_side_clients_pass(
        runner: RunnerProcess) -> None:
    port = port_of(runner)
    with runner.client() as c:
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}",
                     f"LOCALHOST:{port}", f"localhost.:{port}", None):
            headers = {"Host": host} if host is not None else {}
            r = c.get("/apps", headers=headers)
            assert r.status_code == 200, (host, r.text)
        for origin in (f"http://127.0.0.1:{port}", f"http://localhost:{port}",
                       f"http://[::1]:{port}"):
            r = c.post("/invocations", headers={"Origin": origin, "Sec-Fetch-Site": "same-origin"},
                       json={"app_name": "conformance", "action_name": "echo",
                             "payload": "{\"from\": \"dashboard\"}"})
            assert r.status_code == 200 and r.json()["status"] == "succeeded", (origin, r.text)
        # A link to the dashboard followed from another site: a top-level navigation.
        r = c.get("/", headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate",
                                "Sec-Fetch-Dest": "document"})
        assert r.status_code == 200 and "text/html" in r.headers["content-type"]

    from kernel import Kernel

    assert runner.url is not None
    client = Kernel(base_url=runner.url, api_key="local", max_retries=0)
    created = client.invocations.create(app_name="conformance", action_name="echo", version="latest",
                                        payload="{\"sdk\": 1}")
    assert created.status == "succeeded"
    assert json.loads(client.invocations.retrieve(created.id).output or "") == {"sdk": 1}


def test_allowed_host_opens_the_runner_to_a_name_on_purpose(
        start_runner: Callable[..., RunnerProcess], app_copy: Callable[[str], Path]) -> None:
    entry = app_copy("conformance_app.py")
    runner = start_runner(entry, "--allowed-host", "dev.example",
                          "--allowed-host", "proxy.example:8443", cwd=entry.parent)
    port = port_of(runner)
    with runner.client() as c:
        for host in (f"dev.example:{port}", "dev.example", "dev.example:1", "proxy.example:8443"):
            assert c.get("/apps", headers={"Host": host}).status_code == 200, host
        for host in (f"proxy.example:{port}", "proxy.example", "evil.example"):
            assert_refused(c.get("/apps", headers={"Host": host}), 403, "forbidden", host)
        r = c.get("/apps", headers={"Origin": "https://proxy.example:8443"})
        assert r.status_code == 200
        assert_refused(c.get("/apps", headers={"Origin": "https://dev2.example"}), 403,
                       "forbidden", "dev2")


def test_host_policy_rules() -> None:
    port = 8484
    loopback = HostPolicy("127.0.0.1", lambda: port)
    assert loopback.allows("localhost", 8484) and loopback.allows("::1", 8484)
    assert not loopback.allows("localhost", None) and not loopback.allows("localhost", 80)
    assert not loopback.allows("192.168.1.5", 8484)
    everywhere = HostPolicy("0.0.0.0", lambda: port)
    # Listening on every address: any IP literal names the runner, no DNS name does.
    assert everywhere.allows("192.168.1.5", 8484) and everywhere.allows("fe80::1", 8484)
    assert not everywhere.allows("rebind.example", 8484)
    named = HostPolicy("192.168.1.5", lambda: port, ("box.lan",))
    assert named.allows("192.168.1.5", 8484) and named.allows("box.lan", 3000)
    assert not named.allows("10.0.0.1", 8484) and not named.allows("other.lan", 8484)
    assert HostPolicy("127.0.0.1", lambda: port, ("*",)).allows("anything.example", 1)
    assert split_host("[::1]:8484") == ("::1", 8484)
    assert split_host("Example.COM.") == ("example.com", None)
    for bad in ("", "::1", "a b", "x:99999", "x:-1", "[::1", "[::1]x", "u@h:1", "h/p", ":80"):
        assert split_host(bad) is None, bad


def test_a_blank_api_key_or_a_malformed_allowed_host_is_refused_at_start(
        tmp_path: Path) -> None:
    for key in ("", "   ", " key", "key\t"):
        with pytest.raises(ConfigError, match="API key"):
            Config(api_key=key, data_dir=tmp_path).validate()
    for host in ("a b", "x:99999", "http://x/"):
        with pytest.raises(ConfigError, match="allowed host"):
            Config(allowed_hosts=(host,), data_dir=tmp_path).validate()
    Config(api_key="k", allowed_hosts=("box.lan", "box.lan:80", "*"), data_dir=tmp_path).validate()
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "main.py").write_text((APPS / "conformance_app.py").read_text())
    done = subprocess.run([sys.executable, "-m", "kernel_actions.cli", "dev", "main.py",
                           "--port", "0", "--api-key", "  "], cwd=folder,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "API key" in done.stderr, done.stderr


@pytest.fixture
def keyed(start_runner: Callable[..., RunnerProcess], app_copy: Callable[[str], Path]
          ) -> Iterator[RunnerProcess]:
    entry = app_copy("conformance_app.py")
    yield start_runner(entry, "--api-key", "s3cret", cwd=entry.parent)


def test_origin_rules_hold_with_an_api_key_too(keyed: RunnerProcess) -> None:
    """The key's cookie would ride along on a cross-site request: the origin rule stops it."""
    with keyed.client() as c:
        r = c.get("/?key=s3cret")
        assert r.status_code == 200 and "kernel_actions_key" in r.headers["set-cookie"]
        r = c.get("/_dashboard/app.js", headers={"Sec-Fetch-Site": "cross-site",
                                                 "Sec-Fetch-Mode": "no-cors"})
        assert_refused(r, 403, "forbidden", "cross-site asset with the cookie")
        r = c.post("/invocations", headers={"Authorization": "Bearer s3cret",
                                            "Origin": "http://evil.example"},
                   json={"app_name": "conformance", "action_name": "echo"})
        assert_refused(r, 403, "forbidden", "cross-site post with the key")
