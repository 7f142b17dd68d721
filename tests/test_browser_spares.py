"""Warm spares: a browser started ahead of ``POST /browsers``, handed out at once, invisible
until then, counted in ``--max-browsers`` and stopped with the runner (real Chromium, the
official SDK as the client)."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from kernel import Kernel, RateLimitError

from .conftest import RunnerProcess, poll
from .helpers import sdk_client
from .test_browsers import BROWSER_MARKS, processes_naming

pytestmark = BROWSER_MARKS  # a Chromium, and Linux (processes are read from /proc)


def warm(runner: RunnerProcess) -> dict[str, Any]:
    """The runner's count of spares: ``ready``, ``starting``, ``wanted``, ``served``."""
    status = httpx.get(f"{runner.url}/_runner/status", timeout=30).json()
    return dict(status["browsers"]["warm"])


def wait_ready(runner: RunnerProcess, n: int = 1) -> None:
    poll(lambda: warm(runner)["ready"] == n, timeout=60, interval=0.05)


def folders(root: Path) -> set[str]:
    return {p.name for p in root.iterdir()} if root.is_dir() else set()


def started_line(runner: RunnerProcess, session_id: str) -> str:
    return runner.wait_line(f"browser {session_id} started")


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_the_next_create_is_served_by_a_spare_nobody_sees(
        start_runner: Callable[..., RunnerProcess], tmp_path: Path) -> None:
    runner = start_runner(None, command="serve")
    k = sdk_client(runner)
    root = tmp_path / "data" / "browsers"
    # None until a browser is asked for.
    assert warm(runner) == {"ready": 0, "starting": 0, "wanted": 0, "served": 0}
    first = k.browsers.create()
    assert "(warm spare)" not in started_line(runner, first.session_id)
    wait_ready(runner)
    ready_at = time.monotonic()
    # The spare runs (a Chromium in a folder of its own) but is no session.
    spare_ids = folders(root) - {first.session_id}
    assert len(spare_ids) == 1
    spare_id = spare_ids.pop()
    assert processes_naming(root / spare_id)
    assert [b.session_id for b in k.browsers.list()] == [first.session_id]
    assert [b["session_id"] for b in httpx.get(
        f"{runner.url}/browsers", params={"status": "all"}).json()] == [first.session_id]
    assert httpx.get(f"{runner.url}/_runner/status").json()["browsers"]["running"] == 1
    assert httpx.get(f"{runner.url}/browsers/{spare_id}").status_code == 404
    k.browsers.delete_by_id(first.session_id)
    # A spare idles unharmed: 5.5 s here, longer than the timeout of the session it becomes.
    while time.monotonic() < ready_at + 5.5:
        assert warm(runner)["ready"] == 1
        time.sleep(0.2)
    assert processes_naming(root / spare_id)

    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:  # started first: the session's 5 s leave room to connect
        # The next create gets it, with what it asked for.
        second = k.browsers.create(name="second", tags={"job": "a"}, timeout_seconds=5,
                                   headless=True,
                                   start_url="data:text/html,<title>Started</title>")
        assert second.session_id == spare_id
        assert started_line(runner, spare_id).endswith("(warm spare)")
        assert warm(runner)["served"] == 1
        assert second.name == "second" and second.tags == {"job": "a"} and second.headless
        assert second.timeout_seconds == 5 and second.browser_live_view_url is None
        assert second.viewport is not None
        assert (second.viewport.width, second.viewport.height) == (1920, 1080)
        assert [b.session_id for b in k.browsers.list()] == [spare_id]
        assert k.browsers.retrieve("second").session_id == spare_id
        # Its idle timeout starts when it is handed out: a sweep (every second) keeps it.
        until = time.monotonic() + 1.5
        while time.monotonic() < until:
            assert k.browsers.retrieve(spare_id).session_id == spare_id
            time.sleep(0.1)
        chromium = pw.chromium.connect_over_cdp(second.cdp_ws_url)
        page = chromium.contexts[0].pages[0]
        page.wait_for_function("document.title === 'Started'")
        assert page.evaluate("[window.outerWidth, window.outerHeight]") == [1920, 1080]
        chromium.close()
    runner.wait_line(f"browser {spare_id} closed: timed out after 5 s in standby", timeout=60)
    # Meanwhile the next spare started: the one after is warm too.
    wait_ready(runner)
    third = k.browsers.create()
    assert started_line(runner, third.session_id).endswith("(warm spare)")


