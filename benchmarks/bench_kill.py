"""Answered invocations after ``kill -9``: 16 clients at full speed, the runner killed mid-load.

    python benchmarks/bench_kill.py [--runs N] [--after SECONDS]

Each run starts ``kernel-actions dev --no-reload`` on the trivial app, has 16 keep-alive
clients create invocations as fast as it answers (one in four async), kills the runner
with SIGKILL ``--after`` seconds in, restarts it on the same data dir, and looks up every
invocation a client was answered about: a sync one must be there in the state and output
it was answered with, an async one must be there. Prints, per run, what was answered and
what is missing or changed (the target: none).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

import httpx
from _common import APPS, RawClient, machine, runner

CLIENTS = 16
PAYLOAD = json.dumps({"a": 1, "b": 2})


async def hammer(url: str, answered: dict[str, tuple[bool, str, str | None]]) -> None:
    """One client: create invocations until the runner stops answering."""
    conn = RawClient(url)
    n = 0
    try:
        while True:
            n += 1
            is_async = n % 4 == 0
            body = json.dumps({"app_name": "bench", "action_name": "add",
                               "payload": PAYLOAD, "async": is_async}).encode()
            status, raw = await conn.request("POST", "/invocations", body)
            if status not in (200, 202):
                raise RuntimeError(f"{status}: {raw[:200]!r}")
            inv = json.loads(raw)
            answered[inv["id"]] = (is_async, inv["status"], inv.get("output"))
    except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
        return  # the runner is gone: what was in flight was never answered
    finally:
        await conn.close()


def stored(url: str) -> dict[str, dict]:
    rows: dict[str, dict] = {}
    offset = 0
    with httpx.Client(base_url=url, timeout=60) as c:
        while True:
            page = c.get("/invocations", params={"limit": 100, "offset": offset}).json()
            rows.update((row["id"], row) for row in page)
            if len(page) < 100:
                return rows
            offset += len(page)


async def one_run(after: float) -> tuple[int, int, int, int, float]:
    data = Path(tempfile.mkdtemp(prefix="kernel-actions-kill-"))
    server = runner(APPS / "trivial.py", "--no-reload", data_dir=data)
    assert server.url is not None
    answered: dict[str, tuple[bool, str, str | None]] = {}
    clients = [asyncio.ensure_future(hammer(server.url, answered)) for _ in range(CLIENTS)]
    started = time.perf_counter()
    await asyncio.sleep(after)
    server.kill()
    await asyncio.gather(*clients)
    elapsed = time.perf_counter() - started
    again = runner(APPS / "trivial.py", "--no-reload", data_dir=data)
    try:
        assert again.url is not None
        rows = await asyncio.to_thread(stored, again.url)
    finally:
        again.close()
    sync = sum(1 for is_async, *_ in answered.values() if not is_async)
    lost = changed = 0
    for inv_id, (is_async, status, output) in answered.items():
        row = rows.get(inv_id)
        if row is None:
            lost += 1
        elif not is_async and (row["status"], row["output"]) != (status, output):
            changed += 1
    return sync, len(answered) - sync, lost, changed, len(answered) / elapsed


async def main(runs: int, after: float) -> None:
    print(f"machine: {machine()}")
    print(f"{CLIENTS} clients, kill -9 after {after:g} s, restart on the same data dir\n")
    print(f"{'run':>3}  {'sync answered':>13}  {'async answered':>14}  {'missing':>7}  "
          f"{'changed':>7}  {'answered/s':>10}")
    total_lost = 0
    for n in range(1, runs + 1):
        sync, async_, lost, changed, rate = await one_run(after)
        total_lost += lost + changed
        print(f"{n:>3}  {sync:>13,}  {async_:>14,}  {lost:>7}  {changed:>7}  {rate:>10,.0f}")
    print(f"\nanswered invocations missing or changed after kill -9: {total_lost}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--after", type=float, default=1.0,
                        help="seconds of load before the kill")
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.after))
