"""``browsers.playwright.execute`` and its executors, through the official SDKs, on a real
Chromium showing a page served on loopback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from kernel import Kernel, NotFoundError

from kernel_actions.runner.browsers.playwright_exec import (
    MAX_NAMED_EXECUTORS,
    ExecutorPool,
    parse_execute,
)
from kernel_actions.runner.errors import ApiError

from .conftest import RunnerProcess, http_server, poll

NODE_DIR = Path(__file__).parent / "node"
PAGE = (b"<!doctype html><html><head><title>Local Page</title></head><body>"
        b"<p id='greeting'>hello</p>"
        b"<button id='go' onclick=\"document.getElementById('greeting').textContent='clicked'\">"
        b"go</button></body></html>")


class Rendezvous:
    """Named arrivals that requests can wait on, to prove calls overlap (or don't)."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.arrived: dict[str, threading.Event] = {}
        self.lock = threading.Lock()

    def event(self, name: str) -> threading.Event:
        with self.lock:
            return self.arrived.setdefault(name, threading.Event())

    def answer(self, path: str) -> tuple[int, str, bytes]:
        text = "text/plain"
        if path == "/":
            return 200, "text/html; charset=utf-8", PAGE
        parts = path.strip("/").split("/")
        if parts[0] == "log" and len(parts) == 2:  # /log/<entry>
            with self.lock:
                self.log.append(parts[1])
            return 200, text, b"ok"
        if parts[0] == "meet" and len(parts) == 3:  # /meet/<me>/<other>: wait for <other>
            self.event(parts[1]).set()
            met = self.event(parts[2]).wait(30)
            return (200, text, b"met") if met else (504, text, b"alone")
        return 404, text, b""


@pytest.fixture
def site() -> Iterator[tuple[str, Rendezvous]]:
    rendezvous = Rendezvous()
    with http_server(rendezvous.answer) as url:
        yield url, rendezvous


@pytest.fixture
def runner(start_runner: Callable[..., RunnerProcess]) -> RunnerProcess:
    return start_runner(None, command="serve")


def sdk(runner: RunnerProcess) -> Kernel:
    return Kernel(base_url=runner.url, api_key="local", max_retries=0, timeout=120)


def processes_naming(path: Path) -> list[int]:
    marker = str(path).encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if marker in Path(f"/proc/{entry}/cmdline").read_bytes():
                    found.append(int(entry))
            except OSError:
                pass
    return found


def node_executors(folder: Path) -> list[int]:
    return processes_naming(folder / "playwright")


def test_execute_reads_and_changes_a_real_page(runner: RunnerProcess,
                                               site: tuple[str, Rendezvous],
                                               tmp_path: Path) -> None:
    url, _ = site
    k = sdk(runner)
    browser = k.browsers.create()
    first = k.browsers.playwright.execute(
        browser.session_id, code=f"await page.goto({json.dumps(url + '/')}); "
                                 "console.log('on', page.url()); return await page.title();")
    assert first.success, first.error
    assert first.result == "Local Page"
    assert first.stdout == f"on {url}/\n"
    assert first.tab is not None and len(first.tab.target_id) == 32 and not first.tab.created

    # TypeScript: the annotations are stripped; the click changes the DOM of the same tab.
    clicked = k.browsers.playwright.execute(browser.session_id, code=(
        "const sel: string = '#go';\n"
        "await page.click(sel);\n"
        "return { text: await page.textContent('#greeting') as string, n: 1 + 1 };"))
    assert clicked.success, clicked.error
    assert clicked.result == {"text": "clicked", "n": 2}
    assert clicked.tab is not None and clicked.tab.target_id == first.tab.target_id

    # The change is seen over a separate CDP connection, not only by the executor.
    seen = k.browsers.playwright.execute(
        browser.session_id, code="return await page.evaluate(() => document.body.innerText)")
    assert "clicked" in str(seen.result)

    # A browser's name reaches the same executors; nothing returned is null.
    named = k.browsers.create(name="by-name")
    none = k.browsers.playwright.execute("by-name", code="await page.title()")
    assert none.success and none.result is None

    folder = tmp_path / "data" / "browsers" / browser.session_id
    assert node_executors(folder), "the executor runs as its own Node process"
    k.browsers.delete_by_id(browser.session_id)
    k.browsers.delete_by_id(named.session_id)
    poll(lambda: not node_executors(folder), timeout=15)


def test_failures_are_answers_not_server_errors(runner: RunnerProcess) -> None:
    k = sdk(runner)
    browser = k.browsers.create()
    bid = browser.session_id
    thrown = k.browsers.playwright.execute(bid, code="console.error('about to'); "
                                                     "throw new Error('boom at line 1')")
    assert not thrown.success and thrown.error == "boom at line 1"
    assert thrown.stderr == "about to\n" and thrown.result is None

    syntax = k.browsers.playwright.execute(bid, code="return ((")
    assert not syntax.success and syntax.error and syntax.error.startswith("SyntaxError")
    assert syntax.tab is None  # it failed before a tab was bound

    enum = k.browsers.playwright.execute(bid, code="enum E { A } return E.A")
    assert not enum.success and "enum" in (enum.error or "")

    cyclic = k.browsers.playwright.execute(bid, code="const a: any = {}; a.a = a; return a")
    assert not cyclic.success and "JSON" in (cyclic.error or "")

    hung = k.browsers.playwright.execute(bid, code="await new Promise(() => {})", timeout_sec=1)
    assert not hung.success and hung.error == "execution timed out after 1 s"

    # The executor comes back for the next call.
    after = k.browsers.playwright.execute(bid, code="return 40 + 2")
    assert after.success and after.result == 42


def test_executors_serialise_their_calls_and_run_side_by_side(
        runner: RunnerProcess, site: tuple[str, Rendezvous], tmp_path: Path) -> None:
    url, rendezvous = site
    k = sdk(runner)
    bid = k.browsers.create().session_id

    def logged(tag: str) -> str:
        return (f"await fetch('{url}/log/{tag}-in');"
                "await new Promise(r => setTimeout(r, 300));"
                f"await fetch('{url}/log/{tag}-out'); return '{tag}';")

    # Two calls on one executor never overlap.
    results: dict[str, object] = {}

    def call(tag: str, executor: str, code: str) -> None:
        results[tag] = k.browsers.playwright.execute(bid, code=code, executor=executor)

    threads = [threading.Thread(target=call, args=(t, "solo", logged(t))) for t in ("x", "y")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert all(getattr(results[t], "success", False) for t in ("x", "y")), results
    log = rendezvous.log
    assert sorted(log) == ["x-in", "x-out", "y-in", "y-out"]
    assert log[0][0] == log[1][0] and log[2][0] == log[3][0], log  # in, out, in, out

    # Calls on two executors overlap: each waits until the other has arrived. (Both are
    # started first, so neither waits on the other's Node start.)
    for name in ("left", "right"):
        assert k.browsers.playwright.execute(bid, code="return 1", executor=name).success
    meet = "const r = await fetch('{u}/meet/{me}/{other}'); return await r.text();"
    threads = [
        threading.Thread(target=call, args=("p", "left", meet.format(u=url, me="p", other="q"))),
        threading.Thread(target=call, args=("q", "right", meet.format(u=url, me="q", other="p"))),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert [getattr(results.get(t), "result", None) for t in ("p", "q")] == ["met", "met"], [
        getattr(results.get(t), "error", None) for t in ("p", "q")]

    # Each named executor owns its own tab; the list shows them after the default.
    listed = k.browsers.playwright.executors.list(bid).executors
    assert [e.name for e in listed] == ["default", "solo", "left", "right"]
    tabs = {e.name: e.target_id for e in listed}
    assert tabs["default"] is None and len({tabs["solo"], tabs["left"], tabs["right"]}) == 3
    assert not any(e.busy for e in listed)

    def pages() -> int:
        reply = k.browsers.playwright.execute(
            bid, code="return browser.contexts().flatMap(c => c.pages()).length")
        assert reply.success, reply.error
        return int(str(reply.result))

    before = pages()
    k.browsers.playwright.executors.delete("solo", id_or_name=bid)
    assert [e.name for e in k.browsers.playwright.executors.list(bid).executors] == [
        "default", "left", "right"]
    assert pages() == before - 1  # its tab was closed with it
    k.browsers.playwright.executors.delete("left", id_or_name=bid, close_tab=False)
    assert pages() == before - 1
    with pytest.raises(NotFoundError):
        k.browsers.playwright.executors.delete("nobody", id_or_name=bid)

    folder = tmp_path / "data" / "browsers" / bid
    assert len(node_executors(folder)) == 2  # default and right; solo and left were stopped
    k.browsers.delete_by_id(bid)
    poll(lambda: not node_executors(folder), timeout=15)


def test_bad_requests_and_auth(start_runner: Callable[..., RunnerProcess]) -> None:
    runner = start_runner(None, "--api-key", "sekret", command="serve")
    auth = {"Authorization": "Bearer sekret"}
    base = runner.url
    bid = httpx.post(f"{base}/browsers", json={}, headers=auth, timeout=60).json()["session_id"]
    execute = f"{base}/browsers/{bid}/playwright/execute"
    assert httpx.post(execute, json={"code": "return 1"}).status_code == 401
    assert httpx.post(execute, json={"code": "return 1"},
                      headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert httpx.get(f"{base}/browsers/{bid}/playwright/executors").status_code == 401
    assert httpx.delete(f"{base}/browsers/{bid}/playwright/executors/default").status_code == 401
    for body, needle in [
        ({}, "'code'"), ({"code": ""}, "'code'"), ({"code": 1}, "'code'"),
        ({"code": "return 1", "timeout_sec": 0}, "'timeout_sec'"),
        ({"code": "return 1", "timeout_sec": "5"}, "'timeout_sec'"),
        ({"code": "return 1", "executor": "../x"}, "'executor'"),
        ({"code": "x" * 2_000_000}, "longer than"),
        ({"code": "x" * 20_000_000}, "too large"),
    ]:
        r = httpx.post(execute, json=body, headers=auth, timeout=30)
        assert r.status_code == 400 and needle in r.json()["message"], (body, r.text)
    r = httpx.post(execute, content=b"{nope", headers={**auth, "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["code"] == "bad_request"
    r = httpx.post(f"{base}/browsers/nope/playwright/execute", json={"code": "1"}, headers=auth)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    r = httpx.delete(f"{base}/browsers/{bid}/playwright/executors/x?close_tab=maybe",
                     headers=auth)
    assert r.status_code == 400
    ok = httpx.post(execute, json={"code": "return 1"}, headers=auth, timeout=60)
    assert ok.status_code == 200 and ok.json()["result"] == 1


def test_request_parsing_and_the_named_executor_cap() -> None:
    assert parse_execute({"code": "return 1"}) == ("return 1", "default", 60)
    assert parse_execute({"code": "x", "executor": "a.b-1", "timeout_sec": 5}) == (
        "x", "a.b-1", 5)
    pool = ExecutorPool("b", "ws://127.0.0.1:1/devtools/browser/x", Path("/nonexistent"))
    for i in range(MAX_NAMED_EXECUTORS):
        pool.executor_for(f"e{i}")
    with pytest.raises(ApiError) as caught:
        pool.executor_for("one-more")
    assert caught.value.status == 409 and "delete one" in caught.value.message
    assert caught.value.headers["x-should-retry"] == "false"
    assert pool.executor_for("e0").name == "e0"  # an existing one is still reachable


def test_the_node_sdk_executes_and_records(runner: RunnerProcess, site: tuple[str, Rendezvous]) -> None:
    node = shutil.which("node")
    assert node, "node is required for the @onkernel/sdk tests (see .ci/run)"
    url, _ = site
    env = {**os.environ, "KERNEL_BASE_URL": runner.url, "KERNEL_API_KEY": "local",
           "PAGE_URL": url + "/"}
    proc = subprocess.run([node, "browser_apis.mjs"], cwd=NODE_DIR, env=env,
                          capture_output=True, text=True, timeout=180)
    lines = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
    failures = [f"{r['name']}: {r['error']}" for r in lines if not r["ok"]]
    assert not failures, "\n".join(failures) + "\n" + proc.stderr
    assert len(lines) == 4 and proc.returncode == 0, proc.stdout + proc.stderr


def test_an_executor_lets_an_unused_browser_reach_its_idle_timeout(
        runner: RunnerProcess, tmp_path: Path) -> None:
    k = sdk(runner)
    browser = k.browsers.create(timeout_seconds=2)
    reply = k.browsers.playwright.execute(browser.session_id, code="return 1")
    assert reply.success, reply.error
    # The executor drops its connection after a few seconds without calls; then the browser
    # is idle, closes, and takes the executor's process with it.
    folder = tmp_path / "data" / "browsers" / browser.session_id
    poll(lambda: not folder.exists() and not node_executors(folder), timeout=60)
    runner.wait_line(f"browser {browser.session_id} closed: timed out after 2 s in standby")


def test_deleting_a_busy_executor_fails_its_call_and_the_default_one_restarts(
        runner: RunnerProcess) -> None:
    k = sdk(runner)
    bid = k.browsers.create().session_id
    replies: dict[str, object] = {}

    def hang(executor: str) -> None:
        replies[executor] = k.browsers.playwright.execute(
            bid, code="await new Promise(() => {})", executor=executor, timeout_sec=120)

    for name in ("default", "worker"):
        thread = threading.Thread(target=hang, args=(name,))
        thread.start()
        poll(lambda n=name: any(e.name == n and e.busy for e in
                                k.browsers.playwright.executors.list(bid).executors),
             timeout=60)
        k.browsers.playwright.executors.delete(name, id_or_name=bid)
        thread.join(60)
    assert getattr(replies["default"], "error", None) == "executor 'default' was restarted"
    assert getattr(replies["worker"], "error", None) == "executor 'worker' was deleted"
    assert [e.name for e in k.browsers.playwright.executors.list(bid).executors] == ["default"]
    after = k.browsers.playwright.execute(bid, code="return 'back'")
    assert after.success and after.result == "back"
