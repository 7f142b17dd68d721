"""Each browser's DevTools: a pipe only the runner holds, shared by many clients, served at
a ``cdp_ws_url`` that carries an unguessable token. Real Chromium, real Playwright."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from kernel import Kernel
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from kernel_actions.runner.browsers.cdp import PIPE_SWITCH, CdpError, CdpMux, PipeEnds
from kernel_actions.runner.supervisor import Supervisor

from .conftest import BROWSER_MARKS, CHROMIUM, RunnerProcess, poll

pytestmark = BROWSER_MARKS


#: The Origin Stagehand 4's extension opens a browser's cdp_ws_url with.
EXTENSION = "chrome-extension://gkbkhfbmkbnbkbgnkajpnkdbnbmjpehm"


def sdk(runner: RunnerProcess, key: str = "local") -> Kernel:
    return Kernel(base_url=runner.url, api_key=key, max_retries=0)


def listening_sockets(pids: list[int]) -> list[str]:
    """The TCP sockets in LISTEN state that any of ``pids`` holds."""
    inodes: set[str] = set()
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:
                    found.append(f"{table}: {fields[1]}")
    return found


def chromium_pids(folder: Path) -> list[int]:
    """Live processes whose command line names ``folder``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if str(folder).encode() in cmdline:
                found.append(int(entry))
    return found


