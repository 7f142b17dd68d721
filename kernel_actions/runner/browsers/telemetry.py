"""Browser telemetry: what a browser's pages and clients did, as Kernel's telemetry events.

Each browser has a :class:`TelemetryLog`, a bounded in-memory buffer of events (at most
``MAX_EVENTS`` events and ``MAX_BYTES`` bytes of them; the oldest go first), each wrapped as
``{event, seq}`` with a sequence number that only grows. Events come from:

* the browser's pages, through a :class:`~.page_watch.PageWatcher` (:class:`PageTelemetry`):
  ``console`` (``Runtime.consoleAPICalled``, ``Runtime.exceptionThrown``), ``network``
  (``Network.*``; request and response metadata, no bodies), ``page`` (navigations,
  DOMContentLoaded, load, new tabs, crashes, layout shifts, LCP and the derived "settled"
  events) and ``interaction`` (clicks, keys and scrolls, seen by a script in an isolated
  world of each page, so the page's own scripts never see it);
* the runner itself: ``control`` (each computer-control, Playwright or REPL call as an
  ``api_call``; each browser-control command an external DevTools client sends as a
  ``cdp_command``) and ``connection`` (``cdp_connect`` / ``cdp_disconnect`` of external
  DevTools clients), through :class:`ClientTelemetry`.

Every captured string is capped at 8192 bytes (cut on a character boundary, ending in
``...[truncated]``, the event marked ``truncated``), as Kernel caps them.
"""

from __future__ import annotations

import asyncio
import collections
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .cdp import CdpClient
from .page_watch import WatchedPage

__all__ = [
    "CATEGORIES", "ClientTelemetry", "LOCAL_CATEGORIES", "MAX_BYTES", "MAX_EVENTS",
    "PageTelemetry", "Record", "TelemetryLog", "now_us",
]

#: Every category Kernel's API names, and the ones a local browser produces.
CATEGORIES = ("console", "network", "page", "interaction", "control", "platform",
              "connection", "system", "screenshot", "captcha", "monitor")
LOCAL_CATEGORIES = ("console", "network", "page", "interaction", "control", "connection")
#: What one browser's buffer holds at most.
MAX_EVENTS = 10_000
MAX_BYTES = 8 * 1024 * 1024
MAX_STRING_BYTES = 8192
_TRUNCATED = "...[truncated]"
#: The quiet time after which a page's network is idle, and its layout settled.
NETWORK_IDLE_S = 0.5
LAYOUT_SETTLED_S = 1.0
#: The isolated world and binding the interaction script reports through.
WORLD = "__kernel_actions_telemetry"
BINDING = "__kernelActionsTelemetry"


def now_us() -> int:
    """Unix time in microseconds (what an event's ``ts`` is)."""
    return time.time_ns() // 1000


@dataclass(frozen=True, slots=True)
class Record:
    """One event in a buffer: its number, time, what it is, and its envelope as JSON."""

    seq: int
    ts: int
    category: str
    type: str
    json: str


def _cap(value: Any) -> tuple[Any, bool]:
    """``value`` with every string over the cap cut; whether anything was cut."""
    if isinstance(value, str):
        if len(value) * 4 <= MAX_STRING_BYTES:
            return value, False
        raw = value.encode()
        if len(raw) <= MAX_STRING_BYTES:
            return value, False
        keep = raw[:MAX_STRING_BYTES - len(_TRUNCATED)].decode(errors="ignore")
        return keep + _TRUNCATED, True
    if isinstance(value, dict):
        cut = False
        out: dict[str, Any] = {}
        for k, v in value.items():
            out[k], c = _cap(v)
            cut = cut or c
        return out, cut
    if isinstance(value, list):
        cut = False
        items = []
        for v in value:
            item, c = _cap(v)
            items.append(item)
            cut = cut or c
        return items, cut
    return value, False


