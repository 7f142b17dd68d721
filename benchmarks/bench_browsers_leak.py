"""Browser churn: N create → execute → replay → delete cycles, then what is left.

    python benchmarks/bench_browsers_leak.py [--cycles N]

Starts ``kernel-actions serve``; each cycle creates a browser, runs Playwright code
in it, records a short replay (stopped, or left to the deletion on odd cycles) and
deletes it. Reports the runner's resident memory after a warm-up and after the N
cycles (target: back within ±10%), the runner's thread count, and any Chromium,
Node or encoder process still alive (target: none). Default N = 200.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _common import Server, machine


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def leftovers(marker: str) -> list[str]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if marker in cmd:
                found.append(cmd[:120])
    return found


def cycle(client: httpx.Client, i: int) -> None:
    browser = client.post("/browsers", json={"viewport": {"width": 320, "height": 240}}).json()
    bid = browser["session_id"]
    replay = client.post(f"/browsers/{bid}/replays", json={"framerate": 5}).json()
    reply = client.post(f"/browsers/{bid}/playwright/execute", json={
        "code": f"await page.setContent('<h1>{i}</h1>'); return await page.textContent('h1')"})
    assert reply.json().get("result") == str(i), reply.text
    if i % 2:
        client.post(f"/browsers/{bid}/replays/{replay['replay_id']}/stop")
    assert client.delete(f"/browsers/{bid}").status_code == 204


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", type=int, default=200)
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="kernel-actions-bench-leak-"))
    server = Server([sys.executable, "-m", "kernel_actions.cli", "serve", "--port", "0",
                     "--data-dir", str(data)], cwd=data, ready_line="listening on")
    server.wait_line()
    server.wait_http("/health")
    marker = str(data / "browsers") + os.sep
    try:
        assert server.url is not None
        with httpx.Client(base_url=server.url, timeout=120) as client:
            for i in range(3):
                cycle(client, i)
            time.sleep(2)
            pid = server.proc.pid
            before, threads_before = rss_mb(pid), threads(pid)
            started = time.perf_counter()
            for i in range(args.cycles):
                cycle(client, i)
            elapsed = time.perf_counter() - started
            deadline = time.monotonic() + 30
            while leftovers(marker) and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(2)
            after, threads_after = rss_mb(pid), threads(pid)
        left = leftovers(marker)
        change = (after - before) / before * 100
        print(f"machine: {machine()}; {args.cycles} cycles in {elapsed:.0f} s "
              f"({elapsed / args.cycles:.1f} s each)")
        print(f"runner RSS after warm-up {before:.1f} MB, after the cycles {after:.1f} MB "
              f"({change:+.1f}%; target within ±10%: {'met' if abs(change) <= 10 else 'missed'})")
        print(f"runner threads {threads_before} -> {threads_after}")
        print(f"Chromium / Node / encoder processes left: {len(left)}"
              + "".join(f"\n  {c}" for c in left))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
