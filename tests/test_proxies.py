"""Custom proxies through the official SDK: create, list, read, rename, delete, check; a
browser whose traffic goes through a local proxy that wants credentials (the proxy sees
the requests, each with them); Kernel-run proxy types refused with a 4xx naming the
cloud; the front door's rules on every ``/proxies`` endpoint. And the forwarder the
runner puts between Chromium and such a proxy."""

from __future__ import annotations

import asyncio
import json
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from kernel import BadRequestError, Kernel, NotFoundError

from kernel_actions.runner.browsers.service import find_chromium
from kernel_actions.runner.errors import ApiError
from kernel_actions.runner.proxies.check import check_proxy
from kernel_actions.runner.proxies.forwarder import ProxyForwarder
from kernel_actions.runner.proxies.store import ProxyTarget

from .auth_proxy import AuthProxy, auth_proxy
from .conftest import RunnerProcess, http_server
from .door_checks import OTHER, assert_guarded, assert_other_users_refused
from .helpers import poll

try:
    CHROMIUM: str | None = find_chromium()
except ApiError:
    CHROMIUM = None
needs_chromium = pytest.mark.skipif(CHROMIUM is None or not sys.platform.startswith("linux"),
                                    reason="no Chromium on this Linux machine")


def target(proxy: AuthProxy, password: str | None = None) -> ProxyTarget:
    return ProxyTarget("127.0.0.1", proxy.port, "http", proxy.username,
                       password if password is not None else proxy.password)


