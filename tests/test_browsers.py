"""Kernel's browser API served by local Chromium: the official SDK, Playwright over CDP,
and a page served on loopback; no network beyond this machine."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from kernel import NotFoundError, RateLimitError

from kernel_actions.runner.browsers.chromium import UNAVAILABLE_MESSAGE

from .conftest import BROWSER_MARKS, CHROMIUM
from .helpers import RunnerProcess, ServerProcess, http_server, poll
from .helpers import sdk_client as sdk

pytestmark = BROWSER_MARKS

APP = '''
import time

from kernel import Kernel
from playwright.sync_api import sync_playwright

from kernel_actions import App

app = App("browsing")


@app.action("title")
def title(ctx, payload: dict) -> dict:
    kernel = Kernel()  # KERNEL_BASE_URL and KERNEL_API_KEY come from the runner
    browser = kernel.browsers.create(invocation_id=ctx.invocation_id)
    listed = kernel.invocations.list_browsers(ctx.invocation_id).browsers
    with sync_playwright() as pw:
        chromium = pw.chromium.connect_over_cdp(browser.cdp_ws_url)
        context = chromium.contexts[0] if chromium.contexts else chromium.new_context()
        page = context.pages[0] if context.pages else context.new_page()
        page.goto(payload["url"])
        return {"title": page.title(), "session_id": browser.session_id,
                "listed": [b.session_id for b in listed],
                "size": page.evaluate("[window.outerWidth, window.outerHeight]"),
                "page": page.evaluate("[window.innerWidth, window.innerHeight]")}


@app.action("open")
def open_one(ctx, payload: dict) -> dict:
    """As Kernel's sample-app's create-browser-for-testing: a browser for later, returned."""
    browser = Kernel().browsers.create(invocation_id=ctx.invocation_id,
                                       timeout_seconds=payload.get("timeout", 3600))
    return {"session_id": browser.session_id, "live_view": browser.browser_live_view_url}


@app.action("hold")
def hold(ctx) -> str:
    """Keep a browser until someone deletes the invocation's browsers."""
    kernel = Kernel()
    kernel.browsers.create(invocation_id=ctx.invocation_id)
    while kernel.invocations.list_browsers(ctx.invocation_id).browsers:
        time.sleep(0.05)
    return "released"