class TelemetryLog:
    """One browser's events: a bounded buffer, and the streams waiting for more."""

    def __init__(self, max_events: int = MAX_EVENTS, max_bytes: int = MAX_BYTES) -> None:
        self.records: collections.deque[Record] = collections.deque()
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.bytes = 0
        self.seq = 0
        #: Categories captured (all local ones unless the browser's settings say otherwise).
        self.enabled: set[str] = set(LOCAL_CATEGORIES)
        self.closed = False
        self._changed = asyncio.Event()

    def add(self, category: str, type_: str, source: dict[str, Any],
            data: dict[str, Any] | None = None, ts: int | None = None) -> Record | None:
        """Record an event (``None`` when its category is not captured or the log closed)."""
        if self.closed or category not in self.enabled:
            return None
        event: dict[str, Any] = {"category": category, "type": type_, "source": source,
                                 "ts": ts if ts is not None else now_us()}
        if data is not None:
            capped, cut = _cap(data)
            event["data"] = capped
            if cut:
                event["truncated"] = True
        self.seq += 1
        text = json.dumps({"event": event, "seq": self.seq}, separators=(",", ":"),
                          ensure_ascii=False, default=str)
        record = Record(self.seq, event["ts"], category, type_, text)
        self.records.append(record)
        self.bytes += len(text)
        while self.records and (len(self.records) > self.max_events
                                or self.bytes > self.max_bytes):
            self.bytes -= len(self.records.popleft().json)
        self._wake()
        return record

    def close(self) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        """Until an event is added or the log closes, at most ``timeout`` seconds."""
        changed = self._changed
        try:
            await asyncio.wait_for(changed.wait(), timeout)
        except TimeoutError:
            pass

    def after(self, seq: int) -> list[Record]:
        """The records numbered above ``seq``, oldest first."""
        if not self.records or self.records[-1].seq <= seq:
            return []
        first = self.records[0].seq
        start = max(0, seq + 1 - first)
        return [self.records[i] for i in range(start, len(self.records))]


# -- events from the pages ----------------------------------------------------------------


def _cdp_source(page: WatchedPage, event: str) -> dict[str, Any]:
    return {"kind": "cdp", "event": event,
            "metadata": {"target_id": page.target_id, "session_id": page.session_id}}


def _context(page: WatchedPage, url: str | None = None, frame_id: str | None = None
             ) -> dict[str, Any]:
    out: dict[str, Any] = {"target_id": page.target_id, "target_type": page.target_type,
                           "session_id": page.session_id, "nav_seq": page.nav_seq,
                           "url": url if url is not None else page.url}
    if frame_id or page.frame_id:
        out["frame_id"] = frame_id or page.frame_id
    if page.loader_id:
        out["loader_id"] = page.loader_id
    return out


def _arg_text(arg: dict[str, Any]) -> str:
    """A console argument as the console would show it."""
    if "value" in arg:
        value = arg["value"]
        return value if isinstance(value, str) else json.dumps(value)
    if "unserializableValue" in arg:
        return str(arg["unserializableValue"])
    if arg.get("type") == "undefined":
        return "undefined"
    return str(arg.get("description") or arg.get("className") or arg.get("type") or "")


def _stack(trace: Any) -> dict[str, Any] | None:
    if not isinstance(trace, dict) or not isinstance(trace.get("callFrames"), list):
        return None
    out: dict[str, Any] = {"callFrames": [
        {"columnNumber": f.get("columnNumber", 0), "functionName": f.get("functionName", ""),
         "lineNumber": f.get("lineNumber", 0), "scriptId": str(f.get("scriptId", "")),
         "url": f.get("url", "")} for f in trace["callFrames"][:50] if isinstance(f, dict)]}
    if trace.get("description"):
        out["description"] = trace["description"]
    return out


