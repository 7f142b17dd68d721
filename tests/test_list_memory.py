"""All ``GET /invocations`` readers together hold no more of their rows than one budget,
and what they receive is what it always was: the page encoded whole."""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from kernel import Kernel

from kernel_actions.runner.http import invocations as invocations_module
from kernel_actions.runner.http.common import compact_json
from kernel_actions.runner.http.memory_budget import MemoryBudget

from .helpers import APPS, poll, runner_in_process


def test_a_budget_serves_in_turn_and_lets_an_oversized_cost_go_alone() -> None:
    async def scenario() -> None:
        budget = MemoryBudget(10)
        order: list[str] = []

        async def use(name: str, cost: int, gate: asyncio.Event) -> None:
            async with budget.hold(cost):
                order.append(name)
                await gate.wait()

        gates = {name: asyncio.Event() for name in "abcde"}
        tasks = {name: asyncio.ensure_future(use(name, cost, gates[name]))
                 for name, cost in (("a", 6), ("b", 6), ("c", 2), ("d", 50), ("e", 1))}
        await asyncio.sleep(0)
        assert order == ["a"] and budget.held == 6  # b waits, and c, d, e wait behind it
        tasks["c"].cancel()  # a waiter that gives up takes nothing and blocks nobody
        gates["a"].set()
        await tasks["a"]
        assert order == ["a", "b"] and budget.held == 6
        gates["b"].set()
        await tasks["b"]
        assert order == ["a", "b", "d"] and budget.held == 50  # alone, over the limit
        gates["d"].set()
        await tasks["d"]
        gates["e"].set()
        await tasks["e"]
        assert order == ["a", "b", "d", "e"] and budget.held == 0

    asyncio.run(scenario())


class Recording(MemoryBudget):
    """The budget, remembering the most it ever held and who waited."""

    instances: list[Recording] = []

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.most = 0
        self.most_waiting = 0
        Recording.instances.append(self)

    async def take(self, cost: int) -> None:
        self.most_waiting = max(self.most_waiting, len(self._waiting) + 1)
        await super().take(cost)
        self.most = max(self.most, self.held)


@pytest.fixture
def huge_app(tmp_path: Path) -> Path:
    folder = tmp_path / "hostile"
    folder.mkdir()
    shutil.copy(APPS / "hostile_app.py", folder / "main.py")
    return folder / "main.py"


@pytest.fixture
def small_budget(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    limit = 20_000_000
    Recording.instances.clear()
    monkeypatch.setattr(invocations_module, "LIST_MEMORY_BYTES", limit)
    monkeypatch.setattr(invocations_module, "MemoryBudget", Recording)
    yield limit


def test_concurrent_readers_share_one_budget_and_get_the_same_bytes(
        tmp_path: Path, huge_app: Path, small_budget: int) -> None:
    rows, size = 10, 2_000_000  # each row costs ~8 MB: two at a time fit the budget
    with runner_in_process(tmp_path, huge_app) as runner, \
            httpx.Client(base_url=f"http://127.0.0.1:{runner.port}", timeout=120) as c:
        for _ in range(rows):
            r = c.post("/invocations", json={"app_name": "hostile", "action_name": "huge",
                                             "payload": str(size)})
            assert r.json()["status"] == "succeeded", r.text[:300]
        ids = [row["id"] for row in c.get("/invocations",
                                          params={"detail": "summary"}).json()]
        expected = ("[" + ",".join(compact_json(c.get(f"/invocations/{i}").json())
                                   for i in ids) + "]").encode()
        budget = Recording.instances[-1]

        readers = 8
        received: list[bytes] = [b""] * readers
        go = threading.Event()
        started = threading.Barrier(readers + 1)

        def read(n: int) -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{runner.port}", timeout=120) as own, \
                    own.stream("GET", "/invocations", params={"limit": 100}) as r:
                started.wait(60)  # the answer's head is here; its body is not read yet
                go.wait(60)
                received[n] = b"".join(r.iter_raw(65536))

        threads = [threading.Thread(target=read, args=(n,), daemon=True)
                   for n in range(readers)]
        for thread in threads:
            thread.start()
        started.wait(60)
        # Nobody reads: the rows under way are the budget's, and the other readers wait
        # for it.
        poll(lambda: budget.most_waiting >= readers - 2, timeout=60)
        assert budget.held <= small_budget
        go.set()
        for thread in threads:
            thread.join(120)
        assert all(body == expected for body in received)
        assert 0 < budget.most <= small_budget
        assert budget.held == 0

        # The SDK reads the same rows, outputs whole.
        sdk = Kernel(base_url=f"http://127.0.0.1:{runner.port}", api_key="local",
                     max_retries=0)
        page = sdk.invocations.list(limit=100)
        assert [inv.id for inv in page.items] == ids
        assert {len(inv.output or "") for inv in page.items} == {size + 2}
