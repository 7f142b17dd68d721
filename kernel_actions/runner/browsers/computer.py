"""Kernel's computer controls on a browser's virtual display: mouse, keyboard, screen.

As on Kernel, they act at the OS level: the mouse and keyboard are X11's, taking the key
names the SDK documents (xdotool's: X11 keysym names and ``ctrl``, ``alt``, ``shift``,
``super``, ``meta``), and the clipboard is the X clipboard. They go through one persistent
X connection per display (:mod:`.xinput`: XTest input, the clipboard as an X selection the
runner owns and serves), on a thread of its own that runs the display's input one action
at a time; no process is started per action. A screenshot is the whole screen, browser UI
included, captured with ``mss`` (shared-memory ``XShmGetImage``) and encoded as a PNG at a
low compression level, on one thread per display. A capture whose pixels equal the previous
one's reuses its PNG (a screen that did not change costs the grab and one comparison).

Requests are checked field by field before anything runs; a bad field is a 400
that names it (``actions[2].press_key.keys[0]`` inside a batch). A batch runs
its steps in order and stops at the first one that fails, naming that step;
the steps before it have run.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from Xlib import XK

from ..errors import ApiError, bad_request
from .cdp import CdpError, CdpMux
from .display import Display
from .key_events import libx11
from .keymap import keysym_of
from .png_frames import bgra_to_png, frame_digest
from .xinput import Button, Key, Move, Sleep, Step, Type, XConnection

__all__ = ["XScreen", "BUTTONS", "ACTION_TYPES", "Fields", "Region", "normalize_key", "png_size",
           "run_batch", "curve", "linear", "step_seconds", "read_region", "combo_keysyms", "Drag",
           "read_drag"]

#: X11 pointer buttons by the SDK's names.
BUTTONS = {"left": 1, "middle": 2, "right": 3, "back": 8, "forward": 9}
DRAG_BUTTONS = ("left", "middle", "right")
ACTION_TYPES = ("click_mouse", "move_mouse", "type_text", "press_key", "scroll", "drag_mouse",
                "set_cursor", "sleep")
#: Longest single wait a request may ask for (sleep, delays, durations), in milliseconds.
MAX_WAIT_MS = 60_000
MAX_CLICKS = 100
MAX_SCROLL = 1_000
MAX_PATH_POINTS = 1_000
MAX_STEPS = 1_000
MAX_TEXT = 100_000
MAX_KEYS = 100
MAX_BATCH = 1_000
#: How long one DevTools call made for the computer controls may take before it fails.
TOOL_TIMEOUT_S = 30.0
#: xdotool's pauses between the clicks of a multiple click and the notches of a scroll.
CLICK_GAP_S = 0.010
WHEEL_GAP_S = 0.005
#: How often a browser's screen is looked at until its first window shows.
WINDOW_POLL_S = 0.02
#: How long a new window is resized until Chromium reports the screen's size, how many
#: reports in a row must say so, and how far apart they are.
FILL_TIMEOUT_S = 5.0
FILL_CHECKS = 2
FILL_INTERVAL_S = 0.05
#: xdotool's own spacing of typed characters, used when ``delay`` is not given.
DEFAULT_TYPE_DELAY_MS = 12
#: zlib level of screenshots: fast to encode, still a fraction of the raw size.
PNG_LEVEL = 1

#: Modifier names as people write them, to xdotool's (and to the keysym it presses).
_MODIFIERS = {"ctrl": "ctrl", "control": "ctrl", "alt": "alt", "option": "alt", "shift": "shift",
              "super": "super", "meta": "meta", "cmd": "super", "command": "super",
              "win": "super"}
_MODIFIER_KEYSYMS = {"ctrl": "Control_L", "alt": "Alt_L", "shift": "Shift_L",
                     "super": "Super_L", "meta": "Meta_L"}
#: Common names for keys whose X11 keysym is spelled otherwise.
_KEY_ALIASES = {"enter": "Return", "return": "Return", "esc": "Escape", "escape": "Escape",
                "backspace": "BackSpace", "del": "Delete", "delete": "Delete", "tab": "Tab",
                "space": "space", "pageup": "Page_Up", "page_up": "Page_Up",
                "pagedown": "Page_Down", "page_down": "Page_Down", "home": "Home", "end": "End",
                "up": "Up", "down": "Down", "left": "Left", "right": "Right",
                "insert": "Insert", "-": "minus", "+": "plus"}


def _is_keysym(name: str) -> bool:
    """Whether X11 knows ``name`` as a keysym (``True`` where libX11 can't be asked)."""
    lib = libx11()
    if lib is None:
        return True
    try:
        return bool(lib.XStringToKeysym(name.encode()))
    except UnicodeEncodeError:
        return False


def _key_name(part: str) -> str | None:
    """One key of a combination in xdotool's spelling, or ``None`` if X11 has no such key."""
    lowered = part.lower()
    if lowered in _MODIFIERS:
        return _MODIFIERS[lowered]
    if _is_keysym(part):
        return part
    if lowered in _KEY_ALIASES:
        return _KEY_ALIASES[lowered]
    if len(lowered) >= 2 and lowered[0] == "f" and lowered[1:].isdigit():
        return part.upper()
    return None


def _split(combo: str) -> list[str]:
    """A combination's keys: ``ctrl+plus`` → ``ctrl``, ``plus``; ``ctrl++`` → ``ctrl``, ``+``."""
    if combo in ("+", "-"):
        return [combo]
    if combo.endswith("++"):
        return [*combo[:-2].split("+"), "+"]
    return combo.split("+")


def keysym(name: str) -> int:
    """The keysym of one key as :func:`normalize_key` spells it (``ctrl`` is ``Control_L``,
    ``Return``, ``a``, ``U2713``); a 400 for a name X11 has no keysym for."""
    name = _MODIFIER_KEYSYMS.get(name, name)
    lib = libx11()
    sym = 0
    if lib is not None:
        with contextlib.suppress(UnicodeEncodeError):
            sym = int(lib.XStringToKeysym(name.encode()))
    if not sym:
        sym = XK.string_to_keysym(name)
    if not sym and name[:1] == "U" and len(name) > 1:
        with contextlib.suppress(ValueError):
            sym = 0x01000000 + int(name[1:], 16)
    if not sym and len(name) == 1:
        sym = keysym_of(name)
    if not sym:
        raise bad_request(f"No such key name {name!r}")
    return sym


def combo_keysyms(combo: str) -> list[int]:
    """The keysyms of a combination as :func:`normalize_key` spells it, in order."""
    return [keysym(part) for part in _split(combo)]


def normalize_key(combo: str, where: str) -> str:
    """``"Ctrl+Shift+Tab"`` → ``"ctrl+shift+Tab"``, ``"Ctrl+-"`` → ``"ctrl+minus"``; a 400
    naming ``where`` for anything X11 has no key for."""
    if not combo or not combo.strip():
        raise bad_request(f"{where!r} must be a key name such as 'Return' or 'Ctrl+t'")
    parts = _split(combo.strip())
    out = []
    for part in parts:
        name = _key_name(part.strip()) if part.strip() else None
        if name is None:
            raise bad_request(f"{where!r}: unknown key {part!r} in {combo!r}: use X11 keysym "
                              "names such as Return, BackSpace, Tab, ctrl+t, ctrl+minus")
        out.append(name)
    return "+".join(_shortcut_letter(out))


#: Modifiers that make a key a shortcut (Shift alone only types a capital).
_SHORTCUT_MODIFIERS = frozenset({"ctrl", "alt", "super", "meta"})


def _shortcut_letter(keys: list[str], held: Iterable[str] = ()) -> list[str]:
    """``Ctrl+L`` is the shortcut Ctrl+l, as people and models write it, not Ctrl+Shift+l:
    a capital letter pressed with Ctrl, Alt or Super (and no Shift) is that letter's key."""
    mods = {k.split("_")[0].lower() for k in (*keys[:-1], *held)}
    mods = {_MODIFIERS.get(m, m) for m in mods}
    last = keys[-1] if keys else ""
    if mods & _SHORTCUT_MODIFIERS and "shift" not in mods and len(last) == 1 \
            and "A" <= last <= "Z":
        return [*keys[:-1], last.lower()]
    return keys


def shortcut_keys(keys: list[str], held: list[str]) -> list[str]:
    """Keys pressed while ``held`` are held down: ``L`` under ``Control_L`` is Ctrl+l."""
    return ["+".join(_shortcut_letter(k.split("+"), held)) if k not in ("+",) else k
            for k in keys]


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG from its header."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


# -- reading requests --------------------------------------------------------------------------


class Fields:
    """One JSON object of a request, read field by field; errors name ``prefix.field``."""

    def __init__(self, body: Any, prefix: str = "") -> None:
        if not isinstance(body, dict):
            raise bad_request(f"{prefix or 'request body'!r} must be a JSON object")
        self.body = body
        self.prefix = prefix

    def where(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def int(self, name: str, default: int | None = None, *, lo: int = 0,
            hi: int = 2**31 - 1) -> int:
        value = self.body.get(name)
        if value is None:
            if default is None:
                raise bad_request(f"{self.where(name)!r} is required")
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise bad_request(f"{self.where(name)!r} must be an integer between {lo} and {hi}, "
                              f"got {value!r}")
        return value

    def bool(self, name: str, default: bool | None = None) -> bool:
        value = self.body.get(name)
        if value is None:
            if default is None:
                raise bad_request(f"{self.where(name)!r} is required (true or false)")
            return default
        if not isinstance(value, bool):
            raise bad_request(f"{self.where(name)!r} must be true or false, got {value!r}")
        return value

    def str(self, name: str, *, max_len: int = MAX_TEXT) -> str:
        value = self.body.get(name)
        if value is None:
            raise bad_request(f"{self.where(name)!r} is required")
        if not isinstance(value, str):
            raise bad_request(f"{self.where(name)!r} must be a string")
        if len(value) > max_len:
            raise bad_request(f"{self.where(name)!r} is longer than {max_len} characters")
        if "\0" in value:
            raise bad_request(f"{self.where(name)!r} must not contain NUL characters")
        return value

    def choice(self, name: str, options: tuple[str, ...], default: str) -> str:
        value = self.body.get(name)
        if value is None:
            return default
        if value not in options:
            raise bad_request(f"{self.where(name)!r} must be one of {', '.join(options)}; "
                              f"got {value!r}")
        return str(value)

    def keys(self, name: str, *, required: bool = False) -> list[str]:
        value = self.body.get(name)
        if value is None:
            if required:
                raise bad_request(f"{self.where(name)!r} is required: a list of key names")
            return []
        if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
            raise bad_request(f"{self.where(name)!r} must be a list of key names")
        if required and not value:
            raise bad_request(f"{self.where(name)!r} must name at least one key")
        if len(value) > MAX_KEYS:
            raise bad_request(f"{self.where(name)!r} has more than {MAX_KEYS} keys")
        return [normalize_key(k, f"{self.where(name)}[{i}]") for i, k in enumerate(value)]


# -- the screen ------------------------------------------------------------------------------


@dataclass
class Region:
    x: int
    y: int
    width: int
    height: int


class XScreen:
    """Computer controls on one Xvfb display, through one persistent X connection."""

    #: The display mode, as ``_runner/status`` and the computer endpoints' header name it.
    mode = "xvfb"

    def __init__(self, display: Display) -> None:
        self.display = display
        self.cursor_hidden = False
        #: Input actions run one at a time, so a batch is never interleaved with another.
        self.input_lock = asyncio.Lock()
        #: The display's X connection: input, windows and the clipboard (see :mod:`.xinput`).
        self.x = XConnection(display.name)
        self._capture_thread = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"screen{display.name}")
        self._grabber: Any = None
        self._grabber_cursor: bool | None = None
        #: The last capture: its area and cursor setting, a digest of its pixels, its PNG.
        self._last: tuple[tuple[int, int, int, int, bool], bytes, bytes] | None = None
        self._closed = False

    @property
    def width(self) -> int:
        return self.display.width

    @property
    def height(self) -> int:
        return self.display.height

    def _check_point(self, f: Fields) -> tuple[int, int]:
        return read_point(f, self.width, self.height)

    @staticmethod
    def _hold(keys: list[str]) -> tuple[list[Step], list[Step]]:
        """Steps that press ``keys`` (combinations, in order) and that release them."""
        syms = [sym for combo in keys for sym in combo_keysyms(combo)]
        return [Key(s, True) for s in syms], [Key(s, False) for s in reversed(syms)]

    # -- actions ---------------------------------------------------------------------------

    async def click_mouse(self, f: Fields) -> None:
        x, y = self._check_point(f)
        button = BUTTONS[f.choice("button", tuple(BUTTONS), "left")]
        click_type = f.choice("click_type", ("down", "up", "click"), "click")
        clicks = f.int("num_clicks", 1, lo=1, hi=MAX_CLICKS)
        down, up = self._hold(f.keys("hold_keys"))
        act: list[Step] = []
        if click_type == "click":
            for i in range(clicks):
                if i:
                    act.append(Sleep(CLICK_GAP_S))
                act += [Button(button, True), Button(button, False)]
        else:
            act.append(Button(button, click_type == "down"))
        await self.x.play([Move(x, y), *down, *act, *up])

    async def move_mouse(self, f: Fields) -> None:
        x, y = self._check_point(f)
        smooth = f.bool("smooth", False)
        duration = f.int("duration_ms", 0, hi=MAX_WAIT_MS) if "duration_ms" in f.body else None
        down, up = self._hold(f.keys("hold_keys"))
        moves: list[Step] = []
        if smooth:
            start = await self.mouse_position()
            points = curve([start, (x, y)])
            step_s = step_seconds(points, duration)
            for px, py in points[1:]:
                moves += [Move(px, py), Sleep(step_s)]
        moves.append(Move(x, y))
        await self.x.play([*down, *moves, *up])

    async def drag_mouse(self, f: Fields) -> None:
        drag = read_drag(f, self.width, self.height)
        button = BUTTONS[drag.button]
        down, up = self._hold(f.keys("hold_keys"))
        moves: list[Step] = []
        for px, py in drag.points[1:]:
            moves.append(Move(px, py))
            if drag.step_s:
                moves.append(Sleep(drag.step_s))
        pause: list[Step] = [Sleep(drag.delay_s)] if drag.delay_s else []
        await self.x.play([Move(*drag.start), *down, Button(button, True), *pause, *moves,
                           Button(button, False), *up])

    async def scroll(self, f: Fields) -> None:
        x, y = self._check_point(f)
        dx = f.int("delta_x", 0, lo=-MAX_SCROLL, hi=MAX_SCROLL)
        dy = f.int("delta_y", 0, lo=-MAX_SCROLL, hi=MAX_SCROLL)
        down, up = self._hold(f.keys("hold_keys"))
        wheel: list[Step] = []
        for delta, (back, forth) in ((dy, (4, 5)), (dx, (6, 7))):
            button = forth if delta > 0 else back
            for i in range(abs(delta)):
                if i:
                    wheel.append(Sleep(WHEEL_GAP_S))
                wheel += [Button(button, True), Button(button, False)]
        await self.x.play([Move(x, y), *down, *wheel, *up])

    async def type_text(self, f: Fields) -> None:
        text = f.str("text")
        delay = f.int("delay", DEFAULT_TYPE_DELAY_MS, hi=MAX_WAIT_MS)
        if not text:
            return
        await self.x.play([Type(text, delay / 1000)])

    async def press_key(self, f: Fields) -> None:
        keys = f.keys("keys", required=True)
        duration = f.int("duration", 0, hi=MAX_WAIT_MS)
        held = f.keys("hold_keys")
        down, up = self._hold(held)
        press: list[Step] = []
        for combo in shortcut_keys(keys, held):
            syms = combo_keysyms(combo)
            press += [Key(s, True) for s in syms]
            if duration:
                press.append(Sleep(duration / 1000))
            press += [Key(s, False) for s in reversed(syms)]
        await self.x.play([*down, *press, *up])

    async def set_cursor(self, f: Fields) -> None:
        self.cursor_hidden = f.bool("hidden")

    async def sleep(self, f: Fields) -> None:
        await asyncio.sleep(f.int("duration_ms", hi=MAX_WAIT_MS) / 1000)

    async def wait_for_window(self, timeout: float, mux: object = None) -> bool:
        """Wait until a window is shown on the screen and give it the keyboard, so that
        input sent as soon as the browser is created reaches it; whether one was."""
        loop = asyncio.get_running_loop()
        until = loop.time() + timeout
        while True:
            try:
                window = await asyncio.wait_for(self.x.find_window(),
                                                max(0.1, until - loop.time()))
            except TimeoutError:
                return False
            except ApiError:
                window = None  # the display failed: it may have been stopped meanwhile
            if window is not None:
                break
            if loop.time() >= until:
                return False
            await asyncio.sleep(WINDOW_POLL_S)
        await self._fill_screen(window, mux)
        return True

    async def _fill_screen(self, window: int, mux: object) -> None:
        """Make the window fill the screen, as the viewport says. Chromium makes every window
        it sizes to its whole screen 1 px smaller (``Browser.setWindowBounds`` included), so
        the window is sized on the X server; and as Chromium may take in that resize late on a
        busy machine, its own report is read back until it has said the full size twice in a
        row, so that no page reads the old size."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + FILL_TIMEOUT_S
        held = 0
        while held < FILL_CHECKS and loop.time() < deadline:
            held = held + 1 if await self._filled(window, mux) else 0
            if held < FILL_CHECKS:
                await asyncio.sleep(FILL_INTERVAL_S)
        with contextlib.suppress(ApiError):
            await self.x.focus_window(window)

    async def _filled(self, window: int, mux: object) -> bool:
        """Whether Chromium reports the full size; if not, size the window on the X server.
        Without DevTools to ask, sizing it is all there is to do."""
        size = await _window_size(mux) if isinstance(mux, CdpMux) else None
        if size == (self.width, self.height):
            return True
        with contextlib.suppress(ApiError):
            await self.x.size_window(window, self.width, self.height)
        return not isinstance(mux, CdpMux)

    async def mouse_position(self) -> tuple[int, int]:
        return await self.x.pointer()

    async def read_clipboard(self) -> str:
        return await self.x.read_clipboard()

    async def write_clipboard(self, f: Fields) -> None:
        # The runner owns the clipboard on the display and serves it to the other clients
        # (Chromium's paste) from the connection's thread, until another client takes it;
        # once the X server has made it the owner, a read by anyone sees the new text.
        await self.x.write_clipboard(f.str("text"))

    # -- batches ---------------------------------------------------------------------------

    async def batch(self, body: Fields) -> None:
        await run_batch(self, body)

    # -- the screen ------------------------------------------------------------------------

    async def screenshot(self, body: Fields) -> bytes:
        region = read_region(body, self.width, self.height)
        if self._closed:
            raise ApiError(409, "conflict", "the browser's display is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._capture_thread, self._capture, region)

    def _capture(self, region: Region | None) -> bytes:
        """On the capture thread (mss's X connection belongs to one thread)."""
        import mss

        with_cursor = not self.cursor_hidden
        if self._grabber is None or self._grabber_cursor != with_cursor:
            if self._grabber is not None:
                self._grabber.close()
            self._grabber = mss.MSS(display=self.display.name, with_cursor=with_cursor)
            self._grabber_cursor = with_cursor
        area = ({"left": 0, "top": 0, "width": self.width, "height": self.height}
                if region is None else
                {"left": region.x, "top": region.y, "width": region.width,
                 "height": region.height})
        shot = self._grabber.grab(area)
        key = (area["left"], area["top"], area["width"], area["height"], with_cursor)
        digest = frame_digest(shot.raw)  # the capture is the one frame held
        if self._last is not None and self._last[0] == key and digest == self._last[1]:
            return self._last[2]  # nothing on the screen changed: skip the encoding
        png = bgra_to_png(shot.raw, shot.width, shot.height, PNG_LEVEL)
        self._last = (key, digest, png)
        return png

    def close(self) -> Future[None]:
        """Refuse new captures and release the capture connection once the one under way
        (if any) is done; stop the input under way and close the X connection. The display
        may stop when the returned future is."""
        self._closed = True

        def release() -> None:
            if self._grabber is not None:
                with contextlib.suppress(Exception):
                    self._grabber.close()
                self._grabber = None
            self._last = None

        captured = self._capture_thread.submit(release)
        self._capture_thread.shutdown(wait=False)
        disconnected = self.x.close()
        done: Future[None] = Future()
        captured.add_done_callback(lambda _: disconnected.add_done_callback(
            lambda _: done.set_result(None)))
        return done


class ActionScreen(Protocol):
    """The actions a batch can run (both kinds of screen have them)."""

    async def click_mouse(self, f: Fields) -> None: ...
    async def move_mouse(self, f: Fields) -> None: ...
    async def type_text(self, f: Fields) -> None: ...
    async def press_key(self, f: Fields) -> None: ...
    async def scroll(self, f: Fields) -> None: ...
    async def drag_mouse(self, f: Fields) -> None: ...
    async def set_cursor(self, f: Fields) -> None: ...
    async def sleep(self, f: Fields) -> None: ...


async def run_batch(screen: ActionScreen, body: Fields) -> None:
    """Run ``body``'s actions on ``screen`` in order, stopping at the first that fails with
    an error naming that step (the steps before it have run)."""
    actions = body.body.get("actions")
    if not isinstance(actions, list) or not actions:
        raise bad_request("'actions' must be a non-empty list of actions")
    if len(actions) > MAX_BATCH:
        raise bad_request(f"'actions' has more than {MAX_BATCH} actions")
    handlers: dict[str, Callable[[Fields], Awaitable[None]]] = {
        "click_mouse": screen.click_mouse, "move_mouse": screen.move_mouse,
        "type_text": screen.type_text, "press_key": screen.press_key, "scroll": screen.scroll,
        "drag_mouse": screen.drag_mouse, "set_cursor": screen.set_cursor,
        "sleep": screen.sleep,
    }
    for i, action in enumerate(actions):
        step = f"actions[{i}]"
        if not isinstance(action, dict):
            raise _step_failed(i, None, bad_request(f"{step!r} must be an object"))
        kind = action.get("type")
        if kind not in handlers:
            raise _step_failed(i, None, bad_request(
                f"'{step}.type' must be one of {', '.join(ACTION_TYPES)}; got {kind!r}"))
        params = action.get(kind)
        try:
            if params is None:
                raise bad_request(f"'{step}.{kind}' is required for type {kind!r}")
            await handlers[kind](Fields(params, f"{step}.{kind}"))
        except ApiError as exc:
            raise _step_failed(i, kind, exc) from None


def read_point(f: Fields, width: int, height: int, xname: str = "x",
               yname: str = "y") -> tuple[int, int]:
    """A point on a ``width`` × ``height`` screen; a 400 naming the field when it is off it."""
    return (f.int(xname, hi=width - 1), f.int(yname, hi=height - 1))


def read_region(body: Fields, width: int, height: int) -> Region | None:
    """A screenshot request's ``region``, checked to lie on the screen (``None``: all of it)."""
    raw = body.body.get("region")
    if raw is None:
        return None
    f = Fields(raw, "region")
    x, y = read_point(f, width, height)
    return Region(x, y, f.int("width", lo=1, hi=width - x), f.int("height", lo=1, hi=height - y))


def read_path(f: Fields, width: int, height: int) -> list[tuple[int, int]]:
    """A drag's ``path``: at least two ``[x, y]`` points on the screen."""
    raw = f.body.get("path")
    where = f.where("path")
    if not isinstance(raw, list) or len(raw) < 2:
        raise bad_request(f"{where!r} must be a list of at least 2 [x, y] points")
    if len(raw) > MAX_PATH_POINTS:
        raise bad_request(f"{where!r} has more than {MAX_PATH_POINTS} points")
    path: list[tuple[int, int]] = []
    for i, point in enumerate(raw):
        if (not isinstance(point, list) or len(point) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in point)):
            raise bad_request(f"{where}[{i}] must be an [x, y] pair of integers")
        px, py = point
        if not (0 <= px < width and 0 <= py < height):
            raise bad_request(f"{where}[{i}] = {point} is outside the {width}x{height} screen")
        path.append((px, py))
    return path


@dataclass(frozen=True)
class Drag:
    """A ``drag_mouse`` request, read: where the button goes down, the points the pointer
    then passes through, and the pauses."""

    start: tuple[int, int]
    #: The points moved through, the start first.
    points: list[tuple[int, int]]
    button: str
    #: Held after the button goes down, before the first move.
    delay_s: float
    #: Between two moves.
    step_s: float


def read_drag(f: Fields, width: int, height: int) -> Drag:
    """A ``drag_mouse`` body (without its ``hold_keys``): a straight path of
    ``steps_per_segment`` steps per segment ``step_delay_ms`` apart, or with ``smooth`` a
    human-like curve over ``duration_ms``."""
    path = read_path(f, width, height)
    button = f.choice("button", DRAG_BUTTONS, "left")
    delay = f.int("delay", 0, hi=MAX_WAIT_MS)
    smooth = f.bool("smooth", False)
    duration = f.int("duration_ms", 0, hi=MAX_WAIT_MS) if "duration_ms" in f.body else None
    steps = f.int("steps_per_segment", 10, lo=1, hi=MAX_STEPS)
    step_delay = f.int("step_delay_ms", 50 if not smooth else 0, hi=MAX_WAIT_MS)
    if smooth:
        points = curve(path)
        return Drag(path[0], points, button, delay / 1000, step_seconds(points, duration))
    return Drag(path[0], linear(path, steps), button, delay / 1000, step_delay / 1000)


def _step_failed(index: int, kind: str | None, exc: ApiError) -> ApiError:
    what = f"actions[{index}]" + (f" ({kind})" if kind else "")
    return ApiError(exc.status, exc.code, f"batch stopped at {what}: {exc.message}; the "
                    f"{index} action(s) before it ran", headers=exc.headers,
                    details=[{"step": index, "type": kind}])


def linear(path: list[tuple[int, int]], steps: int) -> list[tuple[int, int]]:
    points = [path[0]]
    for (ax, ay), (bx, by) in zip(path, path[1:], strict=False):
        for s in range(1, steps + 1):
            t = s / steps
            points.append((round(ax + (bx - ax) * t), round(ay + (by - ay) * t)))
    return points


def curve(path: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """A human-like path through ``path``: a gently bowed quadratic Bézier per segment,
    eased in and out, with a step about every 8 px."""
    points = [path[0]]
    for (ax, ay), (bx, by) in zip(path, path[1:], strict=False):
        length = math.hypot(bx - ax, by - ay)
        # The control point sits off the segment's middle by a tenth of its length.
        cx = (ax + bx) / 2 - (by - ay) * 0.1
        cy = (ay + by) / 2 + (bx - ax) * 0.1
        steps = max(4, min(200, int(length / 8)))
        for s in range(1, steps + 1):
            t = s / steps
            t = t * t * (3 - 2 * t)  # ease in and out
            x = (1 - t) ** 2 * ax + 2 * (1 - t) * t * cx + t * t * bx
            y = (1 - t) ** 2 * ay + 2 * (1 - t) * t * cy + t * t * by
            points.append((round(x), round(y)))
    return points


def step_seconds(points: list[tuple[int, int]], duration_ms: int | None) -> float:
    """Seconds between the steps of a smooth movement: ``duration_ms`` spread over the
    steps, else about 1.5 px per ms, as a hand moves."""
    steps = max(1, len(points) - 1)
    if duration_ms is None:
        length = sum(math.hypot(bx - ax, by - ay)
                     for (ax, ay), (bx, by) in zip(points, points[1:], strict=False))
        duration_ms = int(min(2_000, max(100, length / 1.5)))
    return duration_ms / 1000 / steps


async def _window_size(mux: CdpMux) -> tuple[int, int] | None:
    """The size of the window of Chromium's first tab, over DevTools; None when it can't
    say (yet)."""
    try:
        targets = await asyncio.wait_for(mux.call("Target.getTargets"), TOOL_TIMEOUT_S)
        page = next((t["targetId"] for t in targets.get("targetInfos", [])
                     if t.get("type") == "page"), None)
        if page is None:
            return None
        found = await asyncio.wait_for(
            mux.call("Browser.getWindowForTarget", {"targetId": page}), TOOL_TIMEOUT_S)
        bounds = found["bounds"]
        return int(bounds["width"]), int(bounds["height"])
    except (CdpError, TimeoutError, KeyError, TypeError, ValueError):
        return None
