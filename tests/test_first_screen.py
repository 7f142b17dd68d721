"""A browser's first screen, as Kernel's browser image shows it: Chromium started with no URL
and ``--start-maximized``, so the New Tab page with an empty, focused address bar, which an
agent drives as Kernel's tzafon template does (Ctrl+L, click the address bar, type the URL,
Return). And that New Tab page stays local: it loads nothing from the search engine."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from websockets.sync.client import connect

from kernel_actions.runner.browsers.browser import LocalBrowser
from kernel_actions.runner.browsers.cdp import PIPE_SWITCH
from kernel_actions.runner.browsers.chromium import chromium_command, prepare_profile
from kernel_actions.runner.browsers.display import display_support

from .conftest import BROWSER_MARKS, CHROMIUM, RunnerProcess, http_server, poll
from .helpers import sdk_client

pytestmark = [*BROWSER_MARKS, pytest.mark.skipif(
    display_support() is not None, reason="the address bar is Chromium's own UI: needs Xvfb")]

#: Requests Chromium itself makes at startup whatever its first page (its extension-update
#: and account checks: they were there when the runner started browsers on about:blank).
BROWSER_CHECKS = {"update.googleapis.com", "accounts.google.com"}
_LOCAL = ("127.0.0.1", "localhost", "[::1]")


def cdp_call(url: str, method: str, params: dict[str, Any] | None = None,
             session: str | None = None) -> dict[str, Any]:
    """One DevTools call over a browser's ``cdp_ws_url`` (a connection of its own)."""
    with connect(url, open_timeout=20, max_size=None) as ws:
        return _call(ws, method, params, session)


def _call(ws: Any, method: str, params: dict[str, Any] | None = None,
          session: str | None = None) -> dict[str, Any]:
    ws.send(json.dumps({"id": 1, "method": method, "params": params or {},
                        **({"sessionId": session} if session else {})}))
    while True:
        message = json.loads(ws.recv(timeout=20))
        if message.get("id") == 1:
            assert "error" not in message, message
            return dict(message["result"])


def pages(url: str) -> list[dict[str, Any]]:
    return [t for t in cdp_call(url, "Target.getTargets")["targetInfos"] if t["type"] == "page"]


def browser_ui_height(url: str, target_id: str) -> int:
    """How far down the page starts: the tab strip and the toolbar above it."""
    with connect(url, open_timeout=20, max_size=None) as ws:
        session = _call(ws, "Target.attachToTarget", {"targetId": target_id, "flatten": True})
        ui = _call(ws, "Runtime.evaluate", {"expression": "outerHeight - innerHeight"},
                   session["sessionId"])
    return int(ui["result"]["value"])


def test_a_fresh_browser_takes_the_tzafon_address_bar_sequence(
        start_runner: Callable[..., RunnerProcess]) -> None:
    runner = start_runner(None, command="serve")
    k = sdk_client(runner)
    seen: list[str] = []

    def answer(path: str) -> tuple[int, str, bytes]:
        seen.append(path)
        return 200, "text/html", b"<!doctype html><title>Typed</title>"

    with http_server(answer) as site:
        created = k.browsers.create(viewport={"width": 1280, "height": 800},
                                    timeout_seconds=120)
        bid = created.session_id
        first = pages(created.cdp_ws_url)
        assert len(first) == 1 and first[0]["url"].startswith("chrome://new"), first
        top = browser_ui_height(created.cdp_ws_url, first[0]["targetId"])
        assert top > 40  # tabs and the toolbar are on the screen
        target = f"{site}/typed?by=tzafon"
        # What the tzafon template's model does, step by step.
        k.browsers.computer.press_key(bid, keys=["Ctrl+l"])
        k.browsers.computer.click_mouse(bid, x=640, y=top - 24)  # the address bar
        k.browsers.computer.type_text(bid, text=target)
        k.browsers.computer.press_key(bid, keys=["Return"])
        poll(lambda: "/typed?by=tzafon" in seen, timeout=30)
        poll(lambda: [p["url"] for p in pages(created.cdp_ws_url)] == [target], timeout=30)
        # The window fills the screen, as --start-maximized leaves it.
        shot = k.browsers.computer.capture_screenshot(bid).read()
        assert shot[16:24] == (1280).to_bytes(4, "big") + (800).to_bytes(4, "big")
        k.browsers.delete_by_id(bid)


@pytest.fixture
def xvfb(tmp_path: Path) -> Iterator[str]:
    """A virtual screen of its own; its ``DISPLAY``."""
    read, write = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x800x24",
                             "-nolisten", "tcp"], pass_fds=(write,),
                            stderr=subprocess.DEVNULL, start_new_session=True)
    os.close(write)
    try:
        with os.fdopen(read) as numbers:
            yield f":{numbers.readline().strip()}"
    finally:
        proc.kill()
        proc.wait(10)


def test_the_new_tab_page_asks_nothing_of_the_network(xvfb: str, tmp_path: Path) -> None:
    """The runner's own command line and profile, on a screen, with a net log: the New Tab
    page loads nothing remote (Debian's search engine comes with a remote start page that
    Chromium would otherwise try to load as the New Tab page), nor preconnects anywhere."""
    assert CHROMIUM is not None and shutil.which("Xvfb")
    browser = LocalBrowser(id="probe", folder=tmp_path / "probe", created_ns=0, headless=False,
                           timeout_s=60, viewport={"width": 1280, "height": 800},
                           display=cast(Any, object()))  # headful: its screen is xvfb's
    browser.profile.mkdir(parents=True)
    prepare_profile(browser.profile)
    netlog = tmp_path / "netlog.json"
    command = [arg for arg in chromium_command(browser, CHROMIUM, None) if arg != PIPE_SWITCH]
    assert "--start-maximized" in command and "--" not in command  # no URL: the New Tab page
    proc = subprocess.Popen([*command, "--remote-debugging-port=0", f"--log-net-log={netlog}"],
                            env={**os.environ, "DISPLAY": xvfb}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        port_file = browser.profile / "DevToolsActivePort"
        poll(lambda: port_file.is_file() and port_file.read_text().strip(), timeout=30)
        port = port_file.read_text().split()[0]
        with connect(f"ws://127.0.0.1:{port}{port_file.read_text().split()[1]}",
                     open_timeout=20, max_size=None) as ws:

            def new_tab_shown() -> bool:
                found = [t for t in _call(ws, "Target.getTargets")["targetInfos"]
                         if t["type"] == "page"]
                return len(found) == 1 and found[0]["url"].startswith("chrome://new") and (
                    found[0]["title"] == "New Tab")

            poll(new_tab_shown, timeout=30)
    finally:
        proc.send_signal(signal.SIGTERM)  # a clean exit writes the net log's end
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    text = netlog.read_text()
    urls = set(re.findall(r'"url":"([a-z-]+://[^"/?#]+)', text))
    remote = {u.split("://", 1)[1].rsplit(":", 1)[0] for u in urls
              if not u.startswith(("chrome", "data", "about", "blob"))}
    remote = {host for host in remote if host not in _LOCAL}
    assert remote <= BROWSER_CHECKS, sorted(remote)
    assert "duckduckgo" not in text and "google.com/_/chrome/newtab" not in text
