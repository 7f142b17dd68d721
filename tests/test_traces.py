"""Invocation traces: a scripted agent drives a browser created with an invocation's id
through the official SDK (screenshot, click, type, execute, a replay), and the runner's trace
API gives back every step, in order, with the screenshots, behind the front door's rules.

:func:`scripted_agent` is also what ``test_dashboard.py`` shows in the invocation view.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from kernel import Kernel

from kernel_actions.runner.browsers.display import display_support

from .agent_loop import png_size
from .computer_page import FIELD_Y, controls_page
from .conftest import BROWSER_MARKS
from .door_checks import OTHER, assert_guarded, assert_other_users_refused
from .helpers import APPS, RunnerProcess, invoke, poll

pytestmark = [
    *BROWSER_MARKS,
    pytest.mark.skipif(display_support() is not None,
                       reason=f"no virtual display: {display_support()}"),
]

#: The steps :func:`scripted_agent` takes, in order.
AGENT_STEPS = ["browser.create", "replay.start", "playwright.execute", "computer.screenshot",
               "computer.click_mouse", "computer.type", "computer.screenshot",
               "playwright.execute", "replay.stop", "browser.delete"]
CLICK = (600, FIELD_Y + 40)


@dataclass
class AgentRun:
    """What :func:`scripted_agent` did."""

    session_id: str
    replay_id: str
    first_shot: bytes


def scripted_agent(url: str, invocation_id: str, key: str = "local") -> AgentRun:
    """An agent's run on a browser of ``invocation_id``: :data:`AGENT_STEPS`."""
    k = Kernel(base_url=url, api_key=key, max_retries=0, timeout=90)
    with controls_page() as page:
        sid = k.browsers.create(invocation_id=invocation_id, timeout_seconds=120,
                                viewport={"width": 1024, "height": 768}).session_id
        replay = k.browsers.replays.start(sid, framerate=10).replay_id
        went = k.browsers.playwright.execute(
            sid, code=f"await page.goto({json.dumps(page.url)}); return page.url()")
        assert went.success, went.error
        shot = k.browsers.computer.capture_screenshot(sid).read()
        k.browsers.computer.click_mouse(sid, x=CLICK[0], y=CLICK[1])
        k.browsers.computer.type_text(sid, text="hello trace")
        k.browsers.computer.capture_screenshot(sid).read()
        failed = k.browsers.playwright.execute(sid, code="throw new Error('boom in the page')")
        assert not failed.success
        k.browsers.replays.stop(replay, id_or_name=sid)
        k.browsers.delete_by_id(sid)
    return AgentRun(sid, replay, shot)


def start_dash(start_runner: Callable[..., RunnerProcess], tmp_path: Path,
               *extra: str) -> RunnerProcess:
    folder = tmp_path / "app"
    folder.mkdir()
    shutil.copy(APPS / "dashboard_app.py", folder / "main.py")
    return start_runner(folder / "main.py", *extra, cwd=folder)


