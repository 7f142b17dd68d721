"""The SQLite store: deep pages give exactly what walking the rows gives."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kernel_actions.runner.engine import store as store_module
from kernel_actions.runner.engine.invocation import Invocation
from kernel_actions.runner.engine.store import ListFilters, Store


def _inv(i: int) -> Invocation:
    return Invocation(id=f"inv{i:06d}", app_name="a", action_name="even" if i % 2 else "odd",
                      version="latest", payload=None, status="succeeded", created_ns=i,
                      timeout_s=1.0, is_async=True)


def _ids(store: Store, offset: int, filters: ListFilters | None = None) -> tuple[list[str], bool]:
    items, more = store.list(filters or ListFilters(), 20, offset)
    return [i.id for i in items], more


def test_deep_pages_match_a_walk_of_the_rows(tmp_path: Path) -> None:
    async def main() -> None:
        store = Store.open(tmp_path / "runner.db")
        store.start(asyncio.get_running_loop())
        total = 3 * Store.DEEP_OFFSET
        for i in range(1, total + 1):
            store.insert_nowait(_inv(i))
            if i % 500 == 0:
                await store.flush()
        await store.flush()
        assert store._rows == total  # the arithmetic path is taken
        newest_first = [f"inv{i:06d}" for i in range(total, 0, -1)]
        for offset in (Store.DEEP_OFFSET + 1, 2000, total - 20, total - 5):
            ids, more = await asyncio.to_thread(_ids, store, offset)
            assert ids == newest_first[offset:offset + 20]
            assert more == (offset + 20 < total)
        assert await asyncio.to_thread(_ids, store, total + 5) == ([], False)
        # Filtered deep pages walk the index and agree too.
        odd = [i for i in newest_first if int(i[3:]) % 2 == 0]
        ids, _ = await asyncio.to_thread(_ids, store, 1200, ListFilters(action_name="odd"))
        assert ids == odd[1200:1220]
        # A count that disagrees with the span (as after a gap) falls back to the walk.
        store._rows = total + 1
        ids, _ = await asyncio.to_thread(_ids, store, 2000)
        assert ids == newest_first[2000:2020]
        store.close()

    asyncio.run(main())


def _new(inv_id: str, created_ns: int, **fields: object) -> Invocation:
    values: dict[str, object] = dict(
        id=inv_id, app_name="shop", action_name="buy", version="latest", payload='{"n": 1}',
        status="queued", created_ns=created_ns, timeout_s=60.0, is_async=True)
    values.update(fields)
    return Invocation(**values)  # type: ignore[arg-type]


async def _until_stored(store: Store, inv_id: str, timeout: float = 30) -> Invocation:
    """The row of ``inv_id`` once a commit wrote it (read on another connection)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (inv := await asyncio.to_thread(store.get, inv_id)) is None:
        assert asyncio.get_running_loop().time() < deadline, f"{inv_id} never committed"
        await asyncio.sleep(0.005)
    return inv


def test_an_invocation_round_trips_through_its_states(tmp_path: Path) -> None:
    async def main() -> None:
        store = Store.open(tmp_path / "runner.db")
        store.start(asyncio.get_running_loop())
        inv = _new("one", 10)
        await store.insert(inv)  # committed when it returns
        assert await asyncio.to_thread(store.get, "one") == inv
        inv.status, inv.running_ns, inv.generation = "running", 11, 3
        store.save(inv)
        inv.status, inv.output, inv.finished_ns = "succeeded", '"done"', 12
        committed = store.save(inv, wait=True)
        assert committed is not None
        await committed
        assert await asyncio.to_thread(store.get, "one") == inv
        assert await asyncio.to_thread(store.get, "missing") is None
        store.close()

    asyncio.run(main())


def test_writes_of_one_turn_commit_together_in_order(tmp_path: Path) -> None:
    async def main() -> None:
        store = Store.open(tmp_path / "runner.db")
        store.start(asyncio.get_running_loop())
        inv = _new("sync", 1)
        store.insert_nowait(inv)  # a sync invocation: inserted, run and finished in one turn
        inv.status, inv.output = "succeeded", "1"
        store.save(inv)
        store.add_logs([("sync", 5, "first"), ("sync", 6, "second")])
        # Nothing is committed within the turn (read here, so the loop can't write the batch
        # meanwhile); the turn's writes land together, in order, when it ends.
        assert store.get("sync") is None
        await store.flush()
        assert await asyncio.to_thread(store.get, "sync") == inv
        logs = await asyncio.to_thread(store.logs, "sync")
        assert [(r.ts_ns, r.message) for r in logs] == [(5, "first"), (6, "second")]
        assert [r.message for r in await asyncio.to_thread(store.logs, "sync", 6)] == ["second"]
        store.close()

    asyncio.run(main())


