"""Start-up time and memory: ``kernel-actions dev`` against uvicorn on the bare app.

    python benchmarks/bench_resources.py [--invocations N] [--starts N] [--starts-only]
                                         [--before TREE]

- start to first successful invocation (median of 5 starts), against uvicorn
  starting the bare Starlette app and answering its first request; with ``--before``,
  also of another checkout's ``kernel_actions`` (``TREE`` put first on ``PYTHONPATH``),
  the three started in turn so the machine's load falls on each alike. The package's
  bytecode is written first, as ``pip install`` does: under ``PYTHONDONTWRITEBYTECODE``
  a source checkout would otherwise be compiled on every start, as no installed runner is;
- resident memory of the runner and its workers idle, then after N sync
  invocations (default 100,000), to show growth;
- CPU time per sync invocation of the runner process and of its serving worker over
  those N invocations (user + system time from ``/proc``: it moves far less with the
  machine's load than requests per second do).
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import json
import os
import time
from pathlib import Path

from _common import APPS, RawClient, ServerProcess, machine, median, runner, uvicorn

import kernel_actions

BODY = json.dumps({"app_name": "bench", "action_name": "add",
                   "payload": json.dumps({"a": 1, "b": 2})}).encode()


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants, in MB."""
    total = 0
    pids = [pid]
    while pids:
        p = pids.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        pids += [int(c) for c in children]
    return total / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


async def first_answer(url: str, path: str, body: bytes | None, started: float) -> float:
    while True:
        client = RawClient(url)
        try:
            status, _ = await client.request("POST" if body else "GET", path, body or b"")
            if status == 200:
                return (time.perf_counter() - started) * 1000
        except (ConnectionError, OSError, IndexError, asyncio.IncompleteReadError):
            pass
        finally:
            await client.close()
        await asyncio.sleep(0.002)


async def start_runner_once(tree: Path | None = None) -> float:
    """One start of ``kernel-actions dev``; of ``tree``'s package when given."""
    saved = os.environ.get("PYTHONPATH")
    if tree is not None:
        os.environ["PYTHONPATH"] = str(tree)
    try:
        started = time.perf_counter()
        server = runner(APPS / "trivial.py")
    finally:
        if tree is not None:
            if saved is None:
                os.environ.pop("PYTHONPATH", None)
            else:
                os.environ["PYTHONPATH"] = saved
    took = await first_answer(server.url or "", "/invocations", BODY, started)
    server.close()
    return took


def write_bytecode(*trees: Path) -> None:
    for tree in trees:
        compileall.compile_dir(tree, quiet=1)


async def start_uvicorn_once() -> float:
    started = time.perf_counter()
    server: ServerProcess = uvicorn("bare:app", APPS)
    took = await first_answer(server.url or "", "/invocations", BODY, started)
    server.close()
    return took


async def starts(count: int, before: Path | None) -> None:
    write_bytecode(Path(kernel_actions.__file__).parent,
                   *([before / "kernel_actions"] if before else []))
    uv: list[float] = []
    ka: list[float] = []
    old: list[float] = []
    for _ in range(count):
        uv.append(await start_uvicorn_once())
        if before is not None:
            old.append(await start_runner_once(before))
        ka.append(await start_runner_once())
    print(f"\n{'measure':<50}{'uvicorn bare':>14}{'kernel-actions':>16}")
    print(f"{'start to first successful invocation, median (ms)':<50}{median(uv):>14.0f}"
          f"{median(ka):>16.0f}")
    print(f"{'  as a multiple of uvicorn':<50}{'':>14}{median(ka) / median(uv):>15.2f}x")
    if old:
        print(f"{'  --before tree, same run (ms)':<50}{'':>14}{median(old):>16.0f}")
        print(f"{'  --before tree as a multiple of uvicorn':<50}{'':>14}"
              f"{median(old) / median(uv):>15.2f}x")


async def main(n: int, count: int, before: Path | None, starts_only: bool) -> None:
    print(f"machine: {machine()}")
    await starts(count, before)
    if starts_only:
        return

    server = runner(APPS / "trivial.py")
    client = RawClient(server.url or "")
    try:
        for _ in range(200):
            await client.request("POST", "/invocations", BODY)
        await asyncio.sleep(1)
        idle = rss_mb(server.proc.pid)
        # No browser was asked for, so no spare Chromium runs (it would count in ``idle``).
        _, status = await client.request("GET", "/_runner/status")
        spares = json.loads(status)["browsers"]["warm"]
        conns = [RawClient(server.url or "") for _ in range(8)]
        left = n

        async def work(c: RawClient) -> None:
            nonlocal left
            while left > 0:
                left -= 1
                status, _ = await c.request("POST", "/invocations", BODY)
                assert status == 200

        parent = server.proc.pid
        workers = children(parent)
        cpu_before = {p: cpu_seconds(p) for p in (parent, *workers)}
        started = time.perf_counter()
        await asyncio.gather(*(work(c) for c in conns))
        took = time.perf_counter() - started
        cpu_used = {p: cpu_seconds(p) - cpu_before[p] for p in cpu_before}
        runner_us = cpu_used.pop(parent) / n * 1e6
        worker_us = max(cpu_used.values(), default=0.0) / n * 1e6  # the serving one
        await asyncio.sleep(1)
        after = rss_mb(server.proc.pid)
        for c in conns:
            await c.close()
    finally:
        await client.close()
        server.close()
    print(f"{'memory, runner + worker, idle (MB)':<50}{'':>14}{idle:>16.1f}")
    print(f"{'  spare browsers in it (none asked for)':<50}{'':>14}"
          f"{spares['ready'] + spares['starting']:>16}")
    print(f"{f'memory after {n:,} invocations (MB)':<50}{'':>14}{after:>16.1f}")
    print(f"{'growth':<50}{'':>14}{(after / idle - 1) * 100:>15.1f}%")
    print(f"{'CPU per sync invocation, runner process (us)':<50}{'':>14}{runner_us:>16.0f}")
    print(f"{'CPU per sync invocation, worker process (us)':<50}{'':>14}{worker_us:>16.0f}")
    print(f"({n:,} sync invocations took {took:.1f} s, {n / took:.0f}/s, 8 clients)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invocations", type=int, default=100_000)
    parser.add_argument("--starts", type=int, default=5, help="starts of each server")
    parser.add_argument("--starts-only", action="store_true",
                        help="measure start-up alone (no memory or CPU runs)")
    parser.add_argument("--before", type=Path, default=None, metavar="TREE",
                        help="a checkout whose kernel_actions to start too, for before/after")
    args = parser.parse_args()
    asyncio.run(main(args.invocations, args.starts, args.before, args.starts_only))
    os._exit(0)