#: The script each page runs in its own isolated world: reports clicks, keys and settled
#: scrolls to the runner through the binding (the page's scripts see neither).
_INTERACTION_SCRIPT = r"""
(() => {
  const report = globalThis.BINDING_NAME;
  if (typeof report !== "function" || globalThis.__kaWatching) return;
  globalThis.__kaWatching = true;
  const send = (data) => { try { report(JSON.stringify(data)); } catch (e) {} };
  const selector = (el) => {
    const parts = [];
    for (let n = el; n && n.nodeType === 1 && parts.length < 8; n = n.parentElement) {
      if (n.id) { parts.unshift("#" + CSS.escape(n.id)); break; }
      let part = n.localName;
      const parent = n.parentElement;
      if (parent) {
        const same = Array.from(parent.children).filter((c) => c.localName === n.localName);
        if (same.length > 1) part += ":nth-of-type(" + (same.indexOf(n) + 1) + ")";
      }
      parts.unshift(part);
    }
    return parts.join(" > ");
  };
  const element = (t) => (t && t.nodeType === 1 ? t : t && t.parentElement) || null;
  addEventListener("click", (e) => {
    const el = element(e.target);
    send({kind: "click", x: Math.round(e.clientX), y: Math.round(e.clientY),
          tag: el ? el.tagName : "", selector: el ? selector(el) : "",
          text: el ? (el.innerText || el.textContent || "").trim().slice(0, 200) : ""});
  }, true);
  addEventListener("keydown", (e) => {
    const el = element(document.activeElement);
    send({kind: "key", key: e.key, tag: el ? el.tagName : "", selector: el ? selector(el) : ""});
  }, true);
  let scrolling = null;
  addEventListener("scroll", (e) => {
    const t = e.target === document ? document.scrollingElement : element(e.target);
    if (!t) return;
    if (!scrolling || scrolling.target !== t) {
      scrolling = {target: t, x: Math.round(t.scrollLeft), y: Math.round(t.scrollTop),
                   timer: 0};
    }
    const s = scrolling;
    clearTimeout(s.timer);
    s.timer = setTimeout(() => {
      scrolling = null;
      send({kind: "scroll", from_x: s.x, from_y: s.y, to_x: Math.round(t.scrollLeft),
            to_y: Math.round(t.scrollTop),
            target_selector: t === document.scrollingElement ? "html" : selector(t)});
    }, 300);
  }, true);
})();
""".replace("BINDING_NAME", BINDING)


@dataclass
class _PageState:
    """What :class:`PageTelemetry` keeps per page between events."""

    requests: dict[str, dict[str, Any]]
    in_flight: set[str]
    idle_timer: asyncio.TimerHandle | None = None
    settle_timer: asyncio.TimerHandle | None = None
    loaded_nav: int = -1
    dcl_nav: int = -1
    settled_nav: int = -1
    busy: bool = False