def upgrade_status(url: str, host: str) -> bytes:
    """The status line a WebSocket upgrade of ``url`` sent with ``Host: host`` gets."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=20) as sock:
        sock.sendall((f"GET {parts.path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        return sock.recv(4096).split(b"\r\n", 1)[0]


# -- the pipe and the multiplexer, on a Chromium of their own ------------------------------


def test_the_multiplexer_keeps_clients_apart_on_one_pipe(tmp_path: Path) -> None:
    assert CHROMIUM is not None

    async def scenario() -> None:
        ends = PipeEnds()
        with open(os.devnull, "wb") as devnull:
            proc = Supervisor().spawn(
                [CHROMIUM, "--headless=new", "--no-sandbox", PIPE_SWITCH,
                 f"--user-data-dir={tmp_path / 'profile'}", "about:blank"],
                stdout=devnull, fd_map=ends.fd_map())
        ends.close_child_ends()
        mux = CdpMux()
        try:
            await mux.open(ends)
            version = await asyncio.wait_for(mux.call("Browser.getVersion"), 30)
            assert version["product"].split("/")[0] in ("Chrome", "HeadlessChrome", "Chromium")
            first, second = await mux.connect(), await mux.connect()
            assert mux.external_clients == 0 and len(mux.clients) == 2
            # Each drives a page of its own, through a session of its own.
            sessions = []
            for conn, value in ((first, "one"), (second, "two")):
                target = await conn.send("Target.createTarget", {"url": "about:blank"})
                attached = await conn.send("Target.attachToTarget",
                                           {"targetId": target["targetId"], "flatten": True})
                sessions.append(attached["sessionId"])
                await conn.send("Runtime.evaluate", {"expression": f"window.v = '{value}'"},
                                attached["sessionId"])
            for conn, session, value in ((first, sessions[0], "one"),
                                         (second, sessions[1], "two")):
                got = await conn.send("Runtime.evaluate", {"expression": "window.v",
                                                           "returnByValue": True}, session)
                assert got["result"]["value"] == value
            # A session is its owner's alone.
            with pytest.raises(CdpError, match="Session with given id not found"):
                await second.send("Runtime.evaluate", {"expression": "1"}, sessions[0])
            # Browser.close from a client does not close the shared browser.
            assert await first.send("Browser.close") == {}
            assert (await second.send("Browser.getVersion"))["protocolVersion"]
            # Events reach the client that asked for them.
            events: list[str] = []
            second.on("Target.targetCreated", lambda params, _: events.append(
                params["targetInfo"]["url"]))
            await second.send("Target.setDiscoverTargets", {"discover": True})
            await first.send("Target.createTarget", {"url": "about:blank#late"})
            deadline = asyncio.get_running_loop().time() + 20
            while "about:blank#late" not in events:
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.02)
            # A closed client is forgotten; the others keep working.
            first.close()
            assert len(mux.clients) == 1
            with pytest.raises(CdpError):
                await first.send("Browser.getVersion")
            # Chromium's exit ends every client.
            proc.kill()
            await asyncio.wait_for(mux.closed.wait(), 20)
            with pytest.raises(CdpError):
                await second.send("Browser.getVersion")
            assert not mux.clients
        finally:
            mux.close()
            proc.kill()
            proc.wait(10)

    asyncio.run(scenario())


def test_a_client_gets_an_error_for_a_malformed_message() -> None:
    mux = CdpMux()
    delivered: list[dict[str, object]] = []

    from kernel_actions.runner.browsers.cdp import CdpClient

    client = CdpClient(mux, delivered.append, external=True, browser_session="S")
    for bad in (None, [], {"id": "1", "method": "X"}, {"id": 1}, {"id": 1, "method": "X",
                                                                   "params": []}):
        client.send(bad)
    assert len(delivered) == 5
    assert all(m["error"]["code"] == -32600 for m in delivered)  # type: ignore[index]
    assert [m["id"] for m in delivered] == [None, None, None, 1, 1]


def test_pipe_ends_leave_no_runner_descriptor_in_the_child(tmp_path: Path) -> None:
    ends = PipeEnds()
    listener = socket.socket()
    listener.set_inheritable(True)  # as the runner's own listening socket is
    try:
        with open(tmp_path / "out", "wb") as listing:
            child = Supervisor().spawn(["ls", "/proc/self/fd"], stdout=listing,
                                       fd_map=ends.fd_map())
        assert child.wait(30) == 0
        out = (tmp_path / "out").read_text().split()
        # stdin, stdout, stderr, the pipe on 3 and 4, and the one ls opens to list them.
        assert {"0", "1", "2", "3", "4"} <= set(out) and len(out) <= 6
        assert str(listener.fileno()) not in out or listener.fileno() <= 5
    finally:
        listener.close()
        ends.close()


# -- through the runner ---------------------------------------------------------------------


@pytest.fixture
def served(start_runner: Callable[..., RunnerProcess]) -> Callable[..., RunnerProcess]:
    def start(*extra: str) -> RunnerProcess:
        return start_runner(None, *extra, command="serve")
    return start


def test_playwright_drives_a_browser_through_its_tokened_url_with_two_clients_at_once(
        served: Callable[..., RunnerProcess], tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    runner = served()
    k = sdk(runner)
    with sync_playwright() as pw:
        browser = k.browsers.create(timeout_seconds=30)
        url = browser.cdp_ws_url
        prefix = f"ws://127.0.0.1:{runner.url.rsplit(':', 1)[1]}/browsers/{browser.session_id}/cdp/"
        assert url.startswith(prefix)
        assert len(url.removeprefix(prefix)) >= 40  # 32 random bytes
        # A second browser has a different token.
        other = k.browsers.create(timeout_seconds=30)
        assert other.cdp_ws_url.rsplit("/", 1)[1] != url.rsplit("/", 1)[1]

        one = pw.chromium.connect_over_cdp(url)
        two = pw.chromium.connect_over_cdp(url)
        page_one = one.contexts[0].new_page()
        page_two = two.new_context().new_page()
        page_one.goto("data:text/html,<title>one</title><input id=i>")
        page_two.goto("data:text/html,<title>two</title>")
        page_one.fill("#i", "typed by one")
        assert page_two.title() == "two"
        assert page_one.title() == "one"
        assert page_one.input_value("#i") == "typed by one"
        two.close()
        assert page_one.evaluate("1 + 1") == 2  # one client leaving leaves the other working

        # Nothing of this browser listens on TCP: DevTools goes over its pipe.
        folder = tmp_path / "data" / "browsers" / browser.session_id
        pids = chromium_pids(folder)
        assert pids
        assert listening_sockets(pids) == []
        one.close()


def test_a_wrong_token_or_a_wrong_key_is_refused_and_the_token_opens_from_any_origin(
        served: Callable[..., RunnerProcess]) -> None:
    runner = served("--api-key", "s3cret")
    k = sdk(runner, "s3cret")
    browser = k.browsers.create(timeout_seconds=30)
    url = browser.cdp_ws_url
    token = url.rsplit("/", 1)[1]

    def refused(target: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        with pytest.raises(InvalidStatus) as caught:
            with connect(target, additional_headers=headers or {}, open_timeout=20):
                pass
        return caught.value.response.status_code, bytes(caught.value.response.body or b"")

    wrong = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert refused(url.rsplit("/", 1)[0] + "/" + wrong)[0] == 404
    assert refused(url.rsplit("/", 1)[0] + "/")[0] in (403, 404)
    status, body = refused(url.replace(browser.session_id, "no-such-browser"))
    assert status == 404 and b'"not_found"' in body
    # Without the token, no Origin opens it: a web page, an extension, the runner's own.
    own = f"http://127.0.0.1:{urlsplit(url).port}"
    for origin in ("http://evil.example", EXTENSION, own):
        status, body = refused(url.rsplit("/", 1)[0] + "/" + wrong, {"Origin": origin})
        assert status == 404 and b'"not_found"' in body, origin
    status, body = refused(url, {"Authorization": "Bearer wrong"})
    assert status == 401 and b"unauthorized" in body
    assert upgrade_status(url, "rebound.example.com").startswith(b"HTTP/1.1 403 ")
    assert upgrade_status(url, f"localhost:{urlsplit(url).port}").startswith(b"HTTP/1.1 101 ")

    # The token is a credential: the runner's output never shows it.
    runner.wait_line(f"browser {browser.session_id} started")
    assert token not in runner.output

    # The token is the capability: no key needed, and the right key is fine too. Whatever
    # Origin comes with it opens it: Stagehand 4's extension sends chrome-extension://….
    for headers in ({}, {"Authorization": "Bearer s3cret"}, {"Origin": EXTENSION},
                    {"Origin": "http://127.0.0.1:1"}):
        with connect(url, additional_headers=headers, open_timeout=20) as ws:
            ws.send('{"id": 7, "method": "Browser.getVersion"}')
            assert '"id":7' in ws.recv(timeout=20)
            ws.send("not json")
            assert '"code":-32600' in ws.recv(timeout=20)


def test_a_connection_to_the_url_keeps_the_browser_and_a_closed_one_lets_it_go(
        served: Callable[..., RunnerProcess], tmp_path: Path) -> None:
    runner = served()
    k = sdk(runner)
    browser = k.browsers.create(timeout_seconds=1)
    with connect(browser.cdp_ws_url, open_timeout=20) as ws:
        # Held open past standby (5 s) and its timeout, the browser stays (the idle check runs
        # every second).
        until = time.monotonic() + 7.5
        n = 0
        while time.monotonic() < until:
            n += 1
            ws.send(f'{{"id": {n}, "method": "Browser.getVersion"}}')
            assert f'"id":{n}' in ws.recv(timeout=20)
        assert k.browsers.retrieve(browser.session_id).session_id == browser.session_id
    poll(lambda: f"browser {browser.session_id} closed: timed out after 1 s in standby"
         in runner.output, timeout=30)
    # Deleted, its URL answers 404.
    with pytest.raises(InvalidStatus) as caught:
        with connect(browser.cdp_ws_url, open_timeout=20):
            pass
    assert caught.value.response.status_code == 404
