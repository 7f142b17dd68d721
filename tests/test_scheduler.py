"""The scheduler's state machine, against a fake worker and a real SQLite store.

Only public behaviour is checked: what ``submit``/``get``/``update`` answer, what
the worker is told, the events a subscriber sees and what the store keeps.
The fake worker stands in for a worker process: it records what it is asked to
run and answers through the scheduler's listener methods, as a real one does.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from kernel_actions.runner.engine import store as store_module
from kernel_actions.runner.engine.errors import Conflict, NotFound, Unavailable
from kernel_actions.runner.engine.events import EventBus
from kernel_actions.runner.engine.invocation import Invocation
from kernel_actions.runner.engine.scheduler import Scheduler
from kernel_actions.runner.engine.store import Store
from kernel_actions.runner.errors import api_error

#: A bound for awaiting something that must happen (a failure, never a speed assert).
DEADLINE = 10.0


class FakeWorker:
    def __init__(self, pool: FakePool, generation: int) -> None:
        self.pool: FakePool | None = pool
        self.generation = generation
        self.pid = 40000 + generation
        self.in_flight: set[str] = set()
        self.abandoned: set[str] = set()
        self.invoked: list[tuple[str, str, str, str, str | None]] = []
        self.cancelled: list[str] = []
        self.exited: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def invoke(self, inv_id: str, app: str, action: str, version: str,
               payload: str | None) -> None:
        self.in_flight.add(inv_id)
        self.invoked.append((inv_id, app, action, version, payload))

    def cancel(self, inv_id: str) -> None:
        if inv_id in self.in_flight:
            self.abandoned.add(inv_id)
            self.cancelled.append(inv_id)

    def answer(self, scheduler: Scheduler, inv_id: str, status: str = "succeeded",
               output: str | None = '"ok"', **extra: Any) -> None:
        """What the worker process sends when an action returns."""
        self.in_flight.discard(inv_id)
        self.abandoned.discard(inv_id)
        scheduler.worker_result(self, {"t": "result", "id": inv_id, "status": status,
                                       "output": output, **extra})

    @property
    def alive(self) -> bool:
        return not self.exited.done()

    def crash(self, scheduler: Scheduler, reason: str = "killed by SIGKILL") -> None:
        self.exited.set_result(reason)
        scheduler.worker_exited(self, reason)


class FakePool:
    """A code pool serving app ``app`` (actions ``run`` and ``other``) at ``latest``."""

    def __init__(self, version: str = "latest") -> None:
        self.version = version
        self.deployment_id: str | None = None
        self.load_error: str | None = None
        self.generation = 0
        self.manifest: dict[str, Any] | None = {"apps": [{"name": "app", "actions": [
            {"name": "run"}, {"name": "other"}]}]}
        self.current: FakeWorker | None = None
        self.workers: list[FakeWorker] = []
        self.reloaded = asyncio.Event()

    def start_worker(self) -> FakeWorker:
        self.generation += 1
        worker = FakeWorker(self, self.generation)
        self.workers.append(worker)
        self.current = worker
        return worker

    # What the scheduler calls on a pool.
    def app(self, name: str) -> tuple[dict[str, Any], frozenset[str]] | None:
        for app in (self.manifest or {"apps": []})["apps"]:
            if app["name"] == name:
                return app, frozenset(a["name"] for a in app["actions"])
        return None

    def maybe_stop(self, worker: FakeWorker) -> None:
        pass

    def retire(self, worker: FakeWorker) -> None:
        if worker is self.current:
            self.current = None

    def worker_exited(self, worker: FakeWorker) -> bool:
        if worker is self.current:
            self.current = None
            return True
        return False

    async def reload(self) -> bool:
        self.start_worker()
        self.reloaded.set()
        return True


Scenario = Callable[[Scheduler, FakePool, Store, EventBus], Awaitable[None]]


def run(tmp_path: Path, scenario: Scenario, *, worker: bool = True, **options: Any) -> None:
    """Run ``scenario`` on a fresh scheduler whose pool has a current worker (or none)."""

    async def main() -> None:
        store = Store.open(tmp_path / "runner.db")
        store.start(asyncio.get_running_loop())
        bus = EventBus()
        scheduler = Scheduler(store, bus, **options)
        pool = FakePool()
        if worker:
            pool.start_worker()
        scheduler.add_pool(pool)  # type: ignore[arg-type]
        try:
            await asyncio.wait_for(scenario(scheduler, pool, store, bus), DEADLINE)
        finally:
            store.close()

    asyncio.run(main())


async def stored(store: Store, inv_id: str) -> Invocation:
    await store.flush()
    inv = await asyncio.to_thread(store.get, inv_id)
    assert inv is not None
    return inv


def test_a_sync_invocation_runs_on_the_current_worker_and_succeeds(tmp_path: Path) -> None:
    async def scenario(scheduler: Scheduler, pool: FakePool, store: Store, bus: EventBus) -> None:
        worker = pool.current
        assert worker is not None
        active = await scheduler.submit("app", "run", "latest", '{"n": 1}', is_async=False)
        inv_id = active.inv.id
        assert worker.invoked == [(inv_id, "app", "run", "latest", '{"n": 1}')]
        running = await scheduler.get(inv_id)
        assert running is not None and running.status == "running"
        assert running.generation == worker.generation
        worker.answer(scheduler, inv_id, output='{"n": 2}')
        await active.done
        assert active.inv.to_created() == {"id": inv_id, "action_name": "run",
                                           "status": "succeeded", "output": '{"n": 2}'}
        row = await stored(store, inv_id)
        assert (row.status, row.output, row.finished_ns is not None) == (
            "succeeded", '{"n": 2}', True)
        assert scheduler.running == 0

    run(tmp_path, scenario)


def test_final_states_are_committed_before_anyone_is_told_one_commit_a_turn(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No lazy commit comes during this test: only a final state about to be told commits.
    monkeypatch.setattr(store_module, "LAZY_COMMIT_S", 3600.0)

    async def scenario(scheduler: Scheduler, pool: FakePool, store: Store, bus: EventBus) -> None:
        worker = pool.current
        assert worker is not None
        actives = [await scheduler.submit("app", "run", "latest", None, is_async=False)
                   for _ in range(3)]
        ids = [a.inv.id for a in actives]
        watching = bus.subscribe(ids[0])
        sub = watching.__enter__()
        commits: list[int] = []
        flush = store._flush  # counting the store's commits

        def counted() -> None:
            commits.append(1)
            flush()

        monkeypatch.setattr(store, "_flush", counted)
        for inv_id in ids:  # all three finish in one turn of the loop
            worker.answer(scheduler, inv_id, output='{"n": 2}')
        assert not any(a.done.done() for a in actives)  # not told before the commit
        assert sub.queue.empty()  # nor streamed
        await asyncio.gather(*(a.done for a in actives))
        assert len(commits) == 1
        for inv_id in ids:
            row = await asyncio.to_thread(store.get, inv_id)  # no read-side commit
            assert row is not None and (row.status, row.output) == ("succeeded", '{"n": 2}')
        event = sub.queue.get_nowait()
        assert event["invocation"]["status"] == "succeeded"

        # A PATCH is answered once its final state is committed, too.
        active = await scheduler.submit("app", "run", "latest", None, is_async=True)
        patched = await scheduler.update(active.inv.id, "failed", '{"error": "no"}')
        assert patched.status == "failed"
        row = await asyncio.to_thread(store.get, active.inv.id)
        assert row is not None and row.status == "failed"

    run(tmp_path, scenario)


def test_an_async_invocation_is_queued_until_code_is_served(tmp_path: Path) -> None:
    async def scenario(scheduler: Scheduler, pool: FakePool, store: Store, bus: EventBus) -> None:
        seen: list[str] = []
        with bus.subscribe(None) as everything:  # from before the invocation exists
            active = await scheduler.submit("app", "run", "latest", None, is_async=True)
            inv_id = active.inv.id
            assert active.created["status"] == "queued"
            assert (await stored(store, inv_id)).status == "queued"  # durable before the 202
            pool.start_worker()  # the code finished loading
            scheduler.pools_changed()
            worker = pool.current
            assert worker is not None and [i[0] for i in worker.invoked] == [inv_id]
            worker.answer(scheduler, inv_id)
            await active.done
            while not everything.queue.empty():
                event = everything.queue.get_nowait()
                if event["event"] == "invocation_state":
                    seen.append(event["invocation"]["status"])
        assert seen == ["queued", "running", "succeeded"]

    run(tmp_path, scenario, worker=False)


def test_a_failed_result_keeps_its_reason_and_sends_an_error_event(tmp_path: Path) -> None:
    async def scenario(scheduler: Scheduler, pool: FakePool, store: Store, bus: EventBus) -> None:
        worker = pool.current
        assert worker is not None
        with bus.subscribe(None) as sub:
            active = await scheduler.submit("app", "run", "latest", None, is_async=True)
            worker.answer(scheduler, active.inv.id, "failed",
                          json.dumps({"error": "action_raised", "message": "boom"}),
                          status_reason="Action raised an exception", error="action_raised")
            await active.done
            events = [sub.queue.get_nowait() for _ in range(sub.queue.qsize())]
        assert active.inv.status == "failed"
        assert active.inv.status_reason == "Action raised an exception"
        errors = [e["error"] for e in events if e["event"] == "error"]
        assert errors == [{"code": "action_raised", "message": "Action raised an exception"}]
        assert (await stored(store, active.inv.id)).status == "failed"

    run(tmp_path, scenario)


def test_concurrency_is_capped_and_the_queue_drains_in_order(tmp_path: Path) -> None:
    async def scenario(scheduler: Scheduler, pool: FakePool, store: Store, bus: EventBus) -> None:
        worker = pool.current
        assert worker is not None
        actives = [await scheduler.submit("app", "run", "latest", str(i), is_async=True)
                   for i in range(5)]
        ids = [a.inv.id for a in actives]
        assert [i[0] for i in worker.invoked] == ids[:2]
        assert [a.inv.status for a in actives] == ["running"] * 2 + ["queued"] * 3
        assert scheduler.running == 2
        for n in range(5):
            worker.answer(scheduler, ids[n])
            await actives[n].done
            assert scheduler.running <= 2
            assert [i[0] for i in worker.invoked] == ids[:min(n + 3, 5)]
        assert [a.inv.status for a in actives] == ["succeeded"] * 5
        assert scheduler.running == 0

    run(tmp_path, scenario, max_concurrency=2)


def test_a_timeout_fails_the_invocation_and_cancels_the_action(tmp_path: Path) -> None:
    async def scenario(scheduler: Scheduler, pool: FakePool, store: Store, bus: EventBus) -> None:
        worker = pool.current
        assert worker is not None
        active = await scheduler.submit("app", "run", "latest", None, is_async=False)
        await active.done  # the worker never answers
        inv = active.inv
        assert inv.status == "failed"
        assert inv.status_reason == "Invocation timed out after 0.2 s"
        assert json.loads(inv.output or "")["error"] == "timed_out"
        assert worker.cancelled == [inv.id]
        # The action's late answer changes nothing: a final state is final.
        worker.answer(scheduler, inv.id, "succeeded", '"late"')
        after = await scheduler.get(inv.id)
        assert after is not None and (after.status, after.output) == ("failed", inv.output)
        assert (await stored(store, inv.id)).status == "failed"
        assert scheduler.running == 0

    run(tmp_path, scenario, sync_timeout=0.2)


def test_an_update_is_final(tmp_path: Path) -> None:
    async def scenario(scheduler: Scheduler, pool: FakePool, store: Store, bus: EventBus) -> None:
        worker = pool.current
        assert worker is not None
        active = await scheduler.submit("app", "run", "latest", None, is_async=True)
        inv_id = active.inv.id
        inv = await scheduler.update(inv_id, "succeeded", '{"done": true}')
        assert (inv.status, inv.output) == ("succeeded", '{"done": true}')
        with pytest.raises(Conflict) as again:
            await scheduler.update(inv_id, "failed", None)
        assert api_error(again.value).status == 409
        assert "final state is final" in api_error(again.value).body()["message"]
        worker.answer(scheduler, inv_id, "failed", '{"error": "late"}')  # ignored
        assert (await stored(store, inv_id)).output == '{"done": true}'
        with pytest.raises(NotFound) as missing:
            await scheduler.update("nosuchinvocation", "succeeded", None)
        assert api_error(missing.value).status == 404

    run(tmp_path, scenario)


def test_failing_a_running_invocation_by_update_cancels_its_action(tmp_path: Path) -> None:
    async def scenario(scheduler: Scheduler, pool: FakePool, store: Store, bus: EventBus) -> None:
        worker = pool.current
        assert worker is not None
        active = await scheduler.submit("app", "run", "latest", None, is_async=True)
        inv = await scheduler.update(active.inv.id, "failed",
                                     json.dumps({"error": "stopped by the operator"}))
        assert (inv.status, inv.status_reason) == ("failed", "stopped by the operator")
        assert worker.cancelled == [inv.id]
        assert scheduler.running == 0

    run(tmp_path, scenario)


def test_a_crashed_worker_fails_what_it_ran_and_is_replaced(tmp_path: Path) -> None:
    async def scenario(scheduler: Scheduler, pool: FakePool, store: Store, bus: EventBus) -> None:
        first = pool.current
        assert first is not None
        running = await scheduler.submit("app", "run", "latest", None, is_async=True)
        first.crash(scheduler)
        await running.done
        assert running.inv.status == "failed"
        assert running.inv.status_reason == "Worker crashed (killed by SIGKILL)"
        assert json.loads(running.inv.output or "")["error"] == "worker_crashed"
        await pool.reloaded.wait()
        fresh = pool.current
        assert fresh is not None and fresh is not first
        after = await scheduler.submit("app", "run", "latest", None, is_async=True)
        assert [i[0] for i in fresh.invoked] == [after.inv.id]
        fresh.answer(scheduler, after.inv.id)
        await after.done
        assert after.inv.status == "succeeded" and after.inv.generation == fresh.generation

    run(tmp_path, scenario)


def test_what_waited_behind_a_crashed_worker_runs_on_the_fresh_one(tmp_path: Path) -> None:
    async def scenario(scheduler: Scheduler, pool: FakePool, store: Store, bus: EventBus) -> None:
        first = pool.current
        assert first is not None
        running = await scheduler.submit("app", "run", "latest", None, is_async=True)
        queued = await scheduler.submit("app", "run", "latest", None, is_async=True)
        assert queued.inv.status == "queued"  # the cap is 1
        first.crash(scheduler)
        await running.done
        await pool.reloaded.wait()
        scheduler.pools_changed()
        assert [i[0] for i in first.invoked] == [running.inv.id]  # not given to the dead one
        fresh = pool.current
        assert fresh is not None and [i[0] for i in fresh.invoked] == [queued.inv.id]

    run(tmp_path, scenario, max_concurrency=1)


def test_unknown_targets_are_refused_with_what_exists(tmp_path: Path) -> None:
    async def scenario(scheduler: Scheduler, pool: FakePool, store: Store, bus: EventBus) -> None:
        for target, expected in [
            (("nope", "run", "latest"), "app 'nope' not found; apps: app"),
            (("app", "run", "v9"), "app 'app' has no version 'v9'; versions: latest"),
            (("app", "nope", "latest"), "action 'nope' not found in app 'app'"),
        ]:
            with pytest.raises(NotFound) as refused:
                await scheduler.submit(*target, None, is_async=True)
            assert api_error(refused.value).status == 404
            assert api_error(refused.value).body()["message"].startswith(expected)
        assert pool.current is not None and pool.current.invoked == []

    run(tmp_path, scenario)


def test_shutdown_refuses_new_work_and_interrupts_what_runs(tmp_path: Path) -> None:
    async def scenario(scheduler: Scheduler, pool: FakePool, store: Store, bus: EventBus) -> None:
        active = await scheduler.submit("app", "run", "latest", None, is_async=True)
        await scheduler.shutdown(0)
        assert active.inv.status == "failed"
        assert json.loads(active.inv.output or "")["error"] == "interrupted"
        assert (await stored(store, active.inv.id)).status == "failed"
        with pytest.raises(Unavailable) as refused:
            await scheduler.submit("app", "run", "latest", None, is_async=True)
        assert api_error(refused.value).status == 503
        assert api_error(refused.value).headers["Retry-After"] == "1"

    run(tmp_path, scenario)


def test_recover_runs_what_was_queued_and_fails_what_was_running(tmp_path: Path) -> None:
    def inv(inv_id: str, status: str) -> Invocation:
        return Invocation(id=inv_id, app_name="app", action_name="run", version="latest",
                          payload=None, status=status,  # type: ignore[arg-type]
                          created_ns=1, timeout_s=60.0, is_async=True)

    previous = Store.open(tmp_path / "runner.db")  # a previous run's leftovers
    previous.insert_nowait(inv("wasqueued", "queued"))
    previous.insert_nowait(inv("wasrunning", "running"))

    async def scenario(scheduler: Scheduler, pool: FakePool, store: Store, bus: EventBus) -> None:
        assert await scheduler.recover() == (1, 1)
        interrupted = await stored(store, "wasrunning")
        assert interrupted.status == "failed"
        assert json.loads(interrupted.output or "")["error"] == "interrupted"
        worker = pool.current
        assert worker is not None and [i[0] for i in worker.invoked] == ["wasqueued"]
        worker.answer(scheduler, "wasqueued")
        assert (await stored(store, "wasqueued")).status == "succeeded"

    run(tmp_path, scenario)
