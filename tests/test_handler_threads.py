"""The worker's handler threads: limit, context, cancellation, batching of results."""

from __future__ import annotations

import asyncio
import contextvars
import threading

from kernel_actions.handler_threads import HandlerThreads, Job

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")


def test_calls_run_off_the_loop_in_the_callers_context_and_return_or_raise() -> None:
    async def main() -> tuple[list[object], bool]:
        threads = HandlerThreads()
        VAR.set("caller")
        seen: list[object] = []

        def work() -> str:
            seen.append(threading.current_thread() is threading.main_thread())
            return VAR.get()

        def boom() -> None:
            raise ValueError("nope")

        seen.append(await threads.run(work))
        try:
            await threads.run(boom)
        except ValueError as exc:
            seen.append(str(exc))
        return seen, True

    seen, _ = asyncio.run(main())
    assert seen == [False, "caller", "nope"]


def test_at_most_limit_calls_run_at_once_and_the_rest_wait_their_turn() -> None:
    async def main() -> tuple[int, int]:
        threads = HandlerThreads(limit=3)
        lock = threading.Lock()
        now = peak = 0
        release = threading.Event()

        def work() -> None:
            nonlocal now, peak
            with lock:
                now += 1
                peak = max(peak, now)
            release.wait(10)
            with lock:
                now -= 1

        calls = [asyncio.ensure_future(threads.run(work)) for _ in range(8)]
        deadline = asyncio.get_running_loop().time() + 10
        while peak < 3 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        running_before_release = now
        release.set()
        await asyncio.gather(*calls)
        return peak, running_before_release

    peak, running = asyncio.run(main())
    assert peak == 3 and running == 3


def test_a_cancelled_running_call_is_abandoned_and_frees_its_place() -> None:
    async def main() -> tuple[bool, str, list[Job]]:
        threads = HandlerThreads(limit=1)
        started = threading.Event()
        release = threading.Event()
        finished = threading.Event()
        results: list[Job] = []

        def stuck() -> str:
            started.set()
            release.wait(10)
            finished.set()
            return "late"

        job = threads.submit(stuck, results.append)
        while not started.is_set():
            await asyncio.sleep(0.005)
        still_running = job.cancel()
        # The place it held is free: the next call runs although the first still blocks.
        after = await asyncio.wait_for(threads.run(lambda: "next"), 10)
        release.set()
        while not finished.is_set():
            await asyncio.sleep(0.005)
        await asyncio.wait_for(threads.run(lambda: None), 10)  # its return was collected
        return still_running, after, results

    still_running, after, results = asyncio.run(main())
    assert still_running and after == "next"
    assert results == []  # an abandoned call's result goes nowhere


def test_a_call_cancelled_before_it_starts_never_runs() -> None:
    async def main() -> list[str]:
        threads = HandlerThreads(limit=1)
        release = threading.Event()
        started = threading.Event()
        ran: list[str] = []

        def first() -> None:
            started.set()
            release.wait(10)
            ran.append("first")

        blocking = asyncio.ensure_future(threads.run(first))
        while not started.is_set():
            await asyncio.sleep(0.005)
        queued = threads.submit(lambda: ran.append("queued"), lambda job: None)
        assert queued.cancel() is False  # it never started: nothing left running
        release.set()
        await blocking
        await asyncio.wait_for(threads.run(lambda: None), 10)
        return ran

    assert asyncio.run(main()) == ["first"]


def test_results_that_arrive_together_are_collected_in_one_loop_wakeup() -> None:
    async def main() -> int:
        loop = asyncio.get_running_loop()
        threads = HandlerThreads()
        wakeups = 0
        real = loop.call_soon_threadsafe

        def counting(*args: object, **kwargs: object) -> asyncio.Handle:
            nonlocal wakeups
            wakeups += 1
            return real(*args, **kwargs)  # type: ignore[arg-type]

        loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
        gate = threading.Barrier(10, timeout=10)
        done: list[Job] = []
        for _ in range(10):
            threads.submit(gate.wait, done.append)
        # Block the loop until every thread has returned, so all ten results wait together.
        deadline = loop.time() + 10
        while threads.uncollected < 10 and loop.time() < deadline:
            threading.Event().wait(0.005)
        while len(done) < 10 and loop.time() < deadline:
            await asyncio.sleep(0.005)
        assert len(done) == 10
        return wakeups

    assert asyncio.run(main()) == 1
