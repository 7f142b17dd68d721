"""Invocation speed: the runner against a bare Starlette endpoint, in the same run.

    python benchmarks/bench_invoke.py [--quick]

Prints sync throughput (16 concurrent clients) and single-client latency side by
side with the baseline (a bare Starlette endpoint on uvicorn that parses the same
body and calls the same function), then async throughput for 10,000 invocations
and SSE delivery latency, which have no baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import datetime

import httpx
from _common import APPS, RawClient, machine, median, pct, runner, uvicorn

BODY = {"app_name": "bench", "action_name": "add", "version": "latest",
        "payload": json.dumps({"a": 1, "b": 2})}


SYNC = json.dumps(BODY).encode()


async def throughput(url: str, total: int, clients: int) -> float:
    conns = [RawClient(url) for _ in range(clients)]
    for conn in conns:  # warm up connections
        await conn.request("POST", "/invocations", SYNC)
    left = total

    async def worker(conn: RawClient) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            status, body = await conn.request("POST", "/invocations", SYNC)
            assert status == 200 and b'"succeeded"' in body, body

    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    elapsed = time.perf_counter() - started
    for conn in conns:
        await conn.close()
    return total / elapsed


async def latency(url: str, n: int) -> list[float]:
    out = []
    conn = RawClient(url)
    for _ in range(50):
        await conn.request("POST", "/invocations", SYNC)
    for _ in range(n):
        t = time.perf_counter()
        status, _ = await conn.request("POST", "/invocations", SYNC)
        out.append((time.perf_counter() - t) * 1000)
        assert status == 200
    await conn.close()
    return out


async def async_burst(url: str, total: int, clients: int) -> tuple[float, float, int]:
    body = json.dumps({**BODY, "action_name": "add-async", "async": True}).encode()
    conns = [RawClient(url) for _ in range(clients)]
    for conn in conns:
        await conn.connect()
    left = total

    async def worker(conn: RawClient) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            status, answer = await conn.request("POST", "/invocations", body)
            assert status == 202, answer

    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    submitted = time.perf_counter() - started
    async with httpx.AsyncClient(base_url=url, timeout=120) as c:
        while True:
            pending = 0
            for status in ("queued", "running"):
                r = await c.get("/invocations", params={"status": status, "limit": 1})
                pending += len(r.json())
            if not pending:
                break
            await asyncio.sleep(0.01)
        done = time.perf_counter() - started
        ok = 0
        offset = 0
        while True:
            r = await c.get("/invocations", params={"action_name": "add-async",
                                                     "status": "succeeded", "limit": 100,
                                                     "offset": offset})
            ok += len(r.json())
            if r.headers["X-Has-More"] != "true":
                break
            offset = int(r.headers["X-Next-Offset"])
    return total / submitted, total / done, ok


def _ns(stamp: str) -> int:
    whole = datetime.fromisoformat(stamp[:19] + "+00:00")
    return int(whole.timestamp()) * 1_000_000_000 + int(stamp[20:29])


async def sse_latency(url: str, n: int) -> list[float]:
    """Milliseconds from a state change (its event's timestamp) to a subscribed client reading it.

    The client follows the runner-wide stream and submits invocations one at a time,
    each after the previous one's final state arrived.
    """
    out: list[float] = []
    body = {**BODY, "action_name": "add-async", "async": True}
    async with httpx.AsyncClient(base_url=url, timeout=60) as c, \
            httpx.AsyncClient(base_url=url, timeout=60) as events:
        async with events.stream("GET", "/_runner/events") as stream:
            lines = stream.aiter_lines()
            async for line in lines:  # the runner_state snapshot on connect
                if line.startswith("data: "):
                    break
            for _ in range(n):
                r = await c.post("/invocations", json=body)
                inv_id = r.json()["id"]
                async for line in lines:
                    if not line.startswith("data: "):
                        continue
                    received = time.time_ns()
                    event = json.loads(line[6:])
                    if event["event"] != "invocation_state":
                        continue
                    out.append((received - _ns(event["timestamp"])) / 1e6)
                    inv = event["invocation"]
                    if inv["id"] == inv_id and inv["status"] in ("succeeded", "failed"):
                        break
    return out


async def main(quick: bool) -> None:
    n_tp = 1500 if quick else 5000
    n_lat = 300 if quick else 2000
    n_async = 2000 if quick else 10_000
    print(f"machine: {machine()}")

    bare = uvicorn("bare:app", APPS)
    bare.wait_http("/invocations")
    try:
        bare_tp = await throughput(bare.url, n_tp, 16)
        bare_lat = await latency(bare.url, n_lat)
    finally:
        bare.close()

    run = runner(APPS / "trivial.py")
    try:
        run_tp = await throughput(run.url, n_tp, 16)
        run_lat = await latency(run.url, n_lat)
        submit_rate, done_rate, ok = await async_burst(run.url, n_async, 16)
        sse = await sse_latency(run.url, 200 if quick else 500)
    finally:
        run.close()

    print()
    print(f"{'measure':<44}{'bare starlette':>16}{'kernel-actions':>16}{'ratio':>9}")
    print(f"{'sync throughput, 16 clients (req/s)':<44}{bare_tp:>16.0f}{run_tp:>16.0f}"
          f"{run_tp / bare_tp:>8.2f}x")
    for p in (50, 99):
        b, r = pct(bare_lat, p), pct(run_lat, p)
        print(f"{f'sync latency, 1 client, p{p} (ms)':<44}{b:>16.2f}{r:>16.2f}{r - b:>+8.2f}ms")
    print(f"{f'{n_async} async: submitted/s':<44}{'-':>16}{submit_rate:>16.0f}")
    print(f"{f'{n_async} async: completed/s (submit to last done)':<44}{'-':>16}{done_rate:>16.0f}")
    print(f"{f'{n_async} async: succeeded':<44}{'-':>16}{ok:>16d}")
    print(f"{'SSE state change to receipt, p50 (ms)':<44}{'-':>16}{median(sse):>16.2f}")
    print(f"{'SSE state change to receipt, p99 (ms)':<44}{'-':>16}{pct(sse, 99):>16.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run)")
    asyncio.run(main(parser.parse_args().quick))
