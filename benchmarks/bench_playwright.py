"""``playwright.execute`` latency on a warm browser, next to Playwright used directly.

    python benchmarks/bench_playwright.py [--calls N]

Starts ``kernel-actions serve`` and one browser, warms its default executor, then
measures, in the same run and against the same browser:

- ``POST /browsers/{id}/playwright/execute`` of ``return 1`` (the runner's overhead:
  HTTP, the executor's pipe and its Node process);
- the same call with ``return await page.evaluate(() => 1)`` (one CDP round trip);
- the baseline: ``page.evaluate("1")`` from Python's Playwright connected over CDP to the
  browser's ``cdp_ws_url`` (what a user would do without the API).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

import httpx
from _common import RawClient, machine, median, pct

from tests.helpers import RunnerProcess


def serve() -> RunnerProcess:
    data = tempfile.mkdtemp(prefix="kernel-actions-bench-pw-")
    server = RunnerProcess(["serve", "--port", "0", "--data-dir", data], cwd=Path(data))
    server.wait_ready()
    server.wait_http("/health")
    return server


async def execute_latencies(url: str, browser_id: str, code: str, calls: int) -> list[float]:
    client = RawClient(url)
    body = json.dumps({"code": code}).encode()
    path = f"/browsers/{browser_id}/playwright/execute"
    times = []
    try:
        for _ in range(calls):
            started = time.perf_counter()
            status, answer = await client.request("POST", path, body)
            times.append((time.perf_counter() - started) * 1000)
            assert status == 200 and json.loads(answer)["success"], answer
    finally:
        await client.close()
    return times


def direct_latencies(cdp_ws_url: str, calls: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.connect_over_cdp(cdp_ws_url)
        page = browser.contexts[0].pages[0]
        for _ in range(5):
            page.evaluate("1")
        times = []
        for _ in range(calls):
            started = time.perf_counter()
            assert page.evaluate("1") == 1
            times.append((time.perf_counter() - started) * 1000)
        browser.close()
    return times


def row(name: str, times: list[float]) -> str:
    return f"| {name} | {median(times):.1f} | {pct(times, 90):.1f} | {pct(times, 99):.1f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    server = serve()
    try:
        assert server.url is not None
        browser = httpx.post(f"{server.url}/browsers", json={}, timeout=60).json()
        started = time.perf_counter()
        first = asyncio.run(execute_latencies(server.url, browser["session_id"], "return 1", 1))
        cold = (time.perf_counter() - started) * 1000
        asyncio.run(execute_latencies(server.url, browser["session_id"], "return 1", 10))
        ret = asyncio.run(execute_latencies(server.url, browser["session_id"], "return 1",
                                            args.calls))
        evaluate = asyncio.run(execute_latencies(
            server.url, browser["session_id"], "return await page.evaluate(() => 1)",
            args.calls))
        direct = direct_latencies(browser["cdp_ws_url"], args.calls)
        print(f"machine: {machine()}; {args.calls} calls each; first call (Node start): "
              f"{cold:.0f} ms ({first[0]:.0f} ms in the request)")
        print("| measure | p50 ms | p90 ms | p99 ms |\n|---|---|---|---|")
        print(row("execute `return 1` (warm)", ret))
        print(row("execute `return await page.evaluate(() => 1)`", evaluate))
        print(row("baseline: Playwright over CDP, `page.evaluate('1')`", direct))
        print(f"execute `return 1` p50 target <= 100 ms: "
              f"{'met' if median(ret) <= 100 else 'missed'}")
        httpx.delete(f"{server.url}/browsers/{browser['session_id']}", timeout=30)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
