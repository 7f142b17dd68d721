"""An agent loop as Kernel's computer-use templates run one, through the official SDK: each
step is one computer action of a model's turn (screenshot, move, click, type, key, scroll,
batch), every action but a screenshot followed by the screenshot the model sees next. The
browser shows the controls page (``computer_page.py``), with counters added for clicks and
wheel events, and what the steps should have done to its DOM is checked through
``browsers.playwright.execute`` between them. A side thread asks ``/health`` throughout.

Used by ``tests/test_agent_loop.py`` and ``benchmarks/bench_agent_loop.py``, so both run the
same loop.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from kernel import Kernel

from .computer_page import BUTTON_Y, FIELD_Y, PageServer
from .helpers import poll

__all__ = ["BLANK_Y", "HEIGHT", "KINDS", "VIEWPORT", "WIDTH", "Agent", "Expected",
           "HealthWatch", "png_size"]

WIDTH, HEIGHT = 1024, 768  # as Anthropic's computer-use template sizes its browser
VIEWPORT = {"width": WIDTH, "height": HEIGHT}
#: One cycle of steps; step ``i`` is ``KINDS[i % 7]``.
KINDS = ("screenshot", "move", "click", "type", "key", "scroll", "batch")
#: Page y of a blank strip between the button and the field.
BLANK_Y = 385

#: Counts the button's clicks and the page's wheel events (the page reports neither).
_COUNTERS = """await page.evaluate(() => {
  window.agentClicks = 0; window.agentWheels = 0;
  document.querySelector('#button').addEventListener('click', () => { window.agentClicks++; });
  addEventListener('wheel', () => { window.agentWheels++; }, {passive: true});
}); return true"""

#: Waits (up to 20 s, in the page) for the DOM to show what the steps did, then says what it
#: shows either way: a mismatch is the test's to report.
_CHECK = """const want = %s;
try {
  await page.waitForFunction((w) => {
    const active = document.activeElement;
    return document.querySelector('#field').value === w.field
      && window.agentClicks === w.clicks && (active ? active.id : '') === w.focused;
  }, want, {timeout: 20000});
} catch (e) {}
return await page.evaluate(() => ({
  field: document.querySelector('#field').value, clicks: window.agentClicks,
  focused: document.activeElement ? document.activeElement.id : '',
  wheels: window.agentWheels, scrollY: Math.round(scrollY)}));"""


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:16]
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@dataclass
class Expected:
    """What the page's DOM should show after the steps so far."""

    field: str = ""
    clicks: int = 0
    focused: str = ""
    scrolls: int = 0


