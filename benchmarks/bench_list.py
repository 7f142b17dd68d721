"""``GET /invocations`` over a store of 1,000,000 invocations: filters and deep pages.

    python benchmarks/bench_list.py [--rows N]

Fills a fresh data directory's store directly (fast), starts the runner on it,
and times filtered list requests at several page offsets (median of repeats).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from _common import APPS, RawClient, machine, median, pct, runner

from kernel_actions.runner.engine.store import Store


def fill(db: Path, rows: int) -> None:
    Store.open(db)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    rng = random.Random(7)
    base = time.time_ns() - rows * 1_000_000
    actions = ["add", "add-async", "crawl", "summarise"]
    statuses = ["succeeded"] * 8 + ["failed"]
    batch = []
    for i in range(rows):
        batch.append((f"{i:024d}", "bench", rng.choice(actions), "latest", '{"a":1,"b":2}',
                      rng.choice(statuses), base + i * 1_000_000, 900.0, 1, '{"sum":3}', None,
                      base + i * 1_000_000, base + i * 1_000_000 + 500_000, 1, None))
        if len(batch) == 50_000:
            conn.executemany(
                "INSERT INTO invocations (id, app_name, action_name, version, payload, status, "
                "created_ns, timeout_s, is_async, output, status_reason, running_ns, "
                "finished_ns, generation, deployment_id) VALUES "
                "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", batch)
            batch.clear()
    conn.commit()
    conn.close()


async def timed(client: RawClient, path: str, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        status, _ = await client.request("GET", path)
        out.append((time.perf_counter() - t) * 1000)
        assert status == 200, status
    return out


async def main(rows: int) -> None:
    print(f"machine: {machine()}; {rows:,} stored invocations")
    data = Path(tempfile.mkdtemp(prefix="bench-list-"))
    t = time.perf_counter()
    fill(data / "runner.db", rows)
    print(f"filled in {time.perf_counter() - t:.1f} s")
    server = runner(APPS / "trivial.py", data_dir=data)
    client = RawClient(server.url or "")
    queries = {
        "no filter, first page": "/invocations?limit=20",
        "no filter, offset 500,000": "/invocations?limit=20&offset=500000",
        "no filter, last page": f"/invocations?limit=20&offset={rows - 20}",
        "action_name filter, first page": "/invocations?action_name=crawl&limit=20",
        "action_name filter, offset 100,000": "/invocations?action_name=crawl&limit=20"
                                              "&offset=100000",
        "status=failed, first page": "/invocations?status=failed&limit=100",
        "since=5m, first page": "/invocations?since=5m&limit=20",
        "query (id prefix), first page": "/invocations?query=0000000000000000004242&limit=20",
    }
    try:
        print(f"\n{'query':<40}{'p50 ms':>10}{'p99 ms':>10}")
        for name, path in queries.items():
            samples = await timed(client, path, 30)
            print(f"{name:<40}{median(samples):>10.2f}{pct(samples, 99):>10.2f}")
    finally:
        await client.close()
        server.close()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    asyncio.run(main(parser.parse_args().rows))