class PageTelemetry:
    """Turns what every page of a browser does into events of its :class:`TelemetryLog`."""

    KEY = "telemetry"

    def __init__(self, log: TelemetryLog) -> None:
        self.log = log

    async def page_attached(self, page: WatchedPage) -> None:
        page.state[self.KEY] = _PageState({}, set())
        self.log.add("page", "page_tab_opened", _cdp_source(page, "Target.attachedToTarget"), {
            "target_id": page.target_id, "target_type": page.target_type, "url": page.url,
            "title": page.title, **({"opener_id": page.opener_id} if page.opener_id else {})})
        # Interaction capture first: the binding and the script must be in place before the
        # page's next navigation commits.
        await page.send("Runtime.addBinding", {"name": BINDING, "executionContextName": WORLD})
        await page.send("Page.addScriptToEvaluateOnNewDocument", {
            "source": _INTERACTION_SCRIPT, "worldName": WORLD, "runImmediately": True})
        await page.send("Page.enable")
        await page.send("Runtime.enable")
        await page.send("Network.enable", {"maxTotalBufferSize": 0, "maxResourceBufferSize": 0})
        await page.send("Inspector.enable")
        await page.send("PerformanceTimeline.enable",
                        {"eventTypes": ["layout-shift", "largest-contentful-paint"]})
        tree = await page.send("Page.getFrameTree")
        frame = (tree.get("frameTree") or {}).get("frame") or {}
        page.frame_id = frame.get("id") or page.frame_id
        page.loader_id = frame.get("loaderId") or page.loader_id
        page.url = frame.get("url") or page.url

    def page_detached(self, page: WatchedPage) -> None:
        state: _PageState | None = page.state.pop(self.KEY, None)
        if state is not None:
            for timer in (state.idle_timer, state.settle_timer):
                if timer is not None:
                    timer.cancel()

    def page_event(self, page: WatchedPage, method: str, params: dict[str, Any]) -> None:
        state: _PageState | None = page.state.get(self.KEY)
        if state is None:
            return
        handler = _HANDLERS.get(method)
        if handler is not None:
            handler(self, page, state, params)

    # -- console ------------------------------------------------------------------------

    def _console(self, page: WatchedPage, state: _PageState, params: dict[str, Any]) -> None:
        args = [_arg_text(a) for a in params.get("args") or [] if isinstance(a, dict)]
        level = str(params.get("type") or "log")
        data: dict[str, Any] = {**_context(page), "args": args, "level": level,
                                "text": args[0] if args else ""}
        stack = _stack(params.get("stackTrace"))
        if stack is not None:
            data["stack_trace"] = stack
        kind = "console_error" if level == "error" else "console_log"
        self.log.add("console", kind, _cdp_source(page, "Runtime.consoleAPICalled"), data)

    def _exception(self, page: WatchedPage, state: _PageState, params: dict[str, Any]) -> None:
        details = params.get("exceptionDetails") or {}
        exc = details.get("exception") or {}
        described = str(exc.get("description") or exc.get("value") or "").split("\n")[0]
        prefix = str(details.get("text") or "Uncaught")
        text = f"{prefix} {described}".strip() if described else prefix
        data: dict[str, Any] = {**_context(page), "text": text,
                                "line": details.get("lineNumber"),
                                "column": details.get("columnNumber")}
        if details.get("url"):
            data["source_url"] = details["url"]
        stack = _stack(details.get("stackTrace"))
        if stack is not None:
            data["stack_trace"] = stack
        self.log.add("console", "console_error", _cdp_source(page, "Runtime.exceptionThrown"),
                     {k: v for k, v in data.items() if v is not None})

    # -- network ------------------------------------------------------------------------

    def _request(self, page: WatchedPage, state: _PageState, params: dict[str, Any]) -> None:
        request = params.get("request") or {}
        request_id = str(params.get("requestId") or "")
        previous = state.requests.get(request_id)
        url = str(request.get("url") or "")
        data: dict[str, Any] = {
            **_context(page, url=url, frame_id=params.get("frameId")),
            "request_id": request_id, "method": request.get("method"),
            "headers": request.get("headers") or {},
            "resource_type": params.get("type"),
            "initiator_type": (params.get("initiator") or {}).get("type"),
            "document_url": params.get("documentURL"),
        }
        if params.get("loaderId"):
            data["loader_id"] = params["loaderId"]
        if request.get("postData") is not None:
            data["post_data"] = request["postData"]
        if params.get("redirectResponse") is not None:
            data["is_redirect"] = True
            if previous is not None:
                data["redirect_url"] = previous["url"]
        state.requests[request_id] = {"url": url, "method": request.get("method"),
                                      "type": params.get("type"),
                                      "frame_id": params.get("frameId"),
                                      "loader_id": params.get("loaderId")}
        if len(state.requests) > 2000:  # requests whose end was never seen
            for stale in list(state.requests)[:1000]:
                state.requests.pop(stale, None)
                state.in_flight.discard(stale)
        state.in_flight.add(request_id)
        state.busy = True
        if state.idle_timer is not None:
            state.idle_timer.cancel()
            state.idle_timer = None
        self.log.add("network", "network_request",
                     _cdp_source(page, "Network.requestWillBeSent"),
                     {k: v for k, v in data.items() if v is not None})

    def _response(self, page: WatchedPage, state: _PageState, params: dict[str, Any]) -> None:
        known = state.requests.get(str(params.get("requestId") or ""))
        if known is not None:
            response = params.get("response") or {}
            known["response"] = {"status": response.get("status"),
                                 "status_text": response.get("statusText"),
                                 "headers": response.get("headers") or {},
                                 "mime_type": response.get("mimeType"),
                                 "url": response.get("url")}

    def _finished(self, page: WatchedPage, state: _PageState, params: dict[str, Any]) -> None:
        request_id = str(params.get("requestId") or "")
        known = state.requests.pop(request_id, None)
        self._settle_request(page, state, request_id)
        if known is None or "response" not in known:
            return
        response = known["response"]
        data: dict[str, Any] = {
            **_context(page, url=response.get("url") or known["url"],
                       frame_id=known.get("frame_id")),
            "request_id": request_id, "method": known.get("method"),
            "resource_type": known.get("type"), "status": response.get("status"),
            "status_text": response.get("status_text"), "headers": response.get("headers"),
            "mime_type": response.get("mime_type"),
        }
        self.log.add("network", "network_response", _cdp_source(page, "Network.loadingFinished"),
                     {k: v for k, v in data.items() if v is not None})

    def _failed(self, page: WatchedPage, state: _PageState, params: dict[str, Any]) -> None:
        request_id = str(params.get("requestId") or "")
        known = state.requests.pop(request_id, None)
        self._settle_request(page, state, request_id)
        data: dict[str, Any] = {"target_id": page.target_id, "target_type": page.target_type,
                                "session_id": page.session_id, "nav_seq": page.nav_seq,
                                "request_id": request_id, "error_text": params.get("errorText"),
                                "canceled": bool(params.get("canceled"))}
        if known is not None:
            data.update(url=known["url"], frame_id=known.get("frame_id"),
                        resource_type=known.get("type"), loader_id=known.get("loader_id"))
        self.log.add("network", "network_loading_failed",
                     _cdp_source(page, "Network.loadingFailed"),
                     {k: v for k, v in data.items() if v is not None})

    def _settle_request(self, page: WatchedPage, state: _PageState, request_id: str) -> None:
        state.in_flight.discard(request_id)
        if state.in_flight or not state.busy:
            return
        if state.idle_timer is not None:
            state.idle_timer.cancel()

        def idle() -> None:
            state.idle_timer = None
            if not state.in_flight and state.busy and not page.detached:
                state.busy = False
                self.log.add("network", "network_idle", _cdp_source(page, "Network"),
                             _context(page))

        state.idle_timer = asyncio.get_running_loop().call_later(NETWORK_IDLE_S, idle)

    # -- page ---------------------------------------------------------------------------

    def _navigated(self, page: WatchedPage, state: _PageState, params: dict[str, Any]) -> None:
        frame = params.get("frame") or {}
        data: dict[str, Any] = {"target_id": page.target_id, "target_type": page.target_type,
                                "session_id": page.session_id, "frame_id": frame.get("id"),
                                "loader_id": frame.get("loaderId"), "url": frame.get("url")}
        if frame.get("parentId"):
            data["parent_frame_id"] = frame["parentId"]
        elif state.settle_timer is not None:  # a new document: the old one's timer is moot
            state.settle_timer.cancel()
            state.settle_timer = None
        self.log.add("page", "page_navigation", _cdp_source(page, "Page.frameNavigated"),
                     {k: v for k, v in data.items() if v is not None})

    def _dom_content(self, page: WatchedPage, state: _PageState, params: dict[str, Any]) -> None:
        state.dcl_nav = page.nav_seq
        self.log.add("page", "page_dom_content_loaded",
                     _cdp_source(page, "Page.domContentEventFired"),
                     {**_context(page), "cdp_timestamp": params.get("timestamp")})
        self._maybe_settled(page, state)

    def _load(self, page: WatchedPage, state: _PageState, params: dict[str, Any]) -> None:
        state.loaded_nav = page.nav_seq
        self.log.add("page", "page_load", _cdp_source(page, "Page.loadEventFired"),
                     {**_context(page), "cdp_timestamp": params.get("timestamp")})
        self._arm_settle(page, state)

    def _arm_settle(self, page: WatchedPage, state: _PageState) -> None:
        if state.settle_timer is not None:
            state.settle_timer.cancel()
        nav = page.nav_seq

        def settled() -> None:
            state.settle_timer = None
            if page.detached or page.nav_seq != nav:
                return
            state.settled_nav = nav
            self.log.add("page", "page_layout_settled", _cdp_source(page, "Page"),
                         _context(page))
            self._maybe_settled(page, state)

        state.settle_timer = asyncio.get_running_loop().call_later(LAYOUT_SETTLED_S, settled)

    def _maybe_settled(self, page: WatchedPage, state: _PageState) -> None:
        if state.dcl_nav == page.nav_seq and state.settled_nav == page.nav_seq:
            state.settled_nav = -1  # once per navigation
            self.log.add("page", "page_navigation_settled", _cdp_source(page, "Page"),
                         _context(page))

    def _timeline(self, page: WatchedPage, state: _PageState, params: dict[str, Any]) -> None:
        event = params.get("event") or {}
        kind = event.get("type")
        if kind == "layout-shift":
            shift = event.get("layoutShiftDetails") or {}
            self.log.add("page", "page_layout_shift",
                         _cdp_source(page, "PerformanceTimeline.timelineEventAdded"), {
                             **_context(page), "source_frame_id": event.get("frameId"),
                             "time": event.get("time"), "duration": event.get("duration"),
                             "layout_shift_details": {
                                 "value": shift.get("value"),
                                 "had_recent_input": shift.get("hadRecentInput")}})
            if state.loaded_nav == page.nav_seq and state.settle_timer is not None:
                self._arm_settle(page, state)  # a shift resets the quiet time
        elif kind == "largest-contentful-paint":
            lcp = event.get("lcpDetails") or {}
            self.log.add("page", "page_lcp",
                         _cdp_source(page, "PerformanceTimeline.timelineEventAdded"), {
                             **_context(page), "source_frame_id": event.get("frameId"),
                             "time": event.get("time"), "lcp_details": {
                                 "render_time": lcp.get("renderTime"),
                                 "load_time": lcp.get("loadTime"), "size": lcp.get("size"),
                                 "element_id": lcp.get("elementId") or None,
                                 "url": lcp.get("url") or None,
                                 "node_id": lcp.get("nodeId")}})

    def _crashed(self, page: WatchedPage, state: _PageState, params: dict[str, Any]) -> None:
        self.log.add("page", "page_crashed", _cdp_source(page, "Inspector.targetCrashed"),
                     {"target_id": page.target_id, "target_type": page.target_type,
                      "url": page.url})

    # -- interaction --------------------------------------------------------------------

    def _binding(self, page: WatchedPage, state: _PageState, params: dict[str, Any]) -> None:
        if params.get("name") != BINDING:
            return
        try:
            found = json.loads(params.get("payload") or "")
        except ValueError:
            return
        if not isinstance(found, dict):
            return
        kind = found.pop("kind", None)
        types = {"click": "interaction_click", "key": "interaction_key",
                 "scroll": "interaction_scroll_settled"}
        if kind not in types:
            return
        allowed = {"click": ("x", "y", "tag", "selector", "text"),
                   "key": ("key", "tag", "selector"),
                   "scroll": ("from_x", "from_y", "to_x", "to_y", "target_selector")}[kind]
        data = {**_context(page), **{k: found[k] for k in allowed if k in found}}
        self.log.add("interaction", types[kind], _cdp_source(page, "Runtime.bindingCalled"),
                     data)