def test_close_commits_what_is_pending_and_a_new_store_reads_it(tmp_path: Path) -> None:
    async def main() -> None:
        store = Store.open(tmp_path / "runner.db")
        store.start(asyncio.get_running_loop())
        store.insert_nowait(_new("queued", 1))
        store.insert_nowait(_new("running", 2, status="running"))
        store.insert_nowait(_new("done", 3, status="failed"))
        store.close()

    asyncio.run(main())
    reopened = Store.open(tmp_path / "runner.db")
    assert [i.id for i in reopened.unfinished()] == ["queued", "running"]


def test_list_filters_combine(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "runner.db")  # not started: writes are synchronous
    rows = [
        _new("a1", 1, app_name="shop", action_name="buy", status="succeeded"),
        _new("a2", 2, app_name="shop", action_name="refund", status="failed"),
        _new("b1", 3, app_name="mail", action_name="send", status="succeeded",
             version="v2", deployment_id="dep1"),
        _new("b2", 4, app_name="mail", action_name="send", status="queued"),
    ]
    for inv in rows:
        store.insert_nowait(inv)

    def ids(limit: int = 20, offset: int = 0, **filters: object) -> tuple[list[str], bool]:
        items, more = store.list(ListFilters(**filters), limit, offset)  # type: ignore[arg-type]
        return [i.id for i in items], more

    assert ids() == (["b2", "b1", "a2", "a1"], False)
    assert ids(limit=3) == (["b2", "b1", "a2"], True)
    assert ids(limit=3, offset=3) == (["a1"], False)
    assert ids(app_name="shop") == (["a2", "a1"], False)
    assert ids(status="succeeded") == (["b1", "a1"], False)
    assert ids(app_name="mail", status="succeeded") == (["b1"], False)
    assert ids(version="v2") == (["b1"], False)
    assert ids(deployment_id="dep1") == (["b1"], False)
    assert ids(since_ns=3) == (["b2", "b1"], False)
    assert ids(query="re") == (["a2"], False)  # an action name's prefix
    assert ids(query="ma") == (["b2", "b1"], False)  # an app name's prefix
    assert ids(query="a") == (["a2", "a1"], False)  # an id's prefix
    assert ids(action_name="nope") == ([], False)


def test_one_bad_write_fails_alone_and_the_rest_of_its_batch_commits(tmp_path: Path) -> None:
    async def main() -> None:
        store = Store.open(tmp_path / "runner.db")
        store.start(asyncio.get_running_loop())
        good = [_inv(i) for i in range(1, 6)]
        bad = _inv(99)
        bad.payload = '"\ud800"'  # a lone surrogate: SQLite can't bind it
        done = [asyncio.ensure_future(store.insert(inv)) for inv in good[:2]]
        done.append(asyncio.ensure_future(store.insert(bad)))
        done += [asyncio.ensure_future(store.insert(inv)) for inv in good[2:]]
        store.add_logs([("inv000001", 1, "fine"), ("inv000001", 2, "bad \udfff"),
                        ("inv000001", 3, "also fine")])
        results = await asyncio.gather(*done, return_exceptions=True)
        assert [r is None for r in results] == [True, True, False, True, True, True]
        assert "store write failed" in str(results[2])
        # A state write in a batch with a bad one still lands, and its waiter wakes.
        good[0].status = "failed"
        saved = store.save(good[0], wait=True)
        bad_again = _inv(98)
        bad_again.app_name = "\udc00"
        failed = store.execute("INSERT INTO invocations (id, app_name, action_name, version, "
                               "status, created_ns, timeout_s, is_async) "
                               "VALUES (?, ?, 'x', 'v', 'queued', 1, 1, 1)",
                               ("inv000098", bad_again.app_name))
        assert saved is not None and failed is not None
        await saved
        try:
            await failed
        except RuntimeError as exc:
            assert "store write failed" in str(exc)
        else:
            raise AssertionError("the bad write was acknowledged")
        stored = await asyncio.to_thread(
            lambda: sorted(i.id for i in store.list(ListFilters(), 100, 0)[0]))
        assert stored == [inv.id for inv in good]
        assert (await asyncio.to_thread(store.get, "inv000001")).status == "failed"
        logs = await asyncio.to_thread(store.logs, "inv000001")
        assert [r.message for r in logs] == ["fine", "also fine"]
        assert store._rows == len(good)
        store.close()

    asyncio.run(main())


