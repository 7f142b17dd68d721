"""Quick blocking handlers run on the worker's loop; slow ones, or any while others run, don't."""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections.abc import Callable
from pathlib import Path

import httpx

from kernel_actions.runner.engine.quick_handlers import (
    QUICK_RUNS,
    QuickHandlers,
    call_outside_loop,
)

from .conftest import RunnerProcess, poll
from .helpers import invoke

# -- the policy, without a worker -------------------------------------------------------


def test_a_handler_is_quick_after_enough_quick_runs_in_a_row_and_not_after_a_slow_one() -> None:
    quick = QuickHandlers(seconds=0.5, runs=3)
    key = ("app", "act")
    for _ in range(2):
        quick.ran(key, 0.0)
    assert not quick.is_quick(key)
    quick.ran(key, 0.1)
    assert quick.is_quick(key)
    assert not quick.is_quick(("app", "other"))
    quick.ran(key, 0.6)  # one slow run: back to threads
    assert not quick.is_quick(key)
    for _ in range(3):
        quick.ran(key, 0.0)
    assert quick.is_quick(key)
    # A timed call counts itself, raising or not.
    slow = QuickHandlers(seconds=0.0, runs=1)
    assert slow.timed(key, lambda: 7)() == 7
    assert not slow.is_quick(key)


def test_a_call_outside_the_loop_sees_no_running_loop_and_keeps_its_context_changes() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="outer")

    def handler() -> tuple[bool, int]:
        var.set("inner")
        try:
            asyncio.get_running_loop()
            seen = True
        except RuntimeError:
            seen = False
        return seen, asyncio.run(asyncio.sleep(0, 5))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        assert call_outside_loop(handler) == (False, 5)
        assert asyncio.get_running_loop() is loop  # given back
        assert var.get() == "outer"
        await asyncio.sleep(0)  # the loop still runs

    asyncio.run(main())


# -- in a real worker ---------------------------------------------------------------------


def _where(c: httpx.Client, **payload: object) -> dict:
    answer = invoke(c, "where", json.dumps(payload), app="quick")
    assert answer["status"] == "succeeded", answer
    return json.loads(answer["output"])


def _where_on_loop(c: httpx.Client, **payload: object) -> dict:
    """``_where(c, **payload)`` that ran on the loop: the quick handler is invoked until it
    runs there (a run slowed down by a busy machine starts its count again), then this."""

    def attempt() -> dict | None:
        poll(lambda: _where(c)["main"], timeout=60)
        where = _where(c, **payload)
        return where if where["main"] else None

    found = poll(attempt, timeout=120)
    assert isinstance(found, dict)
    return found


def test_a_quick_blocking_handler_moves_to_the_loop_and_back_when_it_turns_slow(
        start_runner: Callable[..., RunnerProcess], app_copy: Callable[[str], Path]) -> None:
    entry = app_copy("quick_app.py")
    runner = start_runner(entry, cwd=entry.parent)
    with runner.client() as c:
        # Never on the loop before it was quick QUICK_RUNS times in a row, in threads.
        first = [_where(c) for _ in range(QUICK_RUNS)]
        assert not any(w["main"] for w in first), first
        # Then on the loop, seeing what a thread sees: no running loop, so asyncio.run works.
        assert _where_on_loop(c, run=True) == {"main": True, "loop_seen": False, "ran": 1}
        # An async handler running in the worker keeps it off the loop...
        napping = invoke(c, "nap", "30", app="quick", is_async=True)
        poll(lambda: c.get(f"/invocations/{napping['id']}").json()["status"] == "running")
        assert [_where(c)["main"] for _ in range(QUICK_RUNS)] == [False] * QUICK_RUNS
        assert c.patch(f"/invocations/{napping['id']}", json={"status": "failed"}
                       ).status_code == 200
        # ... a blocking one in a thread does not: that thread runs on beside it.
        blocking = invoke(c, "block", "30", app="quick", is_async=True)
        poll(lambda: c.get(f"/invocations/{blocking['id']}").json()["status"] == "running")
        _where_on_loop(c)
        assert c.get(f"/invocations/{blocking['id']}").json()["status"] == "running"
        assert c.patch(f"/invocations/{blocking['id']}", json={"status": "failed"}
                       ).status_code == 200
        # A run that turns out slow (it ran on the loop) sends it back to threads.
        _where_on_loop(c, sleep=0.05)
        assert _where(c)["main"] is False


def test_a_slow_blocking_handler_never_runs_on_the_loop(
        start_runner: Callable[..., RunnerProcess], app_copy: Callable[[str], Path]) -> None:
    entry = app_copy("quick_app.py")
    runner = start_runner(entry, cwd=entry.parent)
    with runner.client() as c:
        assert [_where(c, sleep=0.01)["main"] for _ in range(3 * QUICK_RUNS)] == [
            False] * (3 * QUICK_RUNS)
