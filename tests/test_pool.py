"""A code pool with real worker processes: generations, failed reloads, crashes, close.

The listener records what the workers report, as the scheduler would receive it.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from kernel_actions.runner.engine.pool import CodePool, WorkerProcess, base_env

DEADLINE = 30.0

APP = '''
from kernel_actions import App

app = App("pooled")


@app.action("hello")
def hello(ctx, payload: str = "world") -> str:
    print("saying hello to", payload)
    return "{greeting} " + payload
'''


def write_app(folder: Path, greeting: str = "hello", broken: bool = False) -> Path:
    entry = folder / "main.py"
    source = APP.replace("{greeting}", greeting)
    entry.write_text(source + ("\nraise RuntimeError('not today')\n" if broken else ""))
    return entry


class Recorder:
    """A worker listener: results and exits as futures and queues to wait on."""

    def __init__(self) -> None:
        self.pool: CodePool | None = None
        self.logs: list[tuple[str, str]] = []
        self.results: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.exits: asyncio.Queue[tuple[WorkerProcess, str, bool]] = asyncio.Queue()

    def worker_logs(self, worker: WorkerProcess, items: list[list[Any]]) -> None:
        self.logs += [(inv_id, line) for inv_id, _, line in items]

    def worker_result(self, worker: WorkerProcess, message: dict[str, Any]) -> None:
        self.results.put_nowait(message)
        if worker.pool is not None:
            worker.pool.maybe_stop(worker)

    def worker_exited(self, worker: WorkerProcess, reason: str) -> None:
        was_current = worker.pool.worker_exited(worker) if worker.pool is not None else False
        self.exits.put_nowait((worker, reason, was_current))


Scenario = Callable[[CodePool, Recorder, Path, list[int]], Awaitable[None]]


def run(tmp_path: Path, scenario: Scenario) -> None:
    async def main() -> None:
        entry = write_app(tmp_path)
        recorder = Recorder()
        changes: list[int] = []
        pool = CodePool(str(entry), tmp_path, base_env, recorder,
                        on_change=lambda p: changes.append(p.generation))
        try:
            await asyncio.wait_for(scenario(pool, recorder, entry, changes), DEADLINE)
        finally:
            await pool.close()

    asyncio.run(main())


async def invoke(pool: CodePool, recorder: Recorder, inv_id: str, payload: str) -> dict[str, Any]:
    assert pool.current is not None
    pool.current.invoke(inv_id, "pooled", "hello", "latest", json.dumps(payload))
    return await recorder.results.get()


def test_a_reload_serves_the_code_from_a_new_generation(tmp_path: Path) -> None:
    async def scenario(pool: CodePool, recorder: Recorder, entry: Path,
                       changes: list[int]) -> None:
        assert await pool.reload()
        first = pool.current
        assert first is not None and pool.generation == first.generation == 1
        assert pool.manifest is not None
        assert [a["name"] for a in pool.manifest["apps"][0]["actions"]] == ["hello"]
        result = await invoke(pool, recorder, "inv1", "pool")
        assert (result["id"], result["status"], json.loads(result["output"])) == (
            "inv1", "succeeded", "hello pool")
        assert ("inv1", "saying hello to pool") in recorder.logs
        write_app(entry.parent, greeting="bonjour")
        assert await pool.reload()
        assert pool.generation == 2 and pool.current is not first
        assert await asyncio.wait_for(first.exited, DEADLINE)  # retired, idle: it exits
        assert first.proc.poll() is not None
        result = await invoke(pool, recorder, "inv2", "pool")
        assert json.loads(result["output"]) == "bonjour pool"
        assert changes == [1, 2]
        assert pool.status()["generation"] == 2 and pool.status()["load_error"] is None

    run(tmp_path, scenario)


def test_a_failed_reload_keeps_the_current_generation_serving(tmp_path: Path) -> None:
    async def scenario(pool: CodePool, recorder: Recorder, entry: Path,
                       changes: list[int]) -> None:
        assert await pool.reload()
        serving = pool.current
        write_app(entry.parent, greeting="broken", broken=True)
        assert not await pool.reload()
        assert pool.current is serving and pool.generation == 1
        assert pool.load_error is not None and "not today" in str(pool.load_error)
        assert pool.status()["load_error"]["message"] == pool.load_error.message
        result = await invoke(pool, recorder, "inv1", "still")
        assert json.loads(result["output"]) == "hello still"
        write_app(entry.parent, greeting="fixed")
        assert await pool.reload()
        assert pool.load_error is None and pool.generation == 2

    run(tmp_path, scenario)


def test_a_retired_worker_finishes_what_it_runs_before_it_exits(tmp_path: Path) -> None:
    async def scenario(pool: CodePool, recorder: Recorder, entry: Path,
                       changes: list[int]) -> None:
        entry.write_text(APP.replace("{greeting}", "hello") + '''

@app.action("wait")
async def wait(ctx, payload: str) -> str:
    import asyncio, os
    while not os.path.exists(payload):
        await asyncio.sleep(0.01)
    return "waited"
''')
        release = entry.parent / "release"
        assert await pool.reload()
        old = pool.current
        assert old is not None
        old.invoke("slow", "pooled", "wait", "latest", json.dumps(str(release)))
        assert await pool.reload()  # the new generation takes new work at once
        assert old.retired and old in pool.retired and pool.current is not old
        assert recorder.results.empty() and not old.exited.done()
        release.touch()
        result = await recorder.results.get()
        assert (result["id"], json.loads(result["output"])) == ("slow", "waited")
        await asyncio.wait_for(old.exited, DEADLINE)
        assert old not in pool.retired

    run(tmp_path, scenario)


def test_a_crashed_current_worker_is_reported_and_can_be_replaced(tmp_path: Path) -> None:
    async def scenario(pool: CodePool, recorder: Recorder, entry: Path,
                       changes: list[int]) -> None:
        assert await pool.reload()
        crashed = pool.current
        assert crashed is not None
        crashed.proc.send_signal(signal.SIGKILL)
        worker, reason, was_current = await recorder.exits.get()
        assert (worker, reason, was_current) == (crashed, "killed by SIGKILL", True)
        assert pool.current is None
        assert await pool.reload()
        assert pool.current is not None and pool.generation == 2
        result = await invoke(pool, recorder, "after", "again")
        assert result["status"] == "succeeded"

    run(tmp_path, scenario)


def test_close_stops_every_worker(tmp_path: Path) -> None:
    async def main() -> None:
        entry = write_app(tmp_path)
        recorder = Recorder()
        pool = CodePool(str(entry), tmp_path, base_env, recorder)
        assert await pool.reload()
        first = pool.current
        assert first is not None
        first.invoke("held", "pooled", "hello", "latest", '"x"')
        write_app(tmp_path, greeting="next")
        assert await pool.reload()
        second = pool.current
        assert second is not None
        await asyncio.wait_for(pool.close(), DEADLINE)
        for worker in (first, second):
            assert worker.exited.done() and worker.proc.poll() is not None
        assert pool.current is None and not pool.retired

    asyncio.run(main())