@dataclass
class Agent:
    """One browser driven step by step, on a controls page of its own."""

    k: Kernel
    session_id: str
    page: PageServer
    name: str
    #: Height of the browser's own UI above the page (0 without one).
    top: int = 0
    expected: Expected = field(default_factory=Expected)
    #: Milliseconds each step took (its action and the screenshot after it), by kind.
    timings: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    #: Milliseconds each ``playwright.execute`` check took.
    checks: list[float] = field(default_factory=list)
    steps: int = 0

    def open(self) -> None:
        """Load the page (``playwright.execute``), wait until Chromium passes it input, add
        the counters."""
        computer = self.k.browsers.computer
        url = f"{self.page.url}?agent={self.name}"
        went = self.k.browsers.playwright.execute(
            self.session_id, code=f"await page.goto({json.dumps(url)}); return page.url()")
        assert went.success, went.error
        loaded: dict[str, Any] = poll(  # type: ignore[assignment]
            lambda: (s := self.page.latest()).get("href") == url and s, timeout=30)
        self.top = int(loaded["uiTop"])
        # Chromium takes input for a new page once it is ready: move the mouse over the page
        # until the page says it felt it (as tests/test_computer.py's on_page does).
        spot = iter(range(10**6))

        def felt() -> bool:
            computer.move_mouse(self.session_id, x=600 + next(spot) % 50, y=self.top + BLANK_Y)
            try:
                return bool(poll(lambda: self.page.latest().get("moved"), timeout=1))
            except AssertionError:
                return False

        poll(felt, timeout=30)
        added = self.k.browsers.playwright.execute(self.session_id, code=_COUNTERS)
        assert added.success and added.result is True, (added.error, added.result)

    def screenshot(self) -> None:
        shot = self.k.browsers.computer.capture_screenshot(self.session_id).read()
        assert png_size(shot) == (WIDTH, HEIGHT)

    def step(self, i: int) -> str:
        """Step ``i``: its action, then the screenshot a template takes after it."""
        kind, c = KINDS[i % len(KINDS)], i // len(KINDS)
        computer, sid, top, want = self.k.browsers.computer, self.session_id, self.top, \
            self.expected
        started = time.perf_counter()
        if kind == "move":  # over the blank strip, somewhere new each cycle
            computer.move_mouse(sid, x=60 + 40 * c, y=top + BLANK_Y)
        elif kind == "click":  # right of the field's text: the caret goes to its end
            computer.click_mouse(sid, x=600 + 40 * c, y=top + FIELD_Y)
            want.focused = "field"
        elif kind == "type":
            computer.type_text(sid, text=f"w{c}x")
            want.field += f"w{c}x"
        elif kind == "key":
            computer.press_key(sid, keys=["BackSpace"])
            want.field = want.field[:-1]
        elif kind == "scroll":
            computer.scroll(sid, x=WIDTH // 2, y=top + BLANK_Y, delta_y=2)
            want.scrolls += 1
        elif kind == "batch":  # click the button, then Tab to the field: in that order
            x = 100 + 60 * c
            computer.batch(sid, actions=[
                {"type": "move_mouse", "move_mouse": {"x": x, "y": top + BUTTON_Y}},
                {"type": "click_mouse", "click_mouse": {"x": x, "y": top + BUTTON_Y}},
                {"type": "press_key", "press_key": {"keys": ["Tab"]}},
            ])
            want.clicks += 1
            want.focused = "field"
        self.screenshot()
        self.timings[kind].append((time.perf_counter() - started) * 1000)
        self.steps = i + 1
        return kind

    def check(self) -> dict[str, Any]:
        """What the page shows, once it shows what is expected or after 20 s."""
        want = {"field": self.expected.field, "clicks": self.expected.clicks,
                "focused": self.expected.focused}
        started = time.perf_counter()
        result = self.k.browsers.playwright.execute(
            self.session_id, code=_CHECK % json.dumps(want), timeout_sec=60)
        self.checks.append((time.perf_counter() - started) * 1000)
        assert result.success, result.error
        state = result.result
        assert isinstance(state, dict), state
        return state

    def verify(self) -> dict[str, Any]:
        """:meth:`check`, which must show what the steps so far did."""
        state = self.check()
        seen = {k: state[k] for k in ("field", "clicks", "focused")}
        assert seen == {"field": self.expected.field, "clicks": self.expected.clicks,
                        "focused": self.expected.focused}, (self.name, self.steps, state)
        return state

    def run(self, steps: int, after_step: Callable[[int, str], None] | None = None) -> None:
        """``steps`` steps, checked through ``playwright.execute`` after each cycle and at the
        end; ``after_step(i, kind)`` is called after each."""
        for i in range(steps):
            kind = self.step(i)
            if after_step is not None:
                after_step(i, kind)
            if (i + 1) % len(KINDS) == 0 or i + 1 == steps:
                self.verify()

    def all_timings(self) -> list[float]:
        return [t for times in self.timings.values() for t in times]


class HealthWatch:
    """Asks ``GET /health`` every ``interval`` seconds from a thread, each within
    ``limit`` seconds; a failure is a non-200, an error or a slower answer."""

    def __init__(self, url: str, limit: float = 1.0, interval: float = 0.05) -> None:
        self.url = url
        self.limit = limit
        self.interval = interval
        self.latencies: list[float] = []  # ms
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="health-watch", daemon=True)

    def __enter__(self) -> HealthWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _watch(self) -> None:
        with httpx.Client(base_url=self.url, timeout=self.limit) as client:
            while not self._stop.is_set():
                self._ask(client)
                self._stop.wait(self.interval)

    def _ask(self, client: httpx.Client) -> None:
        started = time.monotonic()
        at = time.strftime("%H:%M:%S")
        try:
            status = client.get("/health").status_code
        except httpx.HTTPError as exc:
            self.failures.append(f"{at}: {type(exc).__name__}: {exc}")
            return
        elapsed = time.monotonic() - started
        self.latencies.append(elapsed * 1000)
        if status != 200:
            self.failures.append(f"{at}: status {status}")
        elif elapsed > self.limit:
            self.failures.append(f"{at}: answered in {elapsed:.2f} s")
