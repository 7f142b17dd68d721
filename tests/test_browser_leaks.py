"""Browsers that run Playwright code and record replays leave nothing behind when deleted:
no Chromium, no Node executor, no encoder (process or thread)."""

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


def test_create_execute_record_delete_cycles_leave_nothing(
        start_runner: Callable[..., RunnerProcess], tmp_path: Path) -> None:
    runner = start_runner(None, command="serve")
    k = Kernel(base_url=runner.url, api_key="local", max_retries=0, timeout=120)
    browsers = tmp_path / "data" / "browsers"

    def cycle(i: int) -> None:
        bid = k.browsers.create(viewport={"width": 320, "height": 240}).session_id
        replay = k.browsers.replays.start(bid, framerate=5)
        reply = k.browsers.playwright.execute(
            bid, code=f"await page.setContent('<h1>{i}</h1>'); return await page.textContent('h1')")
        assert reply.success and reply.result == str(i), reply.error
        if i % 2:  # half stop their replay; the others leave it to the browser's deletion
            k.browsers.replays.stop(replay.replay_id, id_or_name=bid)
        k.browsers.delete_by_id(bid)

    for i in range(2):  # warm up: the runner's thread pools reach their working size
        cycle(i)
    poll(lambda: not processes(str(browsers) + os.sep), timeout=20)
    baseline = threads(runner.proc.pid)

    for i in range(2, 2 + CYCLES):
        cycle(i)

    poll(lambda: not processes(str(browsers) + os.sep), timeout=20)
    assert not [c for c in children(runner.proc.pid)
                if any(name in c for name in ("chrom", "node", "ffmpeg", "setpriv"))]
    assert not list(browsers.iterdir())
    # One leaked encoder or websocket thread per cycle would show here.
    poll(lambda: threads(runner.proc.pid) <= baseline + 3, timeout=20)
