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