_Handler = Callable[[PageTelemetry, WatchedPage, _PageState, dict[str, Any]], None]
_HANDLERS: dict[str, _Handler] = {
    "Runtime.consoleAPICalled": PageTelemetry._console,
    "Runtime.exceptionThrown": PageTelemetry._exception,
    "Runtime.bindingCalled": PageTelemetry._binding,
    "Network.requestWillBeSent": PageTelemetry._request,
    "Network.responseReceived": PageTelemetry._response,
    "Network.loadingFinished": PageTelemetry._finished,
    "Network.loadingFailed": PageTelemetry._failed,
    "Page.frameNavigated": PageTelemetry._navigated,
    "Page.domContentEventFired": PageTelemetry._dom_content,
    "Page.loadEventFired": PageTelemetry._load,
    "PerformanceTimeline.timelineEventAdded": PageTelemetry._timeline,
    "Inspector.targetCrashed": PageTelemetry._crashed,
}


# -- events from the runner -----------------------------------------------------------------

_KERNEL_API = {"kind": "kernel_api"}
_MOUSE_TYPES = ("mousePressed", "mouseReleased", "mouseMoved", "mouseWheel")
_KEY_TYPES = ("keyDown", "keyUp", "rawKeyDown", "char")
_BUTTONS = ("none", "left", "middle", "right", "back", "forward")


