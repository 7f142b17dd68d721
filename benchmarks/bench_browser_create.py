"""``browsers.create`` on a warm runner (a spare browser ready) against a cold start.

    python benchmarks/bench_browser_create.py [--rounds N]

Starts a runner and, in each round, times on the same runner:

- ``POST /browsers`` served by the warm spare (the spare is ready first: a warm runner);
- ``POST /browsers`` with a viewport no spare has, which starts Chromium and its Xvfb
  screen cold (the path every create took before spares);
- for each, create → Playwright ``connect_over_cdp(cdp_ws_url)`` → first
  ``page.goto('about:blank')`` done: what a script waits for before it can work.

Each browser is deleted, and the runner left to settle (its next spare ready), before the
next is timed, so no measurement overlaps a background start.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import httpx
from _common import APPS, machine, median, pct, runner

SHAPES = ({"width": 1280, "height": 800}, {"width": 1280, "height": 720})


def summary(name: str, values: list[float]) -> str:
    return f"{name:<56} p50 {median(values):7.1f} ms   p90 {pct(values, 90):7.1f} ms"


def main(rounds: int) -> None:
    from playwright.sync_api import sync_playwright

    server = runner(APPS / "trivial.py")
    try:
        with httpx.Client(base_url=server.url or "", timeout=120) as http, \
                sync_playwright() as pw:

            def warm() -> dict[str, int]:
                return dict(http.get("/_runner/status").json()["browsers"]["warm"])

            def settle() -> None:
                deadline = time.monotonic() + 60
                while warm()["ready"] < 1:
                    assert time.monotonic() < deadline, "no spare became ready in 60 s"
                    time.sleep(0.02)

            def create(viewport: dict[str, int]) -> tuple[float, dict[str, Any]]:
                t = time.perf_counter()
                r = http.post("/browsers", json={"viewport": viewport, "timeout_seconds": 600})
                took = (time.perf_counter() - t) * 1000
                assert r.status_code == 200, r.text
                return took, r.json()

            def to_first_goto(viewport: dict[str, int]) -> tuple[float, float]:
                t = time.perf_counter()
                took, browser = create(viewport)
                chromium = pw.chromium.connect_over_cdp(browser["cdp_ws_url"])
                chromium.contexts[0].pages[0].goto("about:blank")
                total = (time.perf_counter() - t) * 1000
                chromium.close()
                assert http.delete(f"/browsers/{browser['session_id']}").status_code == 204
                return took, total

            def timed(shape: dict[str, int], expect_warm: bool,
                      into: tuple[list[float], list[float]]) -> None:
                settle()
                served = warm()["served"]
                took, total = to_first_goto(shape)
                assert (warm()["served"] == served + 1) == expect_warm, "served unexpectedly"
                into[0].append(took)
                into[1].append(total)

            print(f"machine: {machine()}")
            print(f"display mode: {http.get('/_runner/status').json()['browsers']['display']}")
            to_first_goto(SHAPES[0])  # the first Chromium of the run (and Playwright's warm-up)
            warm_runs: tuple[list[float], list[float]] = ([], [])
            cold_runs: tuple[list[float], list[float]] = ([], [])
            shape = 0
            for _ in range(rounds):
                timed(SHAPES[shape], True, warm_runs)  # the spare has this shape
                shape = 1 - shape
                timed(SHAPES[shape], False, cold_runs)  # no spare has this one
            def show(name: str, values: list[float]) -> None:
                print(summary(name, values))

            show(f"browsers.create, warm spare ({rounds} creates)", warm_runs[0])
            show("browsers.create, cold start (Chromium + Xvfb)", cold_runs[0])
            print(f"{'':<56} ratio p50 {median(cold_runs[0]) / median(warm_runs[0]):.1f}x")
            show("create -> connect_over_cdp -> goto about:blank, warm", warm_runs[1])
            show("create -> connect_over_cdp -> goto about:blank, cold", cold_runs[1])
    finally:
        server.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    main(parser.parse_args().rounds)
