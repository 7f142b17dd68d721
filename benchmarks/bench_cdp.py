"""What serving DevTools through the runner costs: ``cdp_ws_url`` against Chromium's own port.

    python benchmarks/bench_cdp.py [--calls N]

Round trip of ``Runtime.evaluate("1+1")`` on a page session, N times (default 500), one at
a time, with the same WebSocket client:

- through the runner: the browser's ``cdp_ws_url`` (runner WebSocket, token check,
  multiplexer, DevTools pipe);
- baseline: a Chromium started by hand with ``--remote-debugging-port`` on loopback, its
  own WebSocket (what the runner used to hand out).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _common import Server, machine, median, pct
from websockets.sync.client import ClientConnection, connect

from kernel_actions.runner.browsers.chromium import find_chromium


def page_session(ws: ClientConnection) -> str:
    def call(n: int, method: str, params: dict[str, object]) -> dict[str, object]:
        ws.send(json.dumps({"id": n, "method": method, "params": params}))
        while True:
            got = json.loads(ws.recv(timeout=30))
            if got.get("id") == n:
                return got["result"]

    target = call(1, "Target.createTarget", {"url": "about:blank"})["targetId"]
    return str(call(2, "Target.attachToTarget", {"targetId": target, "flatten": True})[
        "sessionId"])


def round_trips(url: str, calls: int) -> list[float]:
    with connect(url, open_timeout=30, max_size=None) as ws:
        session = page_session(ws)
        times = []
        for n in range(calls + 20):
            started = time.perf_counter()
            ws.send(json.dumps({"id": 100 + n, "method": "Runtime.evaluate", "sessionId": session,
                                "params": {"expression": "1+1", "returnByValue": True}}))
            while json.loads(ws.recv(timeout=30)).get("id") != 100 + n:
                pass
            if n >= 20:  # warm-up
                times.append((time.perf_counter() - started) * 1000)
        return times


def direct_chromium(profile: Path) -> tuple[subprocess.Popen[bytes], str]:
    proc = subprocess.Popen(
        [find_chromium(), "--headless=new", "--no-sandbox", "--remote-debugging-port=0",
         f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    assert proc.stderr is not None
    for raw in proc.stderr:
        found = re.search(rb"DevTools listening on (ws://\S+)", raw)
        if found:
            return proc, found.group(1).decode()
    raise RuntimeError("Chromium did not open its DevTools port")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        server = Server([sys.executable, "-m", "kernel_actions.cli", "serve", "--port", "0",
                         "--data-dir", f"{tmp}/data"], cwd=Path.cwd(), ready_line="listening on")
        try:
            server.wait_line()
            browser = httpx.post(f"{server.url}/browsers", json={"timeout_seconds": 300},
                                 timeout=60).json()
            proxied = round_trips(browser["cdp_ws_url"], args.calls)
        finally:
            server.stop()
        proc, url = direct_chromium(Path(tmp) / "direct")
        try:
            direct = round_trips(url, args.calls)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    print(f"Runtime.evaluate round trip, {args.calls} calls, ms:")
    for name, values in (("Chromium's own port (baseline)", direct),
                         ("cdp_ws_url through the runner", proxied)):
        print(f"  {name:32} p50 {median(values):.3f}  p99 {pct(values, 99):.3f}")
    print(f"  added by the runner, p50: {median(proxied) - median(direct):+.3f} ms")


if __name__ == "__main__":
    main()