def test_what_a_spare_cant_be_gets_a_cold_browser_and_the_cap_counts_spares(
        start_runner: Callable[..., RunnerProcess], tmp_path: Path) -> None:
    runner = start_runner(None, "--max-browsers", "2", command="serve")
    k: Kernel = sdk_client(runner)
    root = tmp_path / "data" / "browsers"
    first = k.browsers.create()
    wait_ready(runner)
    spare = (folders(root) - {first.session_id}).pop()
    # Another viewport: a spare can't change its screen. The spare gives its slot (it is no
    # session, so the user is not refused) and is gone before the cold one starts.
    small = k.browsers.create(viewport={"width": 800, "height": 600})
    assert small.session_id != spare
    assert "(warm spare)" not in started_line(runner, small.session_id)
    assert not processes_naming(root / spare) and not (root / spare).exists()
    assert small.viewport is not None and (small.viewport.width, small.viewport.height) == (
        800, 600)
    shot = k.browsers.computer.capture_screenshot(small.session_id).read()
    assert png_size(shot) == (800, 600)
    # Two sessions fill --max-browsers 2: no spare, and a third is refused.
    assert warm(runner)["ready"] + warm(runner)["starting"] == 0
    assert folders(root) == {first.session_id, small.session_id}
    with pytest.raises(RateLimitError):
        k.browsers.create(viewport={"width": 800, "height": 600})
    # A slot comes free: a spare of the last shape asked for takes it.
    k.browsers.delete_by_id(first.session_id)
    wait_ready(runner)
    again = k.browsers.create(viewport={"width": 800, "height": 600}, kiosk_mode=False)
    assert started_line(runner, again.session_id).endswith("(warm spare)")
    k.browsers.delete_by_id(again.session_id)
    wait_ready(runner)
    # Kiosk mode and a profile are given when Chromium starts: cold, and as asked.
    kiosk = k.browsers.create(viewport={"width": 800, "height": 600}, kiosk_mode=True)
    assert "(warm spare)" not in started_line(runner, kiosk.session_id)
    assert kiosk.kiosk_mode
    k.browsers.delete_by_id(kiosk.session_id)
    k.profiles.create(name="saved")
    wait_ready(runner)
    profiled = k.browsers.create(profile={"name": "saved"}, viewport={"width": 800,
                                                                      "height": 600})
    assert "(warm spare)" not in started_line(runner, profiled.session_id)


def test_spares_from_the_start_stop_with_the_runner(
        start_runner: Callable[..., RunnerProcess], tmp_path: Path) -> None:
    root = tmp_path / "data" / "browsers"
    runner = start_runner(None, "--warm-browsers", "2", command="serve")
    wait_ready(runner, 2)
    assert warm(runner)["wanted"] == 2
    assert len(folders(root)) == 2 and processes_naming(root)
    assert sdk_client(runner).browsers.list().items == []
    runner.proc.send_signal(signal.SIGTERM)
    assert runner.proc.wait(30) == 0
    assert processes_naming(root) == []
    assert folders(root) == set()
    # Stopped while a spare is still starting: nothing of it is left either.
    again = start_runner(None, "--warm-browsers", "1", command="serve",
                         data_dir=tmp_path / "d2")
    poll(lambda: warm(again)["starting"] == 1 and folders(tmp_path / "d2" / "browsers"),
         timeout=30, interval=0.01)
    again.proc.send_signal(signal.SIGTERM)
    assert again.proc.wait(30) == 0
    assert processes_naming(tmp_path / "d2" / "browsers") == []
    assert folders(tmp_path / "d2" / "browsers") == set()


def test_the_warm_browsers_flag() -> None:
    import subprocess

    for command in ("dev", "serve"):
        out = subprocess.run([sys.executable, "-m", "kernel_actions.cli", command, "--help"],
                             capture_output=True, text=True, timeout=60).stdout
        assert "--warm-browsers" in out
    bad = subprocess.run([sys.executable, "-m", "kernel_actions.cli", "serve", "--port", "0",
                          "--max-browsers", "2", "--warm-browsers", "3"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "warm browsers must be between 0 and --max-browsers" in (
        bad.stderr)


def test_a_starting_spare_gives_its_slot_at_once(
        start_runner: Callable[..., RunnerProcess], tmp_path: Path) -> None:
    root = tmp_path / "data" / "browsers"
    runner = start_runner(None, "--max-browsers", "1", "--warm-browsers", "1", command="serve")
    poll(lambda: warm(runner)["starting"] == 1 and folders(root), timeout=30, interval=0.01)
    spare = folders(root).pop()
    # The only slot is the spare's, and it can't be this browser: it is closed mid-start.
    k = sdk_client(runner)
    small = k.browsers.create(viewport={"width": 640, "height": 480})
    assert small.session_id != spare
    assert "(warm spare)" not in started_line(runner, small.session_id)
    assert not processes_naming(root / spare) and not (root / spare).exists()
    assert png_size(k.browsers.computer.capture_screenshot(small.session_id).read()) == (
        640, 480)
    assert warm(runner)["ready"] + warm(runner)["starting"] == 0
