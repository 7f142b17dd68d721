"""Computer actions on a local browser, against running xdotool per action on the same display.

    python benchmarks/bench_computer.py [--calls N]

Starts a runner (``dev`` on the trivial app), creates a 1280×800 browser (headful on its own
Xvfb screen) on a page with a focused text field, and times each computer action N times
(default 100, after 5 of warm-up), one at a time, through the official ``kernel`` Python SDK
and through plain HTTP (a keep-alive ``httpx`` client): click, move, type 5 characters, key,
scroll, the mouse position and a screenshot. The runner drives the display through one
persistent X connection (XTest); nothing is started per action.

Baseline, in the same run and interleaved call by call with the runner's: the same action by
running ``xdotool`` on the same display (a process per action, as Kernel's own image and this
runner before did; subprocess from this script), with no pause of its own where it has an
option for it (``--delay 0``: ``click`` otherwise waits 100 ms after clicking). xdotool's
click and wheel notch hold the button 12 ms, which it has no option for; the runner presses
and releases at once. ``getmouselocation`` is the cost
of the process alone. Typing uses ``delay: 0`` on both sides (by default both pause 12 ms
between characters).

Needs ``xdotool`` (Debian: ``apt install xdotool``); the runner itself does not.
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from _common import APPS, machine, median, pct, runner
from kernel import Kernel

WIDTH, HEIGHT = 1280, 800
PAGE = "data:text/html;base64," + base64.b64encode(
    b"<body style='height:4000px;font:20px sans-serif'>"
    b"<textarea id=t autofocus style='width:600px;height:200px'></textarea>"
    b"<p>Benchmark page</p></body>").decode()


def display_of(data_dir: Path, browser: str) -> str:
    """The ``DISPLAY`` of a browser's Xvfb: the X socket among the sockets it holds."""
    pid = int((data_dir / "browsers" / browser / "display.pid").read_text())
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8 and fields[6] in inodes and ".X11-unix/X" in fields[7]:
            return ":" + fields[7].rsplit("/X", 1)[1]
    raise RuntimeError(f"Xvfb {pid} holds no X socket")


def ms(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def main(calls: int) -> None:
    xdotool = shutil.which("xdotool")
    if xdotool is None:
        raise SystemExit("the baseline needs xdotool (Debian: apt install xdotool)")
    server = runner(APPS / "trivial.py")
    data_dir = Path(server.args[server.args.index("--data-dir") + 1])
    try:
        k = Kernel(base_url=server.url, api_key="local", max_retries=0, timeout=60)
        created = k.browsers.create(viewport={"width": WIDTH, "height": HEIGHT},
                                    timeout_seconds=600)
        b = created.session_id
        http = httpx.Client(base_url=f"{server.url}/browsers/{b}/computer", timeout=60)
        env = {**os.environ, "DISPLAY": display_of(data_dir, b)}
        print(f"machine: {machine()}; load {os.getloadavg()[0]:.2f}")
        print(f"display mode: {httpx.get(f'{server.url}/_runner/status').json()['browsers']['display']}")
        # The page, through the address bar as an agent would.
        k.browsers.computer.press_key(b, keys=["ctrl+l"])
        k.browsers.computer.type_text(b, text=PAGE, delay=0)
        k.browsers.computer.press_key(b, keys=["Return"])
        time.sleep(1.0)  # let it load before measuring (nothing here depends on it)

        def tool(*args: str) -> Callable[[], object]:
            return lambda: subprocess.run([xdotool, *args], env=env, check=True,
                                          stdout=subprocess.DEVNULL)

        def post(path: str, body: dict[str, object] | None = None) -> Callable[[], object]:
            def call() -> None:
                r = http.post(path, json=body or {})
                assert r.status_code in (200, 204), r.text
            return call

        c = k.browsers.computer
        x, y = 640, 500
        actions: list[tuple[str, Callable[[], object], Callable[[], object],
                            Callable[[], object] | None, str]] = [
            ("click", lambda: c.click_mouse(b, x=x, y=y), post("/click_mouse", {"x": x, "y": y}),
             tool("mousemove", str(x), str(y), "click", "--delay", "0", "1"),
             "mousemove X Y click --delay 0 1"),
            ("move", lambda: c.move_mouse(b, x=x + 10, y=y), post("/move_mouse",
                                                                  {"x": x + 10, "y": y}),
             tool("mousemove", str(x + 10), str(y)), "mousemove X Y"),
            ("type 5 chars", lambda: c.type_text(b, text="hello", delay=0),
             post("/type", {"text": "hello", "delay": 0}),
             tool("type", "--delay", "0", "--", "hello"), "type --delay 0 -- hello"),
            ("key", lambda: c.press_key(b, keys=["BackSpace"]),
             post("/press_key", {"keys": ["BackSpace"]}),
             tool("key", "--delay", "0", "BackSpace"), "key --delay 0 BackSpace"),
            ("scroll", lambda: c.scroll(b, x=x, y=y, delta_y=1),
             post("/scroll", {"x": x, "y": y, "delta_y": 1}),
             tool("mousemove", str(x), str(y), "click", "--delay", "0", "5"),
             "mousemove X Y click --delay 0 5"),
            ("mouse position", lambda: c.get_mouse_position(b), post("/get_mouse_position"),
             tool("getmouselocation"), "getmouselocation"),
            ("screenshot", lambda: c.capture_screenshot(b).read(), post("/screenshot"),
             None, "(none)"),
        ]
        rows = []
        for name, sdk, raw, base, command in actions:
            for _ in range(5):  # warm-up
                sdk()
                raw()
                if base is not None:
                    base()
            ours: list[float] = []
            plain: list[float] = []
            theirs: list[float] = []
            for _ in range(calls):  # interleaved, so that both see the same machine
                ours.append(ms(sdk))
                plain.append(ms(raw))
                if base is not None:
                    theirs.append(ms(base))
            rows.append((name, ours, plain, theirs, command))
        k.browsers.delete_by_id(b)
        http.close()
    finally:
        server.stop()

    print(f"\n{calls} calls each, ms (p50 / p90); ratio: the runner through the SDK over xdotool, "
          "p50")
    head = (f"{'action':<15} {'xdotool per call':>17} {'runner, SDK':>14} {'runner, HTTP':>14} "
            f"{'ratio':>6}  xdotool command")
    print(head)
    print("-" * len(head))
    for name, ours, plain, theirs, command in rows:
        base = f"{median(theirs):6.2f} / {pct(theirs, 90):6.2f}" if theirs else f"{'—':>15}"
        ratio = f"{median(ours) / median(theirs):5.2f}x" if theirs else f"{'—':>6}"
        print(f"{name:<15} {base:>17} {median(ours):5.2f} / {pct(ours, 90):5.2f} "
              f"{median(plain):5.2f} / {pct(plain, 90):5.2f} {ratio:>6}  {command}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100)
    main(parser.parse_args().calls)