def trace_of(url: str, inv_id: str, steps: int, key: str | None = None) -> dict:
    """The trace once it has ``steps`` steps (writes are batched)."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}

    def got() -> dict | None:
        body = httpx.get(f"{url}/_runner/invocations/{inv_id}/trace", headers=headers).json()
        return body if len(body["steps"]) >= steps else None

    return poll(got, timeout=20)  # type: ignore[return-value]


@pytest.mark.timeout(240)
def test_every_call_of_an_invocations_browser_is_a_step(
        start_runner: Callable[..., RunnerProcess], tmp_path: Path) -> None:
    runner = start_dash(start_runner, tmp_path)
    url = runner.url or ""
    gate = tmp_path / "gate"
    inv = invoke(url, "gated", f'"{gate}"', app="dash", is_async=True)
    run = scripted_agent(url, inv["id"])
    gate.touch()
    trace = trace_of(url, inv["id"], len(AGENT_STEPS))
    steps = trace["steps"]
    assert [s["kind"] for s in steps] == AGENT_STEPS, steps
    assert [s["step"] for s in steps] == list(range(1, len(AGENT_STEPS) + 1))
    assert all(s["browser_id"] == run.session_id for s in steps)
    starts = [s["started_ns"] for s in steps]
    assert starts == sorted(starts) and all(s["duration_ms"] >= 0 for s in steps)
    create, start, went, shot, click, typed, _, failed, stop, _ = steps
    assert create["args"]["invocation_id"] == inv["id"]
    assert start["replay_id"] == stop["replay_id"] == run.replay_id
    assert start["video_url"] == f"/_dashboard/replays/{run.session_id}/{run.replay_id}/video"
    assert went["result"]["success"] is True and "page.goto" in went["args"]["code"]
    assert failed["result"]["success"] is False
    assert "boom in the page" in failed["result"]["error"]
    assert click["args"] == {"x": CLICK[0], "y": CLICK[1]} and not click["has_screenshot"]
    assert typed["args"] == {"text": "hello trace"}
    assert [s["step"] for s in steps if s["has_screenshot"]] == [4, 7]
    png = httpx.get(f"{url}/_runner/invocations/{inv['id']}/trace/4/screenshot")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content == run.first_shot and png_size(png.content) == (1024, 768)
    # Only the steps after one (what the dashboard asks for as it follows a trace).
    later = httpx.get(f"{url}/_runner/invocations/{inv['id']}/trace", params={"after": 8}).json()
    assert [s["step"] for s in later["steps"]] == [9, 10]
    # Bad input: a JSON 4xx that says why.
    for path, status in [(f"/_runner/invocations/{inv['id']}/trace/abc/screenshot", 400),
                         (f"/_runner/invocations/{inv['id']}/trace/0/screenshot", 400),
                         (f"/_runner/invocations/{inv['id']}/trace/5/screenshot", 404),
                         (f"/_runner/invocations/{inv['id']}/trace/99/screenshot", 404),
                         (f"/_runner/invocations/{inv['id']}/trace?after=-1", 400),
                         (f"/_runner/invocations/{inv['id']}/trace?after=x", 400),
                         ("/_runner/invocations/nope/trace", 404),
                         ("/_runner/invocations/nope/trace/1/screenshot", 404)]:
        r = httpx.get(url + path)
        assert r.status_code == status and r.json()["message"], (path, r.status_code, r.text)
    # Another invocation's trace is its own: empty here.
    other = invoke(url, "greet", '{"name": "x"}', app="dash")
    assert httpx.get(f"{url}/_runner/invocations/{other['id']}/trace").json()["steps"] == []
    # The Browsers view's source: the closed browser, with its invocation.
    browsers = httpx.get(f"{url}/_runner/browsers").json()
    assert browsers["open"] == []
    assert [(b["session_id"], b["invocation_id"]) for b in browsers["closed"]] == [
        (run.session_id, inv["id"])]


def test_traces_keep_the_front_doors_rules(start_runner: Callable[..., RunnerProcess],
                                           tmp_path: Path) -> None:
    runner = start_dash(start_runner, tmp_path, "--api-key", "k3y")
    url = runner.url or ""
    inv = invoke(url, "greet", '{"name": "x"}', app="dash", key="k3y")
    paths = [f"/_runner/invocations/{inv['id']}/trace",
             f"/_runner/invocations/{inv['id']}/trace/1/screenshot", "/_runner/browsers"]
    assert_guarded(url, "k3y", [("GET", p) for p in paths], [])
    ok = httpx.get(url + paths[0], headers={"Authorization": "Bearer k3y"})
    assert ok.status_code == 200 and ok.json()["steps"] == []


@pytest.mark.skipif(OTHER is None, reason="no other uid to run a client as (root on Linux)")
def test_another_user_gets_no_trace(start_runner: Callable[..., RunnerProcess],
                                    tmp_path: Path) -> None:
    runner = start_dash(start_runner, tmp_path)
    inv = invoke(runner.url or "", "greet", '{"name": "x"}', app="dash")
    assert_other_users_refused(runner.url or "", [f"/_runner/invocations/{inv['id']}/trace",
                                                  "/_runner/browsers"])
