"""Invocation speed: the runner against a bare Starlette endpoint, in the same run.

    python benchmarks/bench_invoke.py [--quick]

Prints sync throughput (16 concurrent clients) and single-client latency side by
side with two baselines run in the same process tree: a bare Starlette endpoint on
uvicorn that parses the same body and calls the same function, and the *floor*
(``apps/floor.py``): the same endpoint on httptools + uvloop forwarding each call to
one worker process over a unix socket, with a SQLite insert and update per
invocation and one commit per loop turn — the least a process-isolated, durable
runner must do. The runner is ``kernel-actions dev --no-reload``, and every server
answers 1,000 requests before its throughput is measured. Then async throughput for
10,000 invocations and SSE delivery latency, which have no baseline. ``--rounds N``
repeats the sync measures and prints medians.
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
#: Requests every server answers before a throughput measure starts: what is measured is
#: the steady state, not a process that just started (imports finishing, a standby worker
#: loading its code, first-call caches).
WARM_UP = 1000


async def throughput(url: str, total: int, clients: int, warm_up: int = WARM_UP) -> float:
    conns = [RawClient(url) for _ in range(clients)]
    for conn in conns:  # connect; the first request alone (the floor starts its worker)
        await conn.request("POST", "/invocations", SYNC)
    left = warm_up

    async def warm(conn: RawClient) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await conn.request("POST", "/invocations", SYNC)

    await asyncio.gather(*(warm(c) for c in conns))
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


async def sync_round(url: str, n_tp: int, n_lat: int) -> tuple[float, list[float]]:
    return await throughput(url, n_tp, 16), await latency(url, n_lat)


async def main(quick: bool, rounds: int) -> None:
    n_tp = 1500 if quick else 5000
    n_lat = 300 if quick else 2000
    n_async = 2000 if quick else 10_000
    print(f"machine: {machine()}")

    servers = {
        "bare": lambda: uvicorn("bare:app", APPS),
        "floor": lambda: uvicorn("floor:app", APPS, "--http", "httptools", "--loop", "uvloop"),
        "runner": lambda: runner(APPS / "trivial.py", "--no-reload"),
    }
    tps: dict[str, list[float]] = {k: [] for k in servers}
    p50s: dict[str, list[float]] = {k: [] for k in servers}
    p99s: dict[str, list[float]] = {k: [] for k in servers}
    submit_rate = done_rate = 0.0
    ok = 0
    sse: list[float] = []
    for round_no in range(rounds):
        for name, start in servers.items():  # interleaved: each round sees the same noise
            server = start()
            try:
                if name != "runner":
                    server.wait_http("/invocations")
                tp, lat = await sync_round(server.url, n_tp, n_lat)
                tps[name].append(tp)
                p50s[name].append(pct(lat, 50))
                p99s[name].append(pct(lat, 99))
                if name == "runner" and round_no == rounds - 1:
                    submit_rate, done_rate, ok = await async_burst(server.url, n_async, 16)
                    sse = await sse_latency(server.url, 200 if quick else 500)
            finally:
                server.close()

    print()
    print(f"medians of {rounds} round(s)")
    print(f"{'measure':<40}{'bare':>10}{'floor':>10}{'runner':>10}{'vs floor':>11}")
    tp = {k: median(v) for k, v in tps.items()}
    print(f"{'sync throughput, 16 clients (req/s)':<40}{tp['bare']:>10.0f}{tp['floor']:>10.0f}"
          f"{tp['runner']:>10.0f}{tp['runner'] / tp['floor']:>10.2f}x")
    for label, values in (("p50", p50s), ("p99", p99s)):
        m = {k: median(v) for k, v in values.items()}
        print(f"{f'sync latency, 1 client, {label} (ms)':<40}{m['bare']:>10.2f}"
              f"{m['floor']:>10.2f}{m['runner']:>10.2f}{m['runner'] - m['floor']:>+9.2f}ms")
    print(f"{f'{n_async} async: submitted/s':<40}{'':>30}{submit_rate:>10.0f}")
    print(f"{f'{n_async} async: completed/s':<40}{'':>30}{done_rate:>10.0f}")
    print(f"{f'{n_async} async: succeeded':<40}{'':>30}{ok:>10d}")
    print(f"{'SSE state change to receipt, p50 (ms)':<40}{'':>30}{median(sse):>10.2f}")
    print(f"{'SSE state change to receipt, p99 (ms)':<40}{'':>30}{pct(sse, 99):>10.2f}")
    if rounds > 1:
        print()
        for name in servers:
            print(f"  {name:<7} throughput per round: "
                  + ", ".join(f"{v:.0f}" for v in tps[name]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the sync measures")
    args = parser.parse_args()
    asyncio.run(main(args.quick, args.rounds))
