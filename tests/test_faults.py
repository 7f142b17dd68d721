"""Faults: crashed workers, stuck actions, a runner killed or stopped mid-work."""

from __future__ import annotations

import functools
import json
import signal
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from .helpers import RunnerProcess, all_invocations, invoke, poll

post = functools.partial(invoke, app="conformance")


def test_segfault_fails_only_that_workers_invocations(conformance: RunnerProcess) -> None:
    with conformance.client() as c:
        bystander = post(c, "sleep", "30", **{"async": True})
        poll(lambda: c.get(f"/invocations/{bystander['id']}").json()["status"] == "running")
        crashed = post(c, "segfault")
        assert crashed["status"] == "failed"
        assert crashed["status_reason"] == "Worker crashed (killed by SIGSEGV)"
        # The bystander shared the worker, so it failed too, with the same reason: the crash
        # was noticed long before its 30 s sleep could have ended.
        other = c.get(f"/invocations/{bystander['id']}").json()
        assert other["status"] == "failed" and "Worker crashed" in other["status_reason"]
        assert post(c, "echo", '"next"')["output"] == '"next"'
    conformance.wait_line("starting a fresh one")


def test_action_that_swallows_cancellation_gets_its_worker_replaced(
        conformance: RunnerProcess) -> None:
    with conformance.client() as c:
        # --sync-timeout is 3 s for this runner: the timeout fires, cancel is ignored.
        stuck = post(c, "stubborn", "60")
        assert stuck["status"] == "failed" and "timed out" in stuck["status_reason"]
        conformance.wait_line("did not stop a cancelled action; replacing it", timeout=10)
        after = post(c, "context")
        assert after["status"] == "succeeded"
        detail = c.get(f"/invocations/{after['id']}", params={"detail": 1}).json()
        assert detail["code_generation"] == 2


@pytest.mark.timeout(600)  # a thousand invocations, twice started, on a busy machine
def test_kill_9_then_restart_accounts_for_every_invocation(
        start_runner: Callable[..., RunnerProcess], app_copy: Callable[[str], Path],
        tmp_path: Path) -> None:
    entry = app_copy("conformance_app.py")
    data = tmp_path / "kill-data"
    first = start_runner(entry, "--max-concurrency", "20", cwd=entry.parent, data_dir=data)
    submitted: list[str] = []
    with first.client() as c:
        for _ in range(1000):
            submitted.append(post(c, "sleep", "0.3", **{"async": True})["id"])
        poll(lambda: c.get("/invocations", params={"status": "running", "limit": 1}).json())
    first.kill()  # SIGKILL: no chance to clean up

    second = start_runner(entry, "--max-concurrency", "50", cwd=entry.parent, data_dir=data)
    line = second.wait_line("recovered from the last run")
    assert "queued invocation(s) will run" in line
    with second.client() as c:
        poll(lambda: not c.get("/invocations", params={"status": "queued", "limit": 1}).json()
             and not c.get("/invocations", params={"status": "running", "limit": 1}).json(),
             timeout=300, interval=0.2)
        every = all_invocations(c)
    assert sorted(i["id"] for i in every) == sorted(submitted)  # none missing, none extra
    counts = Counter(i["status"] for i in every)
    assert set(counts) <= {"succeeded", "failed"}
    assert counts["succeeded"] > 750
    failed = [i for i in every if i["status"] == "failed"]
    assert failed and all(i["status_reason"] == "Invocation interrupted by a runner restart"
                          for i in failed)
    assert all(json.loads(i["output"])["error"] == "interrupted" for i in failed)


def test_ctrl_c_lets_running_invocations_finish_then_exits_0(
        conformance: RunnerProcess) -> None:
    with conformance.client() as c:
        quick = post(c, "sleep", "1", **{"async": True})
        poll(lambda: c.get(f"/invocations/{quick['id']}").json()["status"] == "running")
        conformance.signal(signal.SIGINT)
        assert conformance.proc.wait(20) == 0
    # The invocation finished during the grace period.
    out = conformance.output
    assert f"succeeded conformance/sleep {quick['id']}" in out


def test_ctrl_c_fails_what_outlives_the_grace_period(
        start_runner: Callable[..., RunnerProcess], app_copy: Callable[[str], Path],
        tmp_path: Path) -> None:
    entry = app_copy("conformance_app.py")
    runner = start_runner(entry, cwd=entry.parent, data_dir=tmp_path / "d")
    with runner.client() as c:
        long = post(c, "sleep", "60", **{"async": True})
        poll(lambda: c.get(f"/invocations/{long['id']}").json()["status"] == "running")
    runner.signal(signal.SIGINT)
    assert runner.proc.wait(20) == 0
    again = start_runner(entry, cwd=entry.parent, data_dir=tmp_path / "d")
    with again.client() as c:
        inv = c.get(f"/invocations/{long['id']}").json()
    assert inv["status"] == "failed"
    assert inv["status_reason"] == "Invocation interrupted: the runner stopped"


def test_memory_blow_up_under_a_limit_kills_only_that_worker(
        start_runner: Callable[..., RunnerProcess], app_copy: Callable[[str], Path]) -> None:
    entry = app_copy("conformance_app.py")
    runner = start_runner(entry, "--worker-memory-limit", "300", cwd=entry.parent)
    with runner.client() as c:
        inv = post(c, "hog", "2000")
        assert inv["status"] == "failed"
        assert inv["status_reason"] == "Worker crashed (killed: memory limit of 300 MB exceeded)"
        assert post(c, "echo", '"fine"')["output"] == '"fine"'


def test_echo_logs_prints_invocation_lines(
        start_runner: Callable[..., RunnerProcess], app_copy: Callable[[str], Path]) -> None:
    entry = app_copy("conformance_app.py")
    runner = start_runner(entry, "--echo-logs", cwd=entry.parent)
    with runner.client() as c:
        inv = post(c, "logs", '{"lines": 1}')
    runner.wait_line(f"{inv['id'][:8]} | ctx 0")
    assert f"{inv['id'][:8]} | print 0" in runner.output