def test_the_forwarder_adds_the_credentials_to_every_request() -> None:
    async def run(proxy: AuthProxy, site: str) -> None:
        forwarder = ProxyForwarder(target(proxy), lambda line: None)
        await forwarder.start()
        try:
            async with httpx.AsyncClient(proxy=forwarder.address, timeout=10) as c:
                for path in ("/one", "/two?x=1"):
                    r = await c.get(f"http://proxied.test{path}")
                    assert r.status_code == 200
                    assert f"served by the test proxy: http://proxied.test{path}" in r.text
                    assert r.headers["connection"] == "close"
            # A tunnel (what every HTTPS page is): CONNECT with the credentials, then bytes.
            port = int(site.rsplit(":", 1)[1])
            reader, writer = await asyncio.open_connection("127.0.0.1", forwarder.port)
            writer.write(f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
            writer.write(b"GET /through HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert (await reader.read()).endswith(b"site /through")
            writer.close()
        finally:
            await forwarder.close()

    with auth_proxy() as proxy, http_server(lambda p: (200, "text/plain",
                                                       b"site " + p.encode())) as site:
        asyncio.run(run(proxy, site))
        port = site.rsplit(":", 1)[1]
        assert proxy.requests() == ["GET http://proxied.test/one", "GET http://proxied.test/two?x=1",
                                    f"CONNECT 127.0.0.1:{port}"]
        assert proxy.requests(authorized=False) == []


@pytest.mark.skipif(OTHER is None, reason="no other uid to run a client as (root on Linux)")
def test_the_forwarder_serves_no_other_user() -> None:
    assert OTHER is not None

    async def run(proxy: AuthProxy) -> str:
        forwarder = ProxyForwarder(target(proxy), lambda line: None)
        await forwarder.start()
        code = ("import encodings.idna, os, socket, sys; os.setgroups([]); os.setgid(int(sys.argv[2])); "
                "os.setuid(int(sys.argv[1])); s = socket.create_connection(('127.0.0.1', "
                "int(sys.argv[3]))); s.sendall(b'GET http://proxied.test/ HTTP/1.1\\r\\n"
                "Host: proxied.test\\r\\n\\r\\n'); print(s.recv(200).split(b'\\r\\n')[0])")
        try:
            done = await asyncio.to_thread(
                subprocess.run, [sys.executable, "-c", code, str(OTHER[0]), str(OTHER[1]),
                                 str(forwarder.port)], capture_output=True, text=True, timeout=30)
        finally:
            await forwarder.close()
        assert done.returncode == 0, done.stderr
        return done.stdout

    with auth_proxy() as proxy:
        assert "403" in asyncio.run(run(proxy))
        assert proxy.seen == []  # nothing reached the proxy


def test_a_check_says_whether_the_proxy_takes_the_credentials_and_reaches_the_site() -> None:
    with auth_proxy() as proxy, http_server(lambda p: (200, "text/plain", b"ok")) as site:
        good = asyncio.run(check_proxy(target(proxy), site + "/"))
        assert (good.status, good.ip_address, good.error) == ("available", "127.0.0.1", None)
        https = asyncio.run(check_proxy(target(proxy), site.replace("http:", "https:") + "/"))
        assert https.status == "available"  # a CONNECT that went through
        refused = asyncio.run(check_proxy(target(proxy, "wrong"), site + "/"))
        assert refused.status == "unavailable" and "407" in (refused.error or "")
        unreachable = asyncio.run(check_proxy(ProxyTarget("127.0.0.1", 1), site + "/"))
        assert unreachable.status == "unavailable" and "cannot connect" in (
            unreachable.error or "")


@pytest.fixture
def runner(start_runner: Callable[..., RunnerProcess]) -> RunnerProcess:
    return start_runner(None, command="serve")


def test_proxies_through_the_sdk(runner: RunnerProcess, tmp_path: Path) -> None:
    k = Kernel(base_url=runner.url, api_key="local", max_retries=0)
    with auth_proxy() as proxy, http_server(lambda p: (200, "text/plain", b"ok")) as site:
        made = k.proxies.create(type="custom", name="office", config={
            "host": "127.0.0.1", "port": proxy.port, "username": proxy.username,
            "password": proxy.password}, bypass_hosts=["intranet.example"])
        assert made.id and made.type == "custom" and made.name == "office"
        assert made.protocol == "http" and made.bypass_hosts == ["intranet.example"]
        config = made.config
        assert config is not None and config.host == "127.0.0.1"  # type: ignore[union-attr]
        assert config.username == proxy.username and config.has_password  # type: ignore[union-attr]
        assert proxy.password not in json.dumps(k.proxies.retrieve(made.id).to_dict())
        other = k.proxies.create(type="custom", config={"host": "proxy.example", "port": 3128})
        assert other.config.has_password is False  # type: ignore[union-attr]

        # Kernel's own proxy types need its cloud; bad settings are 400s.
        for kind in ("isp", "residential", "mobile", "datacenter"):
            with pytest.raises(BadRequestError) as cloud:
                k.proxies.create(type=kind)  # type: ignore[arg-type]
            assert "Kernel's cloud" in str(cloud.value.body)
        for bad in ({"host": "127.0.0.1"}, {"host": "127.0.0.1", "port": 70000},
                    {"host": "bad host", "port": 80}, {"host": "h", "port": 1, "password": 1}):
            with pytest.raises(BadRequestError):
                k.proxies.create(type="custom", config=bad)  # type: ignore[arg-type]

        assert {p.id for p in k.proxies.list()} == {made.id, other.id}
        assert [p.id for p in k.proxies.list(name="office")] == [made.id]
        assert [p.id for p in k.proxies.list(query="PROXY.example")] == [other.id]
        assert k.proxies.retrieve("office").id == made.id
        renamed = k.proxies.update(other.id, name="  spare  ")
        assert renamed.name == "spare"

        # A check against a site of one's own says whether it is reachable through the proxy,
        # without changing the proxy's health; one without a URL records it.
        checked = k.proxies.check(made.id, url=site + "/")
        assert checked.status == "available"
        assert k.proxies.retrieve(made.id).last_checked is None
        plain = k.proxies.check(made.id)
        assert plain.status in ("available", "unavailable") and plain.last_checked
        assert k.proxies.retrieve(made.id).status == plain.status
        down = k.proxies.check(other.id, url=site + "/")
        assert down.status == "unavailable"
        with pytest.raises(BadRequestError):
            k.proxies.check(made.id, url="ftp://example.com/")

    folder = tmp_path / "data" / "proxies"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in folder.glob("*.json"))
    k.proxies.delete("spare")
    with pytest.raises(NotFoundError):
        k.proxies.retrieve(other.id)
    with pytest.raises(NotFoundError):
        k.browsers.create(proxy_id=other.id)
    assert [p.id for p in k.proxies.list()] == [made.id]


@needs_chromium
def test_a_browser_goes_through_a_proxy_that_wants_credentials(
        runner: RunnerProcess) -> None:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    k = Kernel(base_url=runner.url, api_key="local", max_retries=0)
    with auth_proxy() as proxy, sync_playwright() as pw:
        made = k.proxies.create(type="custom", name="authed", config={
            "host": "127.0.0.1", "port": proxy.port, "username": proxy.username,
            "password": proxy.password})
        browser = k.browsers.create(proxy_id=made.id, timeout_seconds=60)
        assert browser.proxy_id == made.id
        assert browser.proxy is not None and browser.proxy.id == made.id
        chromium = pw.chromium.connect_over_cdp(browser.cdp_ws_url)
        try:
            page = chromium.contexts[0].pages[0]
            # A host that resolves nowhere: only the proxy can answer it.
            page.goto("http://proxied.test/through-the-proxy")
            assert page.text_content("#served") == (
                "served by the test proxy: http://proxied.test/through-the-proxy")
            # HTTPS goes as a tunnel, with the credentials too (the proxy can't reach it).
            with pytest.raises(PlaywrightError):
                page.goto("https://proxied.test/secure", timeout=15_000)
        finally:
            chromium.close()
        seen = proxy.requests()
        assert "GET http://proxied.test/through-the-proxy" in seen, seen
        assert "CONNECT proxied.test:443" in seen, seen
        assert proxy.requests(authorized=False) == []
        k.browsers.delete_by_id(browser.session_id)

        # The newer spelling, by name; and a browser without a proxy goes direct.
        by_name = k.browsers.create(proxy={"name": "authed"}, timeout_seconds=60)
        assert by_name.proxy is not None and by_name.proxy.id == made.id
        k.browsers.delete_by_id(by_name.session_id)
        before = len(proxy.seen)
        direct = k.browsers.create(timeout_seconds=60)
        assert direct.proxy_id is None
        chromium = pw.chromium.connect_over_cdp(direct.cdp_ws_url)
        try:
            with pytest.raises(PlaywrightError):
                chromium.contexts[0].pages[0].goto("http://proxied.test/direct", timeout=15_000)
        finally:
            chromium.close()
        assert len(proxy.seen) == before
        k.browsers.delete_by_id(direct.session_id)
        poll(lambda: k.browsers.list().items == [], timeout=20)


def test_proxies_behind_the_front_door(start_runner: Callable[..., RunnerProcess]) -> None:
    runner = start_runner(None, "--api-key", "k3y", command="serve")
    k = Kernel(base_url=runner.url, api_key="k3y", max_retries=0)
    made = k.proxies.create(type="custom", name="p", config={"host": "127.0.0.1", "port": 9,
                                                            "password": "pw"})
    one = f"/proxies/{made.id}"
    assert_guarded(runner.url or "", "k3y",
                   [("POST", "/proxies"), ("GET", "/proxies"), ("GET", one), ("PATCH", one),
                    ("DELETE", one), ("POST", f"{one}/check")],
                   [("POST", "/proxies"), ("PATCH", one), ("POST", f"{one}/check")])
    assert [p.name for p in k.proxies.list()] == ["p"]


@pytest.mark.skipif(OTHER is None, reason="no other uid to run a client as (root on Linux)")
def test_another_user_gets_no_proxies(runner: RunnerProcess) -> None:
    k = Kernel(base_url=runner.url, api_key="local", max_retries=0)
    made = k.proxies.create(type="custom", config={"host": "127.0.0.1", "port": 9})
    assert_other_users_refused(runner.url or "", ["/proxies", f"/proxies/{made.id}"])
