"""How promptly the runner answers and reacts while actions misbehave (timing the tests don't
assert, since a busy machine would make them flaky).

    python benchmarks/bench_responsiveness.py

* ``/health`` latency (p50, p99, worst) while one action prints a million lines;
* how long a sync invocation whose worker segfaults takes to come back failed;
* how long a sync invocation that outlives ``--sync-timeout 2`` takes to come back;
* wall time of 40 async invocations that each sleep 1 s (they run in parallel);
* wall time of 8 sync invocations of a blocking handler that sleeps 1 s, sent at once.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from _common import machine, median, pct, runner

HERE = Path(__file__).parent
TESTS_APPS = HERE.parent / "tests" / "apps"


def post(c: httpx.Client, app: str, action: str, payload: str | None = None,
         **extra: object) -> dict:
    body: dict = {"app_name": app, "action_name": action, **extra}
    if payload is not None:
        body["payload"] = payload
    return c.post("/invocations", json=body).json()


def copy_app(name: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="bench-app-"))
    entry = folder / "main.py"
    entry.write_text((TESTS_APPS / name).read_text())
    return entry


def flood_health() -> dict[str, float]:
    server = runner(copy_app("hostile_app.py"), "--no-reload")
    try:
        with httpx.Client(base_url=server.url or "", timeout=60) as c:
            inv = post(c, "hostile", "flood", **{"async": True})
            samples: list[float] = []
            while c.get(f"/invocations/{inv['id']}").json()["status"] in ("queued", "running"):
                started = time.perf_counter()
                c.get("/health")
                samples.append((time.perf_counter() - started) * 1000)
        return {"health_p50_ms": median(samples), "health_p99_ms": pct(samples, 99),
                "health_worst_ms": max(samples), "samples": len(samples)}
    finally:
        server.stop()


def faults() -> dict[str, float]:
    server = runner(copy_app("conformance_app.py"), "--no-reload", "--sync-timeout", "2")
    try:
        with httpx.Client(base_url=server.url or "", timeout=60) as c:
            post(c, "conformance", "echo", '"warm"')
            started = time.perf_counter()
            crashed = post(c, "conformance", "segfault")
            segfault_ms = (time.perf_counter() - started) * 1000
            assert crashed["status"] == "failed", crashed
            started = time.perf_counter()
            timed_out = post(c, "conformance", "sleep", "60")
            timeout_ms = (time.perf_counter() - started) * 1000
            assert timed_out["status"] == "failed", timed_out
            started = time.perf_counter()
            ids = [post(c, "conformance", "sleep", "1", **{"async": True})["id"]
                   for _ in range(40)]
            while any(c.get(f"/invocations/{i}").json()["status"] in ("queued", "running")
                      for i in ids):
                time.sleep(0.05)
            async_wall_ms = (time.perf_counter() - started) * 1000
            started = time.perf_counter()
            with ThreadPoolExecutor(8) as pool:
                done = list(pool.map(lambda _: post(c, "conformance", "block", "1"), range(8)))
            blocking_wall_ms = (time.perf_counter() - started) * 1000
            assert all(d["status"] == "succeeded" for d in done), done
        return {"segfault_to_failed_ms": segfault_ms, "sync_timeout_2s_return_ms": timeout_ms,
                "async_40x1s_wall_ms": async_wall_ms, "blocking_8x1s_wall_ms": blocking_wall_ms}
    finally:
        server.stop()


def main() -> None:
    print(f"machine: {machine()}", file=sys.stderr)
    results = {**flood_health(), **faults()}
    for name, value in results.items():
        print(f"{name:<28} {value:,.1f}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
