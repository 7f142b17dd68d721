"""The SQLite store: deep pages give exactly what walking the rows gives."""

from __future__ import annotations

import asyncio
from pathlib import Path

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