def _one_of(value: Any, allowed: tuple[str, ...]) -> str:
    return value if value in allowed else "other"


def _command_data(method: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """The arguments of a browser-control command that are safe to keep (lengths, counts and
    schemes instead of text, URLs and paths), or ``None`` for a command not reported."""
    if method == "Input.dispatchMouseEvent":
        out: dict[str, Any] = {"event_type": _one_of(params.get("type"), _MOUSE_TYPES)}
        if "button" in params:
            out["button"] = _one_of(params.get("button"), _BUTTONS)
        for key, name in (("clickCount", "click_count"), ("buttons", "buttons"),
                          ("modifiers", "modifiers")):
            if isinstance(params.get(key), int):
                out[name] = params[key]
        return out
    if method == "Input.dispatchKeyEvent":
        out = {"event_type": _one_of(params.get("type"), _KEY_TYPES)}
        if isinstance(params.get("text"), str):
            out["text_length"] = len(params["text"])
        if isinstance(params.get("modifiers"), int):
            out["modifiers"] = params["modifiers"]
        return out
    if method in ("Input.insertText", "Input.imeSetComposition"):
        return {"text_length": len(str(params.get("text") or ""))}
    if method == "Page.navigate":
        scheme = urlsplit(str(params.get("url") or "")).scheme
        return {"url_scheme": scheme} if scheme else {}
    if method == "Page.handleJavaScriptDialog":
        return {"accept": bool(params.get("accept"))}
    if method in ("Target.activateTarget", "Target.closeTarget"):
        return {"target_id": str(params.get("targetId") or "")[:128]}
    if method == "DOM.setFileInputFiles":
        return {"file_count": len(params.get("files") or [])}
    if method == "Page.captureScreenshot":
        return {"format": params["format"]} if params.get("format") in (
            "png", "jpeg", "webp") else {}
    if method in ("Page.bringToFront", "Page.reload", "Page.stopLoading", "Page.close",
                  "Target.createTarget", "Input.cancelDragging", "Page.startScreencast",
                  "Page.stopScreencast", "DOM.focus", "DOM.scrollIntoViewIfNeeded"):
        return {}
    return None


class ClientTelemetry:
    """``control`` and ``connection`` events: the runner's own API calls on a browser, and
    the external DevTools clients of its pipe (a :class:`~.cdp.MuxObserver`)."""

    def __init__(self, log: TelemetryLog) -> None:
        self.log = log

    def api_call(self, operation_id: str, status: int, duration_ms: float,
                 request_id: str, code: str | None = None) -> None:
        data: dict[str, Any] = {"operation_id": operation_id, "status": status,
                                "duration_ms": round(duration_ms, 3), "request_id": request_id}
        if code is not None:
            data["code"] = code
        self.log.add("control", "api_call", dict(_KERNEL_API), data)

    def client_attached(self, client: CdpClient) -> None:
        self.log.add("connection", "cdp_connect", {"kind": "kernel_api", "event": "cdp_connect"},
                     {"connection_id": client.connection_id})

    def client_detached(self, client: CdpClient, browser_gone: bool) -> None:
        self.log.add("connection", "cdp_disconnect",
                     {"kind": "kernel_api", "event": "cdp_disconnect"}, {
                         "connection_id": client.connection_id,
                         "duration_ms": round((time.monotonic() - client.opened) * 1000, 3),
                         "message_count": client.messages,
                         "reason": "upstream_error" if browser_gone else "client_close"})

    def client_command(self, client: CdpClient, message: dict[str, Any]) -> None:
        method = message.get("method")
        if "control" not in self.log.enabled or not isinstance(method, str):
            return
        data = _command_data(method, message.get("params") or {})
        if data is None:
            return
        data = {"method": method, "connection_id": client.connection_id,
                "command_id": message.get("id"), **data}
        session = message.get("sessionId")
        if isinstance(session, str):
            data["session_id"] = session[:128]
        self.log.add("control", "cdp_command", {"kind": "cdp", "event": method}, data)
