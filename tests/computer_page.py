"""A page on loopback for the computer-controls tests: a big button, a big text field and a
tall body, each of whose changes the page reports back to the server that served it, so a
test (in Python or under node) reads what happened in the DOM at ``/latest``."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote, urlsplit

from .conftest import http_server

PAGE = b"""<!doctype html><html><head><meta charset="utf-8"><title>Controls</title><style>
body{margin:0;height:4000px;font:32px sans-serif}
#button{position:fixed;left:0;top:100px;width:100%;height:260px;font-size:40px}
#field{position:fixed;left:0;top:420px;width:100%;height:200px;font-size:40px}
</style></head><body><button id="button">not clicked</button><input id="field">
<script>
let n = 0;
const load = Math.random().toString(36).slice(2);
function report() {
  n += 1;
  const state = {n, load, href: location.href, clicked: button.textContent, field: field.value,
                 scrollY: Math.round(scrollY), uiTop: Math.max(0, screen.height - innerHeight),
                 focused: document.hasFocus(), moved};
  fetch("/state?" + encodeURIComponent(JSON.stringify(state)));
}
button.addEventListener("click", (e) => { button.textContent = "clicked " + e.detail; report(); });
field.addEventListener("input", report);
addEventListener("scroll", report);
addEventListener("resize", report);
addEventListener("focus", report);
let moved = false;
addEventListener("mousemove", () => { if (!moved) { moved = true; report(); } });
// The first report once the page has been painted: Chromium holds input back until then.
addEventListener("load", () => requestAnimationFrame(() => requestAnimationFrame(report)));
</script></body></html>"""
#: Where to aim, in page coordinates: the button's and the field's middles.
BUTTON_Y = 230
FIELD_Y = 520


class PageServer:
    """The page at ``url``; the newest state any copy of it reported, at ``latest``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.states: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def answer(self, path: str) -> tuple[int, str, bytes]:
        parts = urlsplit(path)
        if parts.path == "/state":
            state = json.loads(unquote(parts.query))
            with self.lock:
                self.states.append(state)
            return 204, "text/plain", b""
        if parts.path == "/latest":
            return 200, "application/json", json.dumps(self.latest()).encode()
        if parts.path == "/":
            return 200, "text/html; charset=utf-8", PAGE
        return 404, "text/plain", b""

    def latest(self) -> dict[str, Any]:
        """The newest page load's last report (``{}`` before any)."""
        with self.lock:
            first = [s for s in self.states if s["n"] == 1]
            if not first:
                return {}
            load = first[-1]["load"]
            return dict(max((s for s in self.states if s["load"] == load),
                            key=lambda s: s["n"]))


@contextmanager
def controls_page() -> Iterator[PageServer]:
    holder: list[PageServer] = []
    with http_server(lambda path: holder[0].answer(path)) as url:
        holder.append(PageServer(url + "/"))
        yield holder[0]
