"""Kernel's computer controls without a display server, emulated over DevTools.

Where no virtual display can be had (no Xvfb; not Linux; or
``KERNEL_ACTIONS_XVFB=0``), a browser runs headless and its computer controls act on
the tab it shows, through its DevTools pipe:

* the screen is that tab's viewport (``Page.captureScreenshot``, a region is a clip);
  there is no browser UI on it and no pointer drawn, so hiding the cursor changes nothing;
* the mouse is ``Input.dispatchMouseEvent`` (moves, presses, wheel) at a position the
  runner keeps, the keyboard ``Input.dispatchKeyEvent`` with the X11 key names the SDK
  documents (see :mod:`.key_events`), characters a US keyboard lacks ``Input.insertText``;
* the clipboard is kept by the runner: ``Ctrl+V`` types it into the page, ``Ctrl+C`` and
  ``Ctrl+X`` copy the page's selection into it;
* the browser's own shortcuts are honoured as Chromium's window would (see
  :mod:`.browser_ui`): ``Ctrl+L``/``Alt+D``/``F6``, typing and ``Return`` open what was typed
  in the shown tab; ``Ctrl+T``/``Ctrl+W`` open and close tabs, ``Ctrl+Tab``,
  ``Ctrl+Shift+Tab``, ``Ctrl+PageDown``/``PageUp`` and ``Ctrl+1``…``9`` switch,
  ``Alt+Left``/``Right`` go back and forward, ``F5``/``Ctrl+R`` reload, ``Escape`` leaves
  the address bar.

Each tab is sized so its viewport is the browser's ``viewport`` (``Browser.setContentsSize``),
as the screen of a headful browser would be.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from ..errors import ApiError, bad_request
from .browser_ui import AddressBar, Tabs
from .cdp import CdpConnection, CdpError, CdpMux
from .computer import (
    DEFAULT_TYPE_DELAY_MS,
    MAX_CLICKS,
    MAX_SCROLL,
    MAX_WAIT_MS,
    TOOL_TIMEOUT_S,
    Fields,
    curve,
    read_drag,
    read_point,
    read_region,
    run_batch,
    shortcut_keys,
    step_seconds,
)
from .key_events import MODIFIER_BITS, KeyEvent, char_event, key_event, modifier_of

__all__ = ["EmulatedScreen", "WHEEL_STEP_PX"]

#: Pixels one notch of the wheel scrolls (Chromium on Linux scrolls 53 px a notch).
WHEEL_STEP_PX = 53
#: A text longer than this is typed as text (``Input.insertText`` per line), not key by key.
KEYWISE_MAX = 2_000
#: DevTools' mouse buttons and their bits in ``buttons``.
_BUTTON_BITS = {"left": 1, "right": 2, "middle": 4, "back": 8, "forward": 16}
_SELECTION_JS = """(() => {
  const e = document.activeElement;
  if (e && typeof e.selectionStart === "number" && typeof e.value === "string")
    return e.value.slice(e.selectionStart, e.selectionEnd);
  return String(getSelection() || "");
})()"""
#: The browser's own keyboard shortcuts: (modifiers, key) → what they do.
_SHORTCUTS: dict[tuple[frozenset[str], str], str] = {
    (frozenset({"ctrl"}), "l"): "address_bar", (frozenset({"alt"}), "d"): "address_bar",
    (frozenset(), "F6"): "address_bar",
    (frozenset({"ctrl"}), "t"): "new_tab",
    (frozenset({"ctrl"}), "w"): "close_tab", (frozenset({"ctrl"}), "F4"): "close_tab",
    (frozenset({"ctrl"}), "Tab"): "next_tab", (frozenset({"ctrl"}), "Page_Down"): "next_tab",
    (frozenset({"ctrl", "shift"}), "Tab"): "previous_tab",
    (frozenset({"ctrl", "shift"}), "ISO_Left_Tab"): "previous_tab",
    (frozenset({"ctrl"}), "Page_Up"): "previous_tab",
    (frozenset({"alt"}), "Left"): "back", (frozenset({"alt"}), "Right"): "forward",
    (frozenset(), "F5"): "reload", (frozenset({"ctrl"}), "r"): "reload",
    (frozenset({"shift"}), "F5"): "hard_reload", (frozenset({"ctrl"}), "F5"): "hard_reload",
    (frozenset({"ctrl", "shift"}), "r"): "hard_reload",
}


def split_combo(combo: str) -> list[str]:
    """``ctrl+shift+Tab`` → its keys (a lone ``+`` is the plus key)."""
    if combo == "+":
        return ["+"]
    if combo.endswith("++"):
        return [*combo[:-2].split("+"), "+"]
    return combo.split("+")


class _Key:
    """One key of a combination, resolved."""

    def __init__(self, name: str, where: str) -> None:
        found = key_event(name)
        if found is None:
            raise bad_request(f"{where!r}: the emulated keyboard has no key {name!r}: use X11 "
                              "keysym names such as Return, BackSpace, Tab, ctrl+t, ctrl+minus")
        self.name = name
        self.event: KeyEvent = found[0]
        self.shift = found[1]
        self.modifier = modifier_of(name)


class EmulatedScreen:
    """Computer controls on a headless browser, over its DevTools pipe."""

    mode = "emulated"

    def __init__(self, width: int, height: int,
                 log: Callable[[str], None] | None = None) -> None:
        self._width = width
        self._height = height
        self._log = log
        self.input_lock = asyncio.Lock()
        self.cursor_hidden = False
        #: Where the pointer is (it starts in the middle of the screen, as X11's does).
        self.position = (width // 2, height // 2)
        #: The clipboard's text (kept by the runner: a headless browser shares none).
        self.clipboard = ""
        self.tabs = Tabs()
        self.bar = AddressBar()
        self._buttons = 0
        self._mux: CdpMux | None = None
        self._conn: CdpConnection | None = None
        self._connecting = asyncio.Lock()
        self._sessions: dict[str, str] = {}
        self._fitted: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._discovering = False
        self._closed = False

    @property
    def width(self) -> int:
        return self._width

    @property
    def height(self) -> int:
        return self._height

    # -- DevTools ----------------------------------------------------------------------------

    async def wait_for_window(self, timeout: float, mux: Any = None) -> bool:
        """Start following the browser's tabs and size the first ones to the viewport."""
        if isinstance(mux, CdpMux):
            self._mux = mux
        try:
            await asyncio.wait_for(self._connection(), timeout)
            await asyncio.wait_for(asyncio.gather(*(self._fit(t) for t in self.tabs.order)),
                                   timeout)
        except (TimeoutError, ApiError, CdpError):
            return False
        return bool(self.tabs.order)

    async def _connection(self) -> CdpConnection:
        if self._closed:
            raise ApiError(409, "conflict", "the browser is closed")
        conn = self._conn
        if conn is not None and conn.client is not None and not conn.client.closed:
            return conn
        async with self._connecting:
            if self._conn is not None and self._conn.client is not None \
                    and not self._conn.client.closed:
                return self._conn
            if self._mux is None or self._mux.closed.is_set():
                raise ApiError(409, "conflict", "the browser's DevTools pipe is closed")
            conn = await self._mux.connect()
            conn.on("Target.targetCreated", self._created)
            conn.on("Target.targetInfoChanged", self._changed)
            conn.on("Target.targetDestroyed", self._destroyed)
            conn.on("Target.detachedFromTarget", self._detached)
            self._sessions.clear()
            self._discovering = True
            try:
                await conn.send("Target.setDiscoverTargets", {"discover": True})
            finally:
                self._discovering = False
            self._conn = conn
            return conn

    def _created(self, params: dict[str, Any], _session: str | None) -> None:
        info = params.get("targetInfo") or {}
        if info.get("type") != "page" or info.get("subtype"):
            return
        target = str(info.get("targetId"))
        if self.tabs.opened(target, str(info.get("url") or "about:blank"),
                            show=not self._discovering) and not self._discovering:
            self.bar.leave()
            self._background(self._fit(target))

    def _changed(self, params: dict[str, Any], _session: str | None) -> None:
        info = params.get("targetInfo") or {}
        target = str(info.get("targetId"))
        if target in self.tabs.urls:
            self.tabs.urls[target] = str(info.get("url") or "about:blank")

    def _destroyed(self, params: dict[str, Any], _session: str | None) -> None:
        target = str(params.get("targetId"))
        if target == self.tabs.active:
            self.bar.leave()
        self.tabs.closed(target)
        self._sessions.pop(target, None)

    def _detached(self, params: dict[str, Any], _session: str | None) -> None:
        target = params.get("targetId")
        if isinstance(target, str) and self._sessions.get(target) == params.get("sessionId"):
            self._sessions.pop(target, None)

    def _background(self, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, method: str, params: dict[str, Any] | None = None,
                    session: str | None = None) -> dict[str, Any]:
        conn = await self._connection()
        try:
            return await asyncio.wait_for(conn.send(method, params, session), TOOL_TIMEOUT_S)
        except TimeoutError:
            raise ApiError(500, "action_failed", f"the browser did not answer {method} "
                           f"within {TOOL_TIMEOUT_S:g} s") from None
        except CdpError as exc:
            if self._closed or (self._mux is not None and self._mux.closed.is_set()):
                raise ApiError(409, "conflict", "the browser is closed") from None
            raise ApiError(500, "action_failed", f"{method} failed: {exc}") from None

    async def _fit(self, target: str) -> None:
        """Size the window of tab ``target`` so that its viewport is the screen's size."""
        with contextlib.suppress(ApiError):
            found = await self._send("Browser.getWindowForTarget", {"targetId": target})
            window = found.get("windowId")
            if isinstance(window, int) and window not in self._fitted:
                self._fitted.add(window)
                await self._send("Browser.setContentsSize", {
                    "windowId": window, "width": self.width, "height": self.height})

    async def _session(self, target: str) -> str:
        session = self._sessions.get(target)
        if session is not None:
            return session
        attached = await self._send("Target.attachToTarget",
                                    {"targetId": target, "flatten": True})
        session = str(attached["sessionId"])
        self._sessions[target] = session
        # Keyboard focus as if its window were in front, whatever else happens.
        with contextlib.suppress(ApiError):
            await self._send("Emulation.setFocusEmulationEnabled", {"enabled": True}, session)
        return session

    async def _page(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """``method`` on the shown tab (once more on the tab then shown, if it went)."""
        for attempt in (0, 1):
            await self._connection()
            target = self.tabs.active
            if target is None:
                raise ApiError(409, "conflict", "the browser has no open tab: press Ctrl+T to "
                               "open one", headers={"x-should-retry": "false"})
            session = await self._session(target)
            try:
                return await self._send(method, params, session)
            except ApiError:
                if attempt or target == self.tabs.active and target in self._sessions:
                    raise
        raise AssertionError("unreachable")

    # -- the mouse ---------------------------------------------------------------------------

    async def _mouse(self, kind: str, x: int, y: int, *, button: str = "none",
                     clicks: int = 0, modifiers: int = 0, dx: int = 0, dy: int = 0) -> None:
        if kind == "mousePressed":
            self._buttons |= _BUTTON_BITS.get(button, 0)
            self.bar.leave()
        elif kind == "mouseReleased":
            self._buttons &= ~_BUTTON_BITS.get(button, 0)
        params: dict[str, Any] = {"type": kind, "x": x, "y": y, "modifiers": modifiers,
                                  "button": button, "buttons": self._buttons,
                                  "clickCount": clicks}
        if kind == "mouseWheel":
            params.update(deltaX=dx, deltaY=dy)
        await self._page("Input.dispatchMouseEvent", params)
        self.position = (x, y)

    def _check_point(self, f: Fields) -> tuple[int, int]:
        return read_point(f, self.width, self.height)

    def _held(self, f: Fields) -> list[_Key]:
        where = f.where("hold_keys")
        return [_Key(part, f"{where}[{i}]") for i, combo in enumerate(f.keys("hold_keys"))
                for part in split_combo(combo)]

    async def _hold(self, keys: list[_Key]) -> int:
        modifiers = 0
        for key in keys:
            modifiers |= MODIFIER_BITS.get(key.modifier or "", 0)
            await self._key("rawKeyDown", key.event, modifiers, text=False)
        return modifiers

    async def _release(self, keys: list[_Key], modifiers: int) -> None:
        for key in reversed(keys):
            modifiers &= ~MODIFIER_BITS.get(key.modifier or "", 0)
            await self._key("keyUp", key.event, modifiers, text=False)

    async def click_mouse(self, f: Fields) -> None:
        x, y = self._check_point(f)
        button = f.choice("button", tuple(_BUTTON_BITS), "left")
        click_type = f.choice("click_type", ("down", "up", "click"), "click")
        clicks = f.int("num_clicks", 1, lo=1, hi=MAX_CLICKS)
        held = self._held(f)
        mods = await self._hold(held)
        await self._mouse("mouseMoved", x, y, modifiers=mods)
        if click_type == "down":
            await self._mouse("mousePressed", x, y, button=button, clicks=1, modifiers=mods)
        elif click_type == "up":
            await self._mouse("mouseReleased", x, y, button=button, clicks=1, modifiers=mods)
        else:
            for n in range(1, clicks + 1):
                await self._mouse("mousePressed", x, y, button=button, clicks=n, modifiers=mods)
                await self._mouse("mouseReleased", x, y, button=button, clicks=n,
                                  modifiers=mods)
        await self._release(held, mods)

    async def move_mouse(self, f: Fields) -> None:
        x, y = self._check_point(f)
        smooth = f.bool("smooth", False)
        duration = f.int("duration_ms", 0, hi=MAX_WAIT_MS) if "duration_ms" in f.body else None
        held = self._held(f)
        mods = await self._hold(held)
        if smooth:
            points = curve([self.position, (x, y)])
            pause = step_seconds(points, duration)
            for px, py in points[1:]:
                await self._mouse("mouseMoved", px, py, modifiers=mods)
                await asyncio.sleep(pause)
        await self._mouse("mouseMoved", x, y, modifiers=mods)
        await self._release(held, mods)

    async def drag_mouse(self, f: Fields) -> None:
        drag = read_drag(f, self.width, self.height)
        button = drag.button
        held = self._held(f)
        mods = await self._hold(held)
        (sx, sy), (ex, ey) = drag.start, drag.points[-1]
        await self._mouse("mouseMoved", sx, sy, modifiers=mods)
        await self._mouse("mousePressed", sx, sy, button=button, clicks=1, modifiers=mods)
        if drag.delay_s:
            await asyncio.sleep(drag.delay_s)
        for px, py in drag.points[1:]:
            await self._mouse("mouseMoved", px, py, button=button, modifiers=mods)
            if drag.step_s:
                await asyncio.sleep(drag.step_s)
        await self._mouse("mouseReleased", ex, ey, button=button, clicks=1, modifiers=mods)
        await self._release(held, mods)

    async def scroll(self, f: Fields) -> None:
        x, y = self._check_point(f)
        dx = f.int("delta_x", 0, lo=-MAX_SCROLL, hi=MAX_SCROLL)
        dy = f.int("delta_y", 0, lo=-MAX_SCROLL, hi=MAX_SCROLL)
        held = self._held(f)
        mods = await self._hold(held)
        await self._mouse("mouseMoved", x, y, modifiers=mods)
        if dx or dy:
            await self._mouse("mouseWheel", x, y, modifiers=mods, dx=dx * WHEEL_STEP_PX,
                              dy=dy * WHEEL_STEP_PX)
        await self._release(held, mods)

    async def mouse_position(self) -> tuple[int, int]:
        return self.position

    async def set_cursor(self, f: Fields) -> None:
        # No pointer is drawn on a headless page's screenshots: there is nothing to hide.
        self.cursor_hidden = f.bool("hidden")

    async def sleep(self, f: Fields) -> None:
        await asyncio.sleep(f.int("duration_ms", hi=MAX_WAIT_MS) / 1000)

    # -- the keyboard ------------------------------------------------------------------------

    async def _key(self, kind: str, event: KeyEvent, modifiers: int, *,
                   text: bool = True) -> None:
        params = event.params(modifiers)
        if kind == "keyDown" and (not text or "text" not in params):
            kind = "rawKeyDown"
        if kind != "keyDown":
            params.pop("text", None)
            params.pop("unmodifiedText", None)
        params["type"] = kind
        await self._page("Input.dispatchKeyEvent", params)

    async def _tap(self, event: KeyEvent, modifiers: int, hold_s: float = 0) -> None:
        await self._key("keyDown", event, modifiers)
        if hold_s:
            await asyncio.sleep(hold_s)
        await self._key("keyUp", event, modifiers)

    async def press_key(self, f: Fields) -> None:
        names = f.keys("keys", required=True)
        duration = f.int("duration", 0, hi=MAX_WAIT_MS)
        held = self._held(f)
        where = f.where("keys")
        combos = [[_Key(part, f"{where}[{i}]") for part in split_combo(combo)]
                  for i, combo in enumerate(shortcut_keys(names, [k.name for k in held]))]
        base = await self._hold(held)
        for combo in combos:
            *mods_keys, main = combo
            mods = base
            for key in mods_keys:
                mods |= MODIFIER_BITS.get(key.modifier or "", 0)
                if not self.bar.focused:
                    await self._key("rawKeyDown", key.event, mods, text=False)
            await self._press(main, mods, [*held, *mods_keys], duration / 1000)
            for key in reversed(mods_keys):
                mods &= ~MODIFIER_BITS.get(key.modifier or "", 0)
                if not self.bar.focused:
                    await self._key("keyUp", key.event, mods, text=False)
        await self._release(held, base)

    async def _press(self, key: _Key, mods: int, with_keys: list[_Key], hold_s: float) -> None:
        """One key under modifiers: a browser shortcut, the address bar's, or the page's."""
        modifiers = frozenset(k.modifier for k in with_keys if k.modifier)
        modifiers = frozenset("meta" if m == "super" else m for m in modifiers)
        name = key.name.lower() if len(key.name) == 1 else key.name
        shortcut = _SHORTCUTS.get((modifiers, name))
        if shortcut is None and modifiers == {"ctrl"} and name.isdigit() and name != "0":
            await self._show(self.tabs.show(int(name)))
            return
        if shortcut is not None:
            await self._browser_shortcut(shortcut)
            return
        if self.bar.focused:
            await self._address_bar_key(key, modifiers)
            return
        if modifiers == {"ctrl"} and name == "v" or modifiers == {"shift"} and \
                name == "Insert":
            if self.clipboard:
                await self._page("Input.insertText", {"text": self.clipboard})
            return
        if modifiers == {"ctrl"} and name in ("c", "x", "Insert"):
            selected = await self._page("Runtime.evaluate", {
                "expression": _SELECTION_JS, "returnByValue": True})
            value = (selected.get("result") or {}).get("value")
            if isinstance(value, str) and value:
                self.clipboard = value
        shift = MODIFIER_BITS["shift"] if key.shift else 0
        await self._tap(key.event, mods | shift, hold_s)

    async def _address_bar_key(self, key: _Key, modifiers: frozenset[str]) -> None:
        name = key.name
        if not modifiers - {"shift"}:
            if name in ("Return", "KP_Enter"):
                await self._open(self.bar.submit())
            elif name == "Escape" or name in ("Tab", "ISO_Left_Tab"):
                self.bar.leave()
            elif name in ("BackSpace", "Delete"):
                self.bar.delete()
            else:
                shifted = "shift" in modifiers or key.shift
                text = key.event.shifted_text if shifted and key.event.shifted_text \
                    else key.event.text
                if text and text.isprintable():
                    self.bar.type(text)
        elif modifiers == {"ctrl"}:
            lowered = name.lower()
            if lowered == "a":
                self.bar.select_all()
            elif lowered == "v":
                self.bar.type(self.clipboard.replace("\n", " "))
            elif lowered in ("c", "x") and self.bar.selection():
                self.clipboard = self.bar.selection()
                if lowered == "x":
                    self.bar.delete()

    async def type_text(self, f: Fields) -> None:
        text = f.str("text")
        delay = f.int("delay", DEFAULT_TYPE_DELAY_MS, hi=MAX_WAIT_MS) / 1000
        if len(text) > KEYWISE_MAX and not self.bar.focused:
            for i, line in enumerate(text.split("\n")):
                if i:
                    await self._tap(_named("Return"), 0)
                if line:
                    await self._page("Input.insertText", {"text": line})
            return
        for i, char in enumerate(text):
            if i and delay:
                await asyncio.sleep(delay)
            if self.bar.focused:
                if char == "\n":
                    await self._open(self.bar.submit())
                elif char == "\t":
                    self.bar.leave()
                elif char.isprintable():
                    self.bar.type(char)
                continue
            if char in "\n\t":
                await self._tap(_named("Return" if char == "\n" else "Tab"), 0)
                continue
            found = char_event(char)
            if found is not None:
                event, shift = found
                await self._tap(event, MODIFIER_BITS["shift"] if shift else 0)
            else:
                await self._page("Input.insertText", {"text": char})

    # -- the browser's own UI ----------------------------------------------------------------

    async def _browser_shortcut(self, what: str) -> None:
        if what == "address_bar":
            self.bar.focus(self.tabs.url)
        elif what == "new_tab":
            await self._new_tab()
            self.bar.focus("about:blank", select=False)
        elif what == "close_tab":
            await self._close_tab()
        elif what in ("next_tab", "previous_tab"):
            await self._show(self.tabs.step(1 if what == "next_tab" else -1))
        elif what in ("back", "forward"):
            self.bar.leave()
            history = await self._page("Page.getNavigationHistory")
            entries = history.get("entries") or []
            index = int(history.get("currentIndex", 0)) + (1 if what == "forward" else -1)
            if 0 <= index < len(entries):
                await self._page("Page.navigateToHistoryEntry",
                                 {"entryId": entries[index]["id"]})
        elif what in ("reload", "hard_reload"):
            self.bar.leave()
            await self._page("Page.reload", {"ignoreCache": what == "hard_reload"})

    async def _new_tab(self, url: str = "about:blank") -> str:
        created = await self._send("Target.createTarget", {"url": url})
        target = str(created["targetId"])
        self.tabs.opened(target, url)
        self.tabs.active = target
        await self._fit(target)
        return target

    async def _close_tab(self) -> None:
        self.bar.leave()
        target = self.tabs.active
        if target is None:
            return
        if len(self.tabs.order) == 1:  # the browser stays open, on a blank tab
            await self._new_tab()
        self.tabs.closed(target)
        self._sessions.pop(target, None)
        with contextlib.suppress(ApiError):
            await self._send("Target.closeTarget", {"targetId": target})
        await self._show(self.tabs.active)

    async def _show(self, target: str | None) -> None:
        self.bar.leave()
        if target is not None:
            with contextlib.suppress(ApiError):
                await self._send("Target.activateTarget", {"targetId": target})

    async def _open(self, url: str) -> None:
        """Open ``url`` in the shown tab, as the address bar does."""
        if self.tabs.active is None:
            await self._new_tab(url)
            return
        self.tabs.urls[self.tabs.active] = url
        await self._page("Page.navigate", {"url": url, "transitionType": "typed"})

    # -- the clipboard and the screen --------------------------------------------------------

    async def read_clipboard(self) -> str:
        return self.clipboard

    async def write_clipboard(self, f: Fields) -> None:
        self.clipboard = f.str("text")

    async def batch(self, body: Fields) -> None:
        await run_batch(self, body)

    async def screenshot(self, body: Fields) -> bytes:
        region = read_region(body, self.width, self.height)
        params: dict[str, Any] = {"format": "png", "optimizeForSpeed": True}
        if region is not None:
            metrics = await self._page("Page.getLayoutMetrics")
            viewport = metrics.get("cssVisualViewport") or {}
            params["clip"] = {"x": region.x + float(viewport.get("pageX", 0)),
                              "y": region.y + float(viewport.get("pageY", 0)),
                              "width": region.width, "height": region.height, "scale": 1}
        shot = await self._page("Page.captureScreenshot", params)
        return base64.b64decode(shot["data"])

    def close(self) -> Future[None]:
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        if self._conn is not None:
            self._conn.close()
        done: Future[None] = Future()
        done.set_result(None)
        return done


def _named(name: str) -> KeyEvent:
    found = key_event(name)
    assert found is not None
    return found[0]
