"""Computer-control screenshots of a warm local browser, against capturing it directly.

    python benchmarks/bench_browsers.py [--shots N]

Starts a runner, creates a 1280×800 browser (headful on its own Xvfb screen; with
``KERNEL_ACTIONS_XVFB=0``, headless with emulated computer controls) and times
``POST /browsers/{id}/computer/screenshot`` (the whole screen as a PNG, through HTTP) on
two pages: a still one (the screen does not change between shots) and one animated every
frame (every shot is a new picture to encode). In the same run, on the same browser, it
times DevTools' own ``Page.captureScreenshot`` (PNG of the page, through an open CDP
session: no HTTP, no connection set-up), the usual direct way to capture a browser.
"""

from __future__ import annotations

import argparse
import base64
import time
from pathlib import Path

import httpx
from _common import APPS, machine, median, pct, runner


def _page(html: str) -> str:
    return "data:text/html;base64," + base64.b64encode(html.encode()).decode()


STILL = _page("<body style='font:40px sans-serif'><h1>Still page</h1><p>Some text.</p>")
ANIMATED = _page("<body style='margin:0'><div id=d style='width:100vw;height:100vh;"
                 "font:60px sans-serif'></div><script>let i = 0; (function f() {"
                 "d.style.background = `hsl(${i % 360}, 70%, 50%)`; d.textContent = i++;"
                 "requestAnimationFrame(f); })();</script>")


def timed(call: object, shots: int) -> list[float]:
    out = []
    for _ in range(shots):
        t = time.perf_counter()
        call()  # type: ignore[operator]
        out.append((time.perf_counter() - t) * 1000)
    return out


def summary(name: str, values: list[float]) -> str:
    return f"{name:<52} p50 {median(values):7.1f} ms   p90 {pct(values, 90):7.1f} ms"


def main(shots: int) -> None:
    from playwright.sync_api import sync_playwright

    server = runner(APPS / "trivial.py")
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            browser = http.post("/browsers", json={
                "viewport": {"width": 1280, "height": 800}, "timeout_seconds": 600}).json()
            shot_url = f"/browsers/{browser['session_id']}/computer/screenshot"
            print(f"machine: {machine()}")
            print(f"display mode: {http.get('/_runner/status').json()['browsers']['display']}")
            with sync_playwright() as pw:
                cdp_browser = pw.chromium.connect_over_cdp(browser["cdp_ws_url"])
                page = cdp_browser.contexts[0].pages[0]
                cdp = page.context.new_cdp_session(page)
                for label, url in (("still", STILL), ("animated", ANIMATED)):
                    page.goto(url)
                    time.sleep(0.5)  # let the first frames settle before measuring

                    seen: set[int] = set()

                    def computer(seen: set[int] = seen) -> None:
                        r = http.post(shot_url)
                        assert r.status_code == 200 and r.content[:4] == b"\x89PNG", r.text
                        seen.add(hash(r.content))

                    def devtools() -> None:
                        cdp.send("Page.captureScreenshot", {"format": "png"})

                    for _ in range(3):  # warm both paths
                        computer()
                        devtools()
                    seen.clear()
                    ours = timed(computer, shots)
                    distinct = len(seen)
                    theirs = timed(devtools, shots)
                    print(summary(f"{label}: computer.capture_screenshot (HTTP, 1280x800)", ours))
                    print(summary(f"{label}: CDP Page.captureScreenshot (page only)", theirs))
                    print(f"{'':<52} ratio p50 {median(ours) / median(theirs):.2f}x; "
                          f"{distinct} distinct screens in {shots} shots")
                cdp_browser.close()
            http.delete(f"/browsers/{browser['session_id']}")
    finally:
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=40)
    args = parser.parse_args()
    assert Path(APPS / "trivial.py").is_file()
    main(args.shots)
