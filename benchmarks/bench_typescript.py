"""TypeScript apps on the runner, beside Python ones from the same run.

* start to first successful invocation of ``kernel-actions dev`` on a trivial app: a
  TypeScript one (``apps/trivial_ts/index.ts``, on the Node worker) and a Python one
  (``apps/trivial.py``), started in turn so the machine's load falls on each alike;
* sync latency of the trivial action (``add``), one client, p50/p90/p99 over N calls after a
  warm-up, on each runner.

The TypeScript app's ``@onkernel/sdk`` is the one the tests install (``npm ci --prefix
tests/node``), linked into a copy of the app.

    python benchmarks/bench_typescript.py [--starts 5] [--calls 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
from pathlib import Path

from _common import APPS, HERE, RawClient, machine, median, pct, runner
from bench_resources import first_answer

from kernel_actions.runner.engine.node_runtime import choose_node

BODY = json.dumps({"app_name": "bench", "action_name": "add",
                   "payload": json.dumps({"a": 1, "b": 2})}).encode()
SDK = HERE.parent / "tests" / "node" / "node_modules"


def typescript_app(folder: Path) -> Path:
    """A copy of apps/trivial_ts with the SDK linked in; its index.ts."""
    app = folder / "trivial_ts"
    shutil.copytree(APPS / "trivial_ts", app)
    (app / "node_modules").symlink_to(SDK, target_is_directory=True)
    return app / "index.ts"


async def start_once(entry: Path) -> float:
    started = time.perf_counter()
    server = runner(entry, "--no-reload")
    took = await first_answer(server.url or "", "/invocations", BODY, started)
    server.close()
    return took


async def latency(entry: Path, calls: int) -> list[float]:
    server = runner(entry, "--no-reload")
    client = RawClient(server.url or "")
    try:
        for _ in range(200):  # warm-up
            status, _ = await client.request("POST", "/invocations", BODY)
            assert status == 200
        took = []
        for _ in range(calls):
            t = time.perf_counter()
            status, body = await client.request("POST", "/invocations", BODY)
            took.append((time.perf_counter() - t) * 1000)
            assert status == 200 and json.loads(body)["status"] == "succeeded", body
        return took
    finally:
        await client.close()
        server.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    if not (SDK / "@onkernel" / "sdk").is_dir():
        raise SystemExit("tests/node/node_modules has no @onkernel/sdk: "
                         "npm ci --prefix tests/node")
    with tempfile.TemporaryDirectory(prefix="kernel-actions-bench-ts-") as tmp:
        ts_entry = typescript_app(Path(tmp))
        py_entry = APPS / "trivial.py"
        print(f"machine: {machine()}; {choose_node().describe()}")
        ts_starts: list[float] = []
        py_starts: list[float] = []
        for _ in range(args.starts):
            py_starts.append(await start_once(py_entry))
            ts_starts.append(await start_once(ts_entry))
        py_lat = await latency(py_entry, args.calls)
        ts_lat = await latency(ts_entry, args.calls)
    print(f"\n{'measure':<52}{'Python':>10}{'TypeScript':>12}")
    print(f"{'start to first successful invocation, median (ms)':<52}"
          f"{median(py_starts):>10.0f}{median(ts_starts):>12.0f}")
    print(f"{'  all starts (ms)':<52}{min(py_starts):>5.0f}-{max(py_starts):<4.0f}"
          f"{min(ts_starts):>7.0f}-{max(ts_starts):<4.0f}")
    for p in (50, 90, 99):
        print(f"{f'sync latency p{p}, 1 client, {args.calls} calls (ms)':<52}"
              f"{pct(py_lat, p):>10.2f}{pct(ts_lat, p):>12.2f}")


if __name__ == "__main__":
    asyncio.run(main())
