"""Processes an action starts don't outlive cancel, timeout or the runner; none is a zombie.

Each action starts six: three children, an orphan (its shell exits), a child in a session
of its own (``start_new_session``) and an orphan in a session of its own (``setsid``).
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path

import httpx

from .helpers import RunnerProcess, poll


def lingering(pids: list[int], worker_pid: int | None) -> list[int]:
    """Pids still running, or exited but left unreaped by the worker (its zombies)."""
    left = []
    for pid in pids:
        try:
            raw = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            continue
        state, ppid = raw[raw.rfind(")") + 2:].split()[:2]
        if state != "Z" or int(ppid) == worker_pid:
            left.append(pid)
    return left


def read_pids(path: Path) -> list[int]:
    def ready() -> list[int] | None:
        text = path.read_text() if path.exists() else ""
        return [int(p) for p in text.split()] if text.endswith("\n") else None

    pids = poll(ready, timeout=30)
    assert isinstance(pids, list) and len(pids) == 6
    return pids


def spawn(c: httpx.Client, action: str, pids_file: Path, wait: float, **extra: object) -> dict:
    r = c.post("/invocations", json={
        "app_name": "children", "action_name": action,
        "payload": json.dumps({"pids_file": str(pids_file), "wait": wait}), **extra})
    assert r.status_code in (200, 202), r.text
    return r.json()


def worker_pid(c: httpx.Client) -> int:
    pid = c.get("/_runner/status").json()["live"]["pid"]
    assert isinstance(pid, int)
    return pid


def leave_and_keep_running(c: httpx.Client, tmp_path: Path) -> tuple[int, list[int]]:
    """One action leaves its processes running, another runs on: the worker, their pids."""
    worker = worker_pid(c)
    left = spawn(c, "spawn-and-leave", tmp_path / "left", 0)
    running = spawn(c, "spawn-and-wait", tmp_path / "running", 300, **{"async": True})
    pids = json.loads(left["output"]) + read_pids(tmp_path / "running")
    assert running["status"] in ("queued", "running")
    assert lingering(pids, worker) == pids
    return worker, pids


def test_cancel_and_timeout_kill_what_the_action_started(
        start_runner: Callable[..., RunnerProcess], app_copy: Callable[[str], Path],
        tmp_path: Path) -> None:
    entry = app_copy("children_app.py")
    runner = start_runner(entry, "--sync-timeout", "3", cwd=entry.parent)
    with runner.client() as c:
        worker = worker_pid(c)
        cancelled = spawn(c, "spawn-and-wait", tmp_path / "cancel", 300, **{"async": True})
        pids = read_pids(tmp_path / "cancel")
        assert lingering(pids, worker) == pids  # they run
        r = c.patch(f"/invocations/{cancelled['id']}",
                    json={"status": "failed", "output": '{"error": "stop"}'})
        assert r.status_code == 200, r.text
        poll(lambda: not lingering(pids, worker), timeout=15)

        timed_out = spawn(c, "spawn-and-wait", tmp_path / "timeout", 300)
        assert "timed out" in timed_out["status_reason"]
        pids = read_pids(tmp_path / "timeout")
        poll(lambda: not lingering(pids, worker), timeout=15)
        assert worker_pid(c) == worker  # done without replacing the worker


def test_children_that_exit_unwaited_are_reaped(
        start_runner: Callable[..., RunnerProcess], app_copy: Callable[[str], Path],
        tmp_path: Path) -> None:
    entry = app_copy("children_app.py")
    runner = start_runner(entry, cwd=entry.parent)
    with runner.client() as c:
        worker = worker_pid(c)
        done = spawn(c, "spawn-and-return", tmp_path / "early", 0.3)
        assert done["status"] == "succeeded"
        pids = json.loads(done["output"])
        poll(lambda: not lingering(pids, worker), timeout=15)


def test_runner_stop_leaves_no_child_behind(
        start_runner: Callable[..., RunnerProcess], app_copy: Callable[[str], Path],
        tmp_path: Path) -> None:
    entry = app_copy("children_app.py")
    runner = start_runner(entry, cwd=entry.parent)
    with runner.client() as c:
        worker, pids = leave_and_keep_running(c, tmp_path)
    runner.signal(signal.SIGINT)
    assert runner.proc.wait(30) == 0
    poll(lambda: not lingering(pids, worker), timeout=15)


def test_a_replaced_worker_takes_its_processes_along(
        start_runner: Callable[..., RunnerProcess], app_copy: Callable[[str], Path],
        tmp_path: Path) -> None:
    entry = app_copy("children_app.py")
    runner = start_runner(entry, "--sync-timeout", "3", cwd=entry.parent)
    with runner.client() as c:
        worker = worker_pid(c)
        stuck = spawn(c, "spawn-and-ignore-cancel", tmp_path / "stuck", 300)
        assert "timed out" in stuck["status_reason"]
        pids = read_pids(tmp_path / "stuck")
        runner.wait_line("did not stop a cancelled action; replacing it", timeout=20)
        poll(lambda: c.get("/_runner/status").json()["live"]["pid"] not in (None, worker),
             timeout=20)
        poll(lambda: not lingering(pids, worker), timeout=15)


def test_after_kill_9_the_next_runner_on_the_data_dir_leaves_nothing_running(
        start_runner: Callable[..., RunnerProcess], app_copy: Callable[[str], Path],
        tmp_path: Path) -> None:
    """A runner killed with ``kill -9`` can't take anything along (its workers die with it,
    what they started does not); the next start on the same data dir kills it all."""
    entry = app_copy("children_app.py")
    runner = start_runner(entry, cwd=entry.parent)
    with runner.client() as c:
        worker, pids = leave_and_keep_running(c, tmp_path)
    runner.kill()
    # The worker goes with the runner; the processes its actions started are orphans now.
    poll(lambda: not lingering([worker], None), timeout=15)
    assert lingering(pids, None) != []
    again = start_runner(entry, cwd=entry.parent)
    poll(lambda: not lingering(pids, None), timeout=15)
    again.wait_line("process(es) a previous run on this data folder left")