'''

PAGE = b"<!doctype html><html><head><title>Local Page</title></head><body>hi</body></html>"


@pytest.fixture
def page_url() -> Iterator[str]:
    """A page titled "Local Page", served on loopback."""
    html = "text/html; charset=utf-8"
    with http_server(lambda path: (200, html, PAGE) if path == "/" else (404, html, b"")) as url:
        yield url + "/"


def processes_naming(path: Path) -> list[int]:
    """Live processes whose command line contains ``path`` (zombies have none)."""
    marker = str(path).encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if marker in cmdline:
            found.append(int(entry))
    return found


def display_mode(runner: RunnerProcess) -> str:
    """``xvfb`` or ``emulated``: how the runner's browsers get a screen."""
    return str(httpx.get(f"{runner.url}/_runner/status").json()["browsers"]["display"])


def gone(folder: Path) -> bool:
    return not processes_naming(folder) and not folder.exists()


@pytest.fixture
def browsing(start_runner: Callable[..., RunnerProcess], tmp_path: Path
             ) -> Callable[..., RunnerProcess]:
    """Start a runner serving the browsing app, with extra CLI arguments."""
    entry = tmp_path / "app" / "main.py"
    entry.parent.mkdir()
    entry.write_text(APP)

    def start(*extra: str) -> RunnerProcess:
        return start_runner(entry, *extra, cwd=entry.parent)

    return start


def test_an_action_drives_a_local_browser_that_outlives_it(
        browsing: Callable[..., RunnerProcess], page_url: str, tmp_path: Path) -> None:
    runner = browsing()
    k = sdk(runner)
    inv = k.invocations.create(app_name="browsing", action_name="title", version="latest",
                               payload=json.dumps({"url": page_url}))
    assert inv.status == "succeeded", inv.output
    out = json.loads(inv.output or "")
    assert out["title"] == "Local Page"
    assert out["listed"] == [out["session_id"]]  # the invocation's own browser, while it ran
    # Kernel's default window size; without a virtual display the page is the screen, and
    # it has that size.
    assert out["page" if display_mode(runner) == "emulated" else "size"] == [1920, 1080]
    # As on Kernel, the invocation's end leaves its browser open, listed under it.
    folder = tmp_path / "data" / "browsers" / out["session_id"]
    assert [b.session_id for b in k.invocations.list_browsers(inv.id).browsers] == [
        out["session_id"]]
    assert k.browsers.retrieve(out["session_id"]).session_id == out["session_id"]
    assert processes_naming(folder)
    k.browsers.delete_by_id(out["session_id"])
    assert gone(folder)
    assert k.invocations.list_browsers(inv.id).browsers == []
    with pytest.raises(NotFoundError):
        k.browsers.retrieve(out["session_id"])
    runner.wait_line(f"browser {out['session_id']} closed: deleted")


def test_a_browser_made_for_later_stays_with_its_live_view(
        browsing: Callable[..., RunnerProcess], tmp_path: Path) -> None:
    """Kernel's sample-app returns a browser's live view for an hour of manual testing."""
    runner = browsing()
    k = sdk(runner)
    inv = k.invocations.create(app_name="browsing", action_name="open", version="latest",
                               payload="{}")
    assert inv.status == "succeeded", inv.output
    out = json.loads(inv.output or "")
    assert out["live_view"] and out["session_id"] in out["live_view"]
    listed = k.invocations.list_browsers(inv.id).browsers
    assert [(b.session_id, b.timeout_seconds) for b in listed] == [(out["session_id"], 3600)]
    live = httpx.get(out["live_view"].split("#")[0])
    assert live.status_code == 200 and "live.js" in live.text  # the page is served
    shot = k.browsers.computer.capture_screenshot(out["session_id"])
    assert shot.read().startswith(b"\x89PNG")  # and the screen it shows is there
    # The invocation's browsers are deleted with DELETE /invocations/{id}/browsers.
    k.invocations.delete_browsers(inv.id)
    assert gone(tmp_path / "data" / "browsers" / out["session_id"])
    assert k.invocations.list_browsers(inv.id).browsers == []


def test_deleting_an_invocations_browsers(browsing: Callable[..., RunnerProcess],
                                          tmp_path: Path) -> None:
    runner = browsing()
    k = sdk(runner)
    inv = k.invocations.create(app_name="browsing", action_name="hold", version="latest",
                               async_=True)

    def browsers() -> list[Any]:
        assert k.invocations.retrieve(inv.id).status == "running"
        return k.invocations.list_browsers(inv.id).browsers

    held = poll(lambda: k.invocations.retrieve(inv.id).status != "queued" and browsers(),
                timeout=30)
    assert isinstance(held, list) and len(held) == 1
    folder = tmp_path / "data" / "browsers" / held[0].session_id
    assert processes_naming(folder)
    k.invocations.delete_browsers(inv.id)
    assert gone(folder)  # DELETE answers once the processes and the profile are gone
    poll(lambda: k.invocations.retrieve(inv.id).status == "succeeded", timeout=30)
    assert json.loads(k.invocations.retrieve(inv.id).output or "") == "released"
    with pytest.raises(NotFoundError):
        k.invocations.list_browsers("no-such-invocation")


def test_an_idle_browser_is_closed_and_a_connected_one_is_kept(
        start_runner: Callable[..., RunnerProcess], tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    runner = start_runner(None, command="serve")
    k = sdk(runner)
    # The time before the first connection counts as idle: Playwright is started first, and the
    # timeout leaves the connect room on a busy machine.
    timeout = 5
    with sync_playwright() as pw:
        busy = k.browsers.create(timeout_seconds=timeout, viewport={"width": 800, "height": 600},
                                 start_url="data:text/html,<title>Start</title>")
        assert busy.start_url == "data:text/html,<title>Start</title>"
        assert busy.viewport is not None
        assert (busy.viewport.width, busy.viewport.height) == (800, 600)
        busy_folder = tmp_path / "data" / "browsers" / busy.session_id
        chromium = pw.chromium.connect_over_cdp(busy.cdp_ws_url)
        # Created after the other was connected, with the same timeout, never connected.
        idle = k.browsers.create(timeout_seconds=timeout)
        assert idle.timeout_seconds == timeout and not idle.headless and not idle.stealth  # Kernel's default
        idle_folder = tmp_path / "data" / "browsers" / idle.session_id
        runner.wait_line(f"browser {idle.session_id} closed: timed out after {timeout} s "
                         "in standby", timeout=60)
        poll(lambda: gone(idle_folder), timeout=15)
        # The idle check that closed the younger browser kept the older, connected one.
        assert not any(f"browser {busy.session_id} closed" in ln for ln in runner.lines)
        assert chromium.is_connected()
        assert [b.session_id for b in k.browsers.list()] == [busy.session_id]
        page = chromium.contexts[0].pages[0]
        page.wait_for_function("document.title === 'Start'")
        size = ("[innerWidth, innerHeight]" if display_mode(runner) == "emulated"
                else "[window.outerWidth, window.outerHeight]")
        assert page.evaluate(size) == [800, 600]
    # Disconnected, it goes after its timeout.
    runner.wait_line(f"browser {busy.session_id} closed: timed out after {timeout} s "
                     "in standby", timeout=60)
    poll(lambda: gone(busy_folder), timeout=15)
    assert [b.session_id for b in k.browsers.list()] == []


def test_the_cap_answers_429_until_a_browser_is_deleted(
        start_runner: Callable[..., RunnerProcess], tmp_path: Path) -> None:
    runner = start_runner(None, "--max-browsers", "1", command="serve")
    k = sdk(runner)
    first = k.browsers.create(name="first", tags={"team": "qa"}, stealth=True, gpu=True)
    with pytest.raises(RateLimitError) as refused:
        k.browsers.create()
    assert refused.value.status_code == 429
    body = refused.value.body
    assert isinstance(body, dict) and body["code"] == "rate_limited"
    assert "at most 1 browsers at once; delete one or raise --max-browsers" in body["message"]
    assert [b.session_id for b in k.browsers.list()] == [first.session_id]
    assert [b.session_id for b in k.browsers.list(tags={"team": "qa"})] == [first.session_id]
    assert k.browsers.list(tags={"team": "dev"}).items == []
    assert k.browsers.retrieve("first").session_id == first.session_id
    runner.wait_line("'stealth' is a Kernel cloud setting")
    runner.wait_line("'gpu' is a Kernel cloud setting")
    k.browsers.delete_by_id(first.session_id)
    assert gone(tmp_path / "data" / "browsers" / first.session_id)
    with pytest.raises(NotFoundError):
        k.browsers.delete_by_id(first.session_id)
    second = k.browsers.create()
    assert second.cdp_ws_url.startswith("ws://127.0.0.1:")
    assert f"/browsers/{second.session_id}/cdp/" in second.cdp_ws_url


def test_bad_requests(start_runner: Callable[..., RunnerProcess], tmp_path: Path) -> None:
    runner = start_runner(None, command="serve")
    with runner.client() as c:
        for body, field in [({"timeout_seconds": "60"}, "timeout_seconds"),
                            ({"timeout_seconds": 0}, "timeout_seconds"),
                            ({"viewport": {"width": 0, "height": 10}}, "viewport.width"),
                            ({"headless": "yes"}, "headless"),
                            ({"tags": {"a": 1}}, "tags"),
                            ({"start_url": "--version"}, "start_url")]:
            r = c.post("/browsers", json=body)
            assert r.status_code == 400 and field in r.json()["message"], r.text
        r = c.post("/browsers", json={"invocation_id": "nope"})
        assert r.status_code == 404 and r.json()["code"] == "not_found"
        r = c.get("/browsers", params={"status": "gone"})
        assert r.status_code == 400
        assert c.get("/browsers", params={"status": "deleted"}).json() == []
    assert not (tmp_path / "data" / "browsers").exists() or not any(
        (tmp_path / "data" / "browsers").iterdir())


def test_no_chromium_and_a_chromium_that_does_not_start(
        start_runner: Callable[..., RunnerProcess], tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    missing = start_runner(None, command="serve", data_dir=tmp_path / "d1",
                           env={"PATH": str(home), "HOME": str(home)})
    with missing.client() as c:
        r = c.post("/browsers", json={})
    assert r.status_code == 503 and r.headers["x-should-retry"] == "false"
    assert r.json() == {"code": "browser_unavailable", "message": UNAVAILABLE_MESSAGE}
    broken = start_runner(None, "--browser-path", "/bin/false", command="serve",
                          data_dir=tmp_path / "d2")
    with broken.client() as c:
        r = c.post("/browsers")
    assert r.status_code == 503 and r.json()["code"] == "browser_unavailable"
    assert "did not start: it exited with code 1" in r.json()["message"]
    assert not any((tmp_path / "d2" / "browsers").iterdir())


def test_stopping_the_runner_closes_its_browsers(
        start_runner: Callable[..., RunnerProcess], tmp_path: Path) -> None:
    runner = start_runner(None, command="serve")
    k = sdk(runner)
    sessions = [k.browsers.create().session_id for _ in range(2)]
    root = tmp_path / "data" / "browsers"
    assert all(processes_naming(root / s) for s in sessions)
    runner.proc.send_signal(signal.SIGTERM)
    assert runner.proc.wait(30) == 0
    assert processes_naming(root) == []
    assert list(root.iterdir()) == []


def test_what_a_killed_runner_left_is_cleaned_at_the_next_start(
        start_runner: Callable[..., RunnerProcess], tmp_path: Path) -> None:
    root = tmp_path / "data" / "browsers"
    first = start_runner(None, command="serve")
    orphan = sdk(first).browsers.create().session_id
    # Its warm spare (started once a browser was asked for) is left too.
    poll(lambda: first.client().get("/_runner/status").json()["browsers"]["warm"]["ready"],
         timeout=60)
    first.kill()  # kill -9: no chance to close anything
    # A Chromium left running by a runner that died (as if it had no way to take it along).
    leftover = root / "leftover0000000000000000"
    (leftover / "profile").mkdir(parents=True)
    assert CHROMIUM is not None
    stray = subprocess.Popen(
        [CHROMIUM, "--headless=new", "--disable-gpu", "--no-first-run",
         *(["--no-sandbox"] if os.geteuid() == 0 else []), "--remote-debugging-port=0",
         f"--user-data-dir={leftover / 'profile'}", "about:blank"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    try:
        (leftover / "pid").write_text(str(stray.pid))
        (leftover / "runner.pid").write_text("999999999")
        poll(lambda: (leftover / "profile" / "DevToolsActivePort").exists(), timeout=20)
        second = start_runner(None, command="serve")
        assert stray.wait(20) == -signal.SIGKILL
        poll(lambda: gone(leftover) and gone(root / orphan), timeout=15)
        second.wait_line("browsers: removed 3 browser folder(s) a previous run left")
        assert not processes_naming(root)
        assert sdk(second).browsers.list().items == []
    finally:
        if stray.poll() is None:
            os.killpg(stray.pid, signal.SIGKILL)
            stray.wait(10)


def test_serve_and_dev_take_the_browser_flags() -> None:
    for command in ("dev", "serve"):
        out = subprocess.run([sys.executable, "-m", "kernel_actions.cli", command, "--help"],
                             capture_output=True, text=True, timeout=60).stdout
        assert "--max-browsers" in out and "--browser-path" in out
    bad = subprocess.run([sys.executable, "-m", "kernel_actions.cli", "serve", "--port", "0",
                          "--browser-path", "/nonexistent/chrome"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "is not an executable file" in bad.stderr


def test_the_openapi_lists_the_browser_endpoints(
        start_runner: Callable[..., RunnerProcess]) -> None:
    runner = start_runner(None, command="serve")
    spec = httpx.get(f"{runner.url}/openapi.json").json()
    assert set(spec["paths"]["/browsers"]) == {"get", "post"}
    assert {"get", "delete"} <= set(spec["paths"]["/browsers/{id}"])
    assert {"get", "delete"} <= set(spec["paths"]["/invocations/{id}/browsers"])


def test_standby_begins_5_s_after_the_last_computer_control_or_live_view_frame(
        start_runner: Callable[..., RunnerProcess], tmp_path: Path) -> None:
    """Kernel's "Standby": the timeout starts once a browser has had no CDP client, no
    live-view viewer and no computer control for 5 s; each of them is activity."""
    from playwright.sync_api import sync_playwright

    runner = start_runner(None, command="serve")
    k = sdk(runner)
    with sync_playwright() as pw:
        viewer = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--no-first-run"])
        created = k.browsers.create(timeout_seconds=1, viewport={"width": 800, "height": 600})
        bid = created.session_id
        assert created.browser_live_view_url
        # Computer controls, one a second for longer than standby and timeout together: each
        # is answered (a closed browser's would be a 404).
        until = time.monotonic() + 9
        while time.monotonic() < until:
            k.browsers.computer.move_mouse(bid, x=10, y=10)
            time.sleep(1)  # the pace of an agent's steps
        # A live-view viewer, and nothing else, for as long again.
        tab = viewer.new_page()
        tab.goto(created.browser_live_view_url, wait_until="commit")
        poll(lambda: k.browsers.computer.move_mouse(bid, x=20, y=20) is None and tab.evaluate(
            "document.getElementById('live-state').dataset.state") == "live", timeout=30)
        until = time.monotonic() + 9
        while time.monotonic() < until:
            assert k.browsers.retrieve(bid).session_id == bid
            tab.wait_for_timeout(500)  # the viewer keeps drawing frames meanwhile
        assert not any(f"browser {bid} closed" in ln for ln in runner.lines)
        left = time.time()  # the viewer's last frame is no earlier than this
        viewer.close()
    runner.wait_line(f"browser {bid} closed: timed out after 1 s in standby", timeout=60)
    deleted = next(b for b in httpx.get(f"{runner.url}/browsers",
                                        params={"status": "deleted"}).json()
                   if b["session_id"] == bid)
    deleted_at = datetime.fromisoformat(deleted["deleted_at"].replace("Z", "+00:00"))
    # Closed no sooner than 5 s of standby plus its 1 s timeout after the viewer left.
    assert deleted_at.timestamp() - left >= 5.9


def test_ctrl_c_on_invoke_cancels_it_and_deletes_its_browsers(
        browsing: Callable[..., RunnerProcess], tmp_path: Path) -> None:
    """As Kernel's CLI: PATCH the invocation failed, then DELETE /invocations/{id}/browsers."""
    runner = browsing()
    k = sdk(runner)
    cli = ServerProcess([sys.executable, "-m", "kernel_actions.cli", "invoke", "browsing",
                         "hold", "--api-url", runner.url], tmp_path)
    try:
        def held() -> list[Any]:
            found = k.invocations.list(app_name="browsing", action_name="hold").items
            return [(inv, browsers) for inv in found
                    if (browsers := k.invocations.list_browsers(inv.id).browsers)]

        found = poll(held, timeout=60)
        assert isinstance(found, list) and len(found) == 1
        inv, browsers = found[0]
        folder = tmp_path / "data" / "browsers" / browsers[0].session_id
        assert processes_naming(folder)
        assert cli.stop() == 130, cli.output
    finally:
        cli.kill_group()
    assert f"cancelled invocation {inv.id}" in cli.output
    assert k.invocations.list_browsers(inv.id).browsers == []
    poll(lambda: gone(folder), timeout=15)
    final = k.invocations.retrieve(inv.id)
    assert final.status == "failed" and "cancelled by user" in (final.output or "")
