"""Browsers that run Playwright code and record replays leave nothing behind when deleted:
no Chromium, no Node executor, no encoder (process or thread); only the warm spare that the
next create will get runs."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from kernel import Kernel

from .conftest import RunnerProcess, poll

CYCLES = 4


def processes(marker: str) -> list[str]:
    """Command lines of live processes that contain ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if marker in cmd:
                found.append(cmd)
    return found


def children(pid: int) -> list[str]:
    """Command lines of the live processes whose parent is ``pid``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and cmd:
                found.append(cmd)
    return found


def threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no thread count")


def spare_folder(browsers: Path) -> str | None:
    """The one folder left once every session is deleted: the runner's warm spare."""
    left = [p for p in browsers.iterdir()] if browsers.is_dir() else []
    assert len(left) <= 1, left
    return str(left[0]) + os.sep if left else None


def settled(browsers: Path) -> bool:
    """Nothing runs for a deleted browser: only the spare's processes are left."""
    spare = spare_folder(browsers)
    return all(spare is not None and spare in c for c in processes(str(browsers) + os.sep))


def test_create_execute_record_delete_cycles_leave_nothing(
        start_runner: Callable[..., RunnerProcess], tmp_path: Path) -> None:
    runner = start_runner(None, command="serve")
    k = Kernel(base_url=runner.url, api_key="local", max_retries=0, timeout=120)
    browsers = tmp_path / "data" / "browsers"

    def cycle(i: int) -> None:
        bid = k.browsers.create(viewport={"width": 320, "height": 240}).session_id
        replay = k.browsers.replays.start(bid, framerate=5)
        reply = k.browsers.playwright.execute(
            bid, code=f"await page.goto('about:blank'); await page.setContent('<h1>{i}</h1>'); "
                      "return await page.textContent('h1')")
        assert reply.success and reply.result == str(i), reply.error
        shot = k.browsers.computer.capture_screenshot(bid).read()
        assert shot[:4] == b"\x89PNG"
        if i % 2:  # half stop their replay; the others leave it to the browser's deletion
            k.browsers.replays.stop(replay.replay_id, id_or_name=bid)
        k.browsers.delete_by_id(bid)

    def spare_ready() -> bool:
        return bool(runner.client().get("/_runner/status").json()["browsers"]["warm"]["ready"])

    for i in range(2):  # warm up: the runner's thread pools reach their working size
        cycle(i)
    poll(spare_ready, timeout=60)
    poll(lambda: settled(browsers), timeout=20)
    baseline = threads(runner.proc.pid)

    for i in range(2, 2 + CYCLES):
        cycle(i)

    poll(spare_ready, timeout=60)
    poll(lambda: settled(browsers), timeout=20)
    spare = spare_folder(browsers)
    assert spare is not None  # the next create's browser, already running
    assert not [c for c in children(runner.proc.pid)
                if any(name in c for name in ("chrom", "node", "ffmpeg", "setpriv"))
                and spare not in c]
    # One leaked encoder or websocket thread per cycle would show here.
    poll(lambda: threads(runner.proc.pid) <= baseline + 3, timeout=20)