def test_the_log_is_checkpointed_off_the_loop_and_stays_bounded(tmp_path: Path) -> None:
    async def main() -> tuple[int, int, int]:
        store = Store.open(tmp_path / "runner.db")
        store.start(asyncio.get_running_loop())
        checkpointer = store._checkpointer
        assert checkpointer is not None
        wal = tmp_path / "runner.db-wal"
        largest = 0
        for n in range(3000):  # one commit each: ~100 MB of log if nothing copied it back
            await store.insert(_new(f"inv{n}", n, payload="x" * 2000))
            if n % 100 == 0:
                largest = max(largest, wal.stat().st_size)
        # The writer never checkpoints itself; the checkpointer's thread did.
        mode = store._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]  # type: ignore[union-attr]
        runs = checkpointer.runs
        store.close()
        return largest, runs, mode

    largest, runs, mode = asyncio.run(main())
    assert mode == 0 and runs > 0
    assert largest < 64 * 1024 * 1024, largest  # restarted past 32 MB
    reopened = Store.open(tmp_path / "runner.db")
    try:
        assert reopened.get("inv2999") is not None and reopened.get("inv0") is not None
    finally:
        reopened.close()


def test_a_held_insert_is_written_once_in_its_final_state(tmp_path: Path) -> None:
    async def main() -> None:
        store = Store.open(tmp_path / "runner.db")
        store.start(asyncio.get_running_loop())
        statements: list[str] = []
        assert store._conn is not None
        store._conn.set_trace_callback(statements.append)
        quick = _new("quick", 1, is_async=False)
        store.insert_nowait(quick, hold=60)
        quick.status = "running"
        store.save(quick)  # carried by the held row
        await store.flush()
        assert await asyncio.to_thread(store.get, "quick") is None  # still held
        quick.status, quick.output = "succeeded", "1"
        done = store.save(quick, wait=True)
        assert done is not None
        await done
        assert await asyncio.to_thread(store.get, "quick") == quick
        # A final state nobody waits for releases the held row too (the scheduler's way).
        answered = _new("answered", 4, is_async=False)
        store.insert_nowait(answered, hold=60)
        answered.status, answered.output = "succeeded", "2"
        assert store.save(answered) is None
        store.commit_pending()
        assert await asyncio.to_thread(store.get, "answered") == answered
        assert not [s for s in statements if s.startswith("UPDATE")], statements
        # One held past its time is written as it is then; later states update it.
        slow = _new("slow", 2, is_async=False, status="running")
        store.insert_nowait(slow, hold=0.01)
        await _until_stored(store, "slow")
        slow.status = "failed"
        await store.save(slow, wait=True)  # type: ignore[misc]
        assert (await asyncio.to_thread(store.get, "slow")).status == "failed"  # type: ignore[union-attr]
        # Closing writes what is still held.
        store.insert_nowait(_new("at-close", 3, is_async=False), hold=60)
        store.close()

    asyncio.run(main())
    reopened = Store.open(tmp_path / "runner.db")
    try:
        assert reopened.get("at-close") is not None
    finally:
        reopened.close()


def test_a_write_nobody_waits_for_is_committed_lazily_and_read_after_commit_pending(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "LAZY_COMMIT_S", 3600.0)

    async def main() -> None:
        store = Store.open(tmp_path / "runner.db")
        store.start(asyncio.get_running_loop())
        statements: list[str] = []
        assert store._conn is not None
        store._conn.set_trace_callback(statements.append)
        first = _new("first", 1, is_async=False, status="succeeded")
        store.insert_nowait(first)
        for _ in range(20):  # turns of the loop go by: nothing is committed yet
            await asyncio.sleep(0)
        assert "COMMIT" not in statements
        assert await asyncio.to_thread(store.get, "first") is None
        # A read for a client commits first: what it was answered is there.
        store.commit_pending()
        assert await asyncio.to_thread(store.get, "first") == first
        assert statements.count("COMMIT") == 1
        # A write somebody waits for takes the lazy ones queued before it along, in order.
        store.insert_nowait(_new("second", 2, is_async=False))
        await store.insert(_new("third", 3))
        assert statements.count("COMMIT") == 2
        assert await asyncio.to_thread(store.get, "second") is not None
        # Enough writes in waiting are committed without waiting for the delay.
        for i in range(store_module.LAZY_MAX_WRITES):
            store.insert_nowait(_new(f"many{i}", 10 + i, is_async=False))
        await asyncio.sleep(0)
        assert statements.count("COMMIT") == 3
        store.insert_nowait(_new("at-close", 9999, is_async=False))
        store.close()

    asyncio.run(main())
    reopened = Store.open(tmp_path / "runner.db")
    try:
        assert reopened.get("at-close") is not None
        assert reopened.get(f"many{store_module.LAZY_MAX_WRITES - 1}") is not None
    finally:
        reopened.close()


def test_lazy_writes_are_committed_within_the_delay_with_no_read(tmp_path: Path) -> None:
    async def main() -> None:
        store = Store.open(tmp_path / "runner.db")
        store.start(asyncio.get_running_loop())
        store.insert_nowait(_new("lazy", 1, is_async=False, status="succeeded"))
        await _until_stored(store, "lazy")
        store.close()

    asyncio.run(main())
