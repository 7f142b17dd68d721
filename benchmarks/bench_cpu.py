"""CPU time per invocation: the runner parent's and its workers', from ``/proc``.

    python benchmarks/bench_cpu.py [--invocations N] [--clients C] [--async] [--rounds R]

Wall-clock throughput on a shared machine swings with whatever else runs; the CPU
time a process spends per request barely does. This starts ``kernel-actions dev
--no-reload`` on the trivial app, sends N invocations from C keep-alive clients, and
prints the user+system CPU time the runner parent and its worker processes used,
divided by N (read from ``/proc/PID/stat`` before and after). Linux only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time

from _common import APPS, RawClient, machine, median, runner

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (workers, standbys)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        try:
            with open(f"/proc/{parent}/task/{parent}/children") as f:
                kids = [int(p) for p in f.read().split()]
        except FileNotFoundError:
            continue
        found += kids
        todo += kids
    return found


def snapshot(pid: int) -> tuple[float, dict[int, float]]:
    workers = {}
    for child in children(pid):
        try:
            workers[child] = cpu_seconds(child)
        except (FileNotFoundError, ProcessLookupError):
            pass
    return cpu_seconds(pid), workers


async def send(url: str, body: bytes, total: int, clients: int, status: int) -> float:
    conns = [RawClient(url) for _ in range(clients)]
    for conn in conns:
        await conn.connect()
    left = total

    async def loop(conn: RawClient) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            got, answer = await conn.request("POST", "/invocations", body)
            assert got == status, answer

    started = time.perf_counter()
    await asyncio.gather(*(loop(c) for c in conns))
    elapsed = time.perf_counter() - started
    for conn in conns:
        await conn.close()
    return elapsed


async def main(n: int, clients: int, is_async: bool, rounds: int) -> None:
    print(f"machine: {machine()}")
    body = {"app_name": "bench", "action_name": "add-async" if is_async else "add",
            "payload": json.dumps({"a": 1, "b": 2}), **({"async": True} if is_async else {})}
    raw = json.dumps(body).encode()
    server = runner(APPS / "trivial.py", "--no-reload")
    try:
        assert server.url is not None
        pid = server.proc.pid
        await send(server.url, raw, 500, clients, 202 if is_async else 200)  # warm up
        parents: list[float] = []
        workers: list[float] = []
        for _ in range(rounds):
            before_parent, before_workers = snapshot(pid)
            elapsed = await send(server.url, raw, n, clients, 202 if is_async else 200)
            if is_async:
                await asyncio.sleep(1.0)  # let the queue drain before reading the clocks
            after_parent, after_workers = snapshot(pid)
            parent = (after_parent - before_parent) / n * 1e6
            worker = sum(after_workers[p] - before_workers.get(p, 0.0)
                         for p in after_workers) / n * 1e6
            parents.append(parent)
            workers.append(worker)
            print(f"  {n} {'async' if is_async else 'sync'} invocations, {clients} clients: "
                  f"parent {parent:.0f} us, workers {worker:.0f} us per invocation "
                  f"({n / elapsed:.0f} req/s)")
        print(f"median of {rounds}: parent {median(parents):.0f} us, "
              f"workers {median(workers):.0f} us per invocation")
    finally:
        server.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invocations", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--async", dest="is_async", action="store_true",
                        help="async invocations (the parent's 202 path)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.invocations, args.clients, args.is_async, args.rounds))
