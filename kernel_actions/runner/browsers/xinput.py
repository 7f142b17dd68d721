"""One persistent X connection per display: input, windows and the clipboard, no processes.

Each :class:`XConnection` is a thread of its own holding a ``python-xlib`` connection to one
Xvfb display; python-xlib blocks, so nothing else touches the connection and the event loop
only awaits futures. Work reaches the thread through one queue, so the display's input is
serialised: a script of input steps (:class:`Move`, :class:`Button`, :class:`Key`,
:class:`Type`, :class:`Sleep`) runs whole before the next one starts.

* The mouse and keyboard are the XTest extension's ``FakeInput``: motion, buttons and keys
  as if from a device, as xdotool sends them. A keysym is typed with the key the display's
  keyboard map has for it, with Shift on its second level; a keysym the map lacks is put on a
  spare keycode first (see :mod:`.keymap`). Pauses between steps (typing delays, mouse
  steps, held keys) are waited out on the thread, which serves X events meanwhile; a
  cancelled script stops at its next step and releases the keys and buttons it pressed.
  A press that follows a shortcut (Ctrl+L) first pings Chromium's window and waits (see
  :data:`SHORTCUT_SETTLE_S`), so that Chromium has acted on the shortcut before the next
  key arrives.
* Windows are found by walking the window tree (``QueryTree``), sized and moved with
  ``ConfigureWindow`` and given the keyboard with ``SetInputFocus``.
* The clipboard is a real X selection: a write makes the thread's own window the owner of
  ``CLIPBOARD``, and the thread answers other clients' ``SelectionRequest`` for ``TARGETS``,
  ``UTF8_STRING``, ``STRING``, ``TEXT`` and ``text/plain`` until another client takes it; a
  read asks the owner to convert it and waits for ``SelectionNotify`` with a deadline. Text
  too large for one request (which X hands over ``INCR``, in parts) is refused with an error
  that says so, either way.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import select
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from Xlib import X, Xatom
from Xlib import error as xerror
from Xlib.display import Display as XDisplay
from Xlib.ext import xtest
from Xlib.protocol import event as xevent

from ..errors import ApiError, bad_request
from .keymap import REMAP_PAUSE_S, KeyCode, Keymap, keysym_of

__all__ = ["XConnection", "Move", "Button", "Key", "Type", "Sleep", "Step",
           "CLIPBOARD_TIMEOUT_S", "SHORTCUT_SETTLE_S", "modifier_keysym"]

T = TypeVar("T")

#: How long a clipboard read waits for the clipboard's owner to hand it over.
CLIPBOARD_TIMEOUT_S = 5.0
#: Keysyms of the modifier keys (Shift_L … Hyper_R): Shift is never added to press them.
_MODIFIERS = range(0xFFE1, 0xFFEF)
_SHIFT_L = 0xFFE1
_SHIFT_R = 0xFFE2
#: Control, Meta, Alt, Super and Hyper: a key pressed with one of them is a shortcut.
_SHORTCUT_MODIFIERS = frozenset(range(0xFFE3, 0xFFEF)) - {0xFFE5, 0xFFE6}
#: F1 … F35, which the browser may act on itself.
_FUNCTION_KEYS = range(0xFFBE, 0xFFE1)
#: How long after a shortcut (a key pressed with Control, Alt, Super or Meta, or a function
#: key) the next key or button press waits, at least. Chromium gives the page a key first and
#: acts on a shortcut the page leaves (Ctrl+L focusing the address bar) only once the page's
#: renderer has answered: keys sent at once would still reach the page. xdotool's process
#: start made this pause by chance (and longer on a busy machine); here the next press first
#: pings Chromium's window (``_NET_WM_PING``: answered once Chromium has taken in the keys
#: before it) and then waits as long again as the ping took, and this long at least since the
#: shortcut, on the display's thread: only input that follows a shortcut closely pays for it.
SHORTCUT_SETTLE_S = 0.05
#: The longest the ping may take before the press goes ahead anyway.
PING_TIMEOUT_S = 2.0
#: Bytes a single ChangeProperty request may carry besides its own header.
_PROPERTY_HEADER = 24
#: The targets a clipboard write serves, besides TARGETS and TIMESTAMP.
_TEXT_TARGETS = ("UTF8_STRING", "text/plain;charset=utf-8", "text/plain", "TEXT", "STRING")


def modifier_keysym(keysym: int) -> bool:
    """Whether ``keysym`` is a modifier key (Shift, Control, Alt, Meta, Super, Hyper…)."""
    return keysym in _MODIFIERS


# -- input steps ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Move:
    """Move the pointer to ``x``, ``y`` on the screen."""

    x: int
    y: int


@dataclass(frozen=True, slots=True)
class Button:
    """Press (``down``) or release pointer button ``button`` (1 left … 9 forward)."""

    button: int
    down: bool


@dataclass(frozen=True, slots=True)
class Key:
    """Press (``down``) or release the key that types ``keysym``."""

    keysym: int
    down: bool


@dataclass(frozen=True, slots=True)
class Type:
    """Type ``text`` a character at a time: each key is held ``delay_s / 2`` and followed by
    a pause of ``delay_s / 2``, as ``xdotool type --delay`` does."""

    text: str
    delay_s: float


@dataclass(frozen=True, slots=True)
class Sleep:
    """Pause for ``seconds`` (the display's events are served meanwhile)."""

    seconds: float


Step = Move | Button | Key | Type | Sleep


# -- the connection ------------------------------------------------------------------------------


class _Cancelled(Exception):
    """The job was cancelled by its caller."""


class _Closed(Exception):
    """The connection is closing."""


@dataclass(eq=False)
class _Job(Generic[T]):
    work: Callable[[_Job[T]], T]
    quick: bool
    future: Future[T] = field(default_factory=Future)
    cancelled: bool = False
    #: Keycodes and buttons this job pressed and has not released (released if it fails).
    keys: list[int] = field(default_factory=list)
    buttons: list[int] = field(default_factory=list)


class XConnection:
    """A thread with a persistent X connection to display ``name`` (e.g. ``:3``)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.keymap = Keymap()
        self._jobs: collections.deque[_Job[Any]] = collections.deque()
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._closing = False
        self._broken: str | None = None
        self._running: _Job[Any] | None = None
        self._done: Future[None] = Future()
        self._dpy: Any = None
        self._root: Any = None
        self._win: Any = None
        self._atoms: dict[str, int] = {}
        #: The text this connection serves as the clipboard (``None``: it does not own it).
        self._clipboard: str | None = None
        #: Keys held down: keysym → (keycode, whether Shift was pressed for it).
        self._held: dict[int, tuple[int, bool]] = {}
        self._shift_code = 0
        #: No key or button is pressed before this (``time.monotonic()``): see
        #: :data:`SHORTCUT_SETTLE_S`.
        self._quiet_until = 0.0
        #: Whether Chromium is to be pinged before the next press (a shortcut came before).
        self._ping_due = False
        self._pings = 0
        #: The window given the keyboard (Chromium's), pinged after shortcuts.
        self._focus_window = 0
        self._max_property = 0
        self.errors = 0
        self._thread = threading.Thread(target=self._main, name=f"x{name}", daemon=True)
        self._thread.start()

    # -- the event loop's side -----------------------------------------------------------------

    async def call(self, work: Callable[[_Job[T]], T], *, quick: bool = False) -> T:
        """Run ``work`` on the connection's thread, after what is queued before it (a
        ``quick`` one may also run during another's pauses); its result. Cancelling the
        caller stops it at its next step."""
        job: _Job[T] = _Job(work, quick)
        with self._lock:
            if self._closing or self._broken is not None:
                raise self._gone()
            self._jobs.append(job)
        self._wake()
        try:
            return await asyncio.wrap_future(job.future)
        except asyncio.CancelledError:
            job.cancelled = True
            self._wake()
            raise

    async def play(self, steps: Iterable[Step]) -> None:
        """Send ``steps`` of input, in order; done once the X server has them all."""
        todo = list(steps)
        await self.call(lambda job: self._play(job, todo))

    async def pointer(self) -> tuple[int, int]:
        """Where the pointer is on the screen."""
        return await self.call(self._pointer, quick=True)

    async def find_window(self) -> int | None:
        """The last viewable window with a name, in the window tree's order (as ``xdotool
        search --onlyvisible --name .`` lists them), if any."""
        return await self.call(lambda job: self._find_window())

    async def size_window(self, window: int, width: int, height: int) -> None:
        """Move ``window`` to the screen's corner at ``width`` × ``height``."""
        await self.call(lambda job: self._configure(window, x=0, y=0, width=width,
                                                    height=height))

    async def focus_window(self, window: int) -> None:
        """Move ``window`` to the screen's corner and give it the keyboard."""
        await self.call(lambda job: self._configure(window, x=0, y=0, focus=True))

    async def write_clipboard(self, text: str) -> None:
        """Own the clipboard with ``text``; done once the X server says so."""
        await self.call(lambda job: self._own_clipboard(text))

    async def read_clipboard(self) -> str:
        """The clipboard's text ("" when no client owns it or it holds no text)."""
        return await self.call(self._read_clipboard)

    def close(self) -> Future[None]:
        """Stop the work under way and what is queued, and close the connection; the
        returned future is done once it is closed."""
        with self._lock:
            self._closing = True
            running = self._running
        if running is not None:
            running.cancelled = True
        self._wake()
        return self._done

    def _wake(self) -> None:
        with self._lock:
            if self._wake_w >= 0:
                with contextlib.suppress(BlockingIOError, OSError):
                    os.write(self._wake_w, b"\0")

    def _gone(self) -> ApiError:
        if self._broken is not None and not self._closing:
            return ApiError(500, "action_failed",
                            f"the X connection to display {self.name} failed: {self._broken}")
        return ApiError(409, "conflict", "the browser's display is closed")

    # -- the thread ------------------------------------------------------------------------------

    def _main(self) -> None:
        try:
            self._connect()
            while not self._closing:
                self._dispatch()
                job = self._take(quick_only=False)
                if job is None:
                    self._dpy.flush()
                    self._select(None)
                else:
                    self._run(job)
        except (xerror.ConnectionClosedError, OSError, xerror.DisplayError) as exc:
            self._broken = str(exc) or type(exc).__name__
        except Exception as exc:  # noqa: BLE001 - the thread must end by failing the jobs
            self._broken = f"{type(exc).__name__}: {exc}"
        finally:
            with self._lock:
                if self._broken is None:
                    self._closing = True
                pending, self._jobs = list(self._jobs), collections.deque()
            for job in pending:
                if job.future.set_running_or_notify_cancel():
                    job.future.set_exception(self._gone())
            if self._dpy is not None:
                with contextlib.suppress(Exception):
                    self._dpy.close()
            with self._lock:  # never written to once closed (its number may be reused)
                for fd in (self._wake_r, self._wake_w):
                    with contextlib.suppress(OSError):
                        os.close(fd)
                self._wake_r = self._wake_w = -1
            self._done.set_result(None)

    def _connect(self) -> None:
        dpy = XDisplay(self.name)
        self._dpy = dpy
        dpy.set_error_handler(self._on_error)
        if not dpy.has_extension("XTEST"):
            raise xerror.DisplayError(f"display {self.name} has no XTEST extension")
        screen = dpy.screen()
        self._root = screen.root
        # Windows answer _NET_WM_PING to the root window, seen with SubstructureNotify.
        self._root.change_attributes(event_mask=X.SubstructureNotifyMask)
        # A window of our own, never shown: it owns the clipboard and receives what is read.
        self._win = self._root.create_window(-10, -10, 1, 1, 0, X.CopyFromParent,
                                             X.InputOnly, X.CopyFromParent,
                                             event_mask=X.PropertyChangeMask)
        names = ("CLIPBOARD", "TARGETS", "TIMESTAMP", "INCR", "KERNEL_ACTIONS_CLIPBOARD",
                 "WM_PROTOCOLS", "_NET_WM_PING", *_TEXT_TARGETS)
        self._atoms = {n: dpy.intern_atom(n) for n in names}
        self._atoms["STRING"] = Xatom.STRING
        info = dpy.display.info
        self._max_property = int(info.max_request_length) * 4 - _PROPERTY_HEADER
        self._load_keymap()

    def _load_keymap(self) -> None:
        first = self._dpy.display.info.min_keycode
        count = self._dpy.display.info.max_keycode - first + 1
        table = [list(row) for row in self._dpy.get_keyboard_mapping(first, count)]
        self.keymap.load(first, table)
        shift = self.keymap.find(_SHIFT_L)
        self._shift_code = shift.code if shift is not None else 0

    def _on_error(self, err: Any, request: Any) -> None:
        """Errors of requests that answer nothing (a window gone before it was sized): the
        work they belong to carries on, as xdotool's would."""
        self.errors += 1

    def _take(self, *, quick_only: bool) -> _Job[Any] | None:
        with self._lock:
            for job in self._jobs:
                if job.quick or not quick_only:
                    self._jobs.remove(job)
                    return job
        return None

    def _run(self, job: _Job[Any]) -> None:
        if not job.future.set_running_or_notify_cancel():
            return
        outer = self._running
        self._running = job
        try:
            if job.cancelled:
                raise _Cancelled
            result = job.work(job)
        except (xerror.ConnectionClosedError, OSError):
            job.future.set_exception(ApiError(409, "conflict",
                                              "the browser's display is closed"))
            raise
        except (_Cancelled, _Closed):
            job.future.set_exception(ApiError(409, "conflict", "the action was cancelled"))
        except ApiError as exc:
            job.future.set_exception(exc)
        except xerror.XError as exc:
            job.future.set_exception(ApiError(500, "action_failed", f"X error: {exc}"))
        except Exception as exc:  # noqa: BLE001 - reported to the caller, not lost
            job.future.set_exception(ApiError(500, "action_failed",
                                              f"{type(exc).__name__}: {exc}"))
        else:
            job.future.set_result(result)
        finally:
            self._running = outer

    def _select(self, timeout: float | None) -> None:
        ready, _, _ = select.select([self._dpy.fileno(), self._wake_r], [], [], timeout)
        if self._wake_r in ready:
            with contextlib.suppress(BlockingIOError, OSError):
                while os.read(self._wake_r, 512):
                    pass

    def _dispatch(self, until: Callable[[Any], bool] | None = None) -> Any:
        """Handle the events that have come (the first that ``until`` wants is returned
        instead)."""
        while self._dpy.pending_events():
            ev = self._dpy.next_event()
            if until is not None and until(ev):
                return ev
            self._handle(ev)
        return None

    def _wait(self, job: _Job[Any], seconds: float,
              until: Callable[[Any], bool] | None = None) -> Any:
        """Wait ``seconds`` (or for the event ``until`` wants: it is returned), serving the
        display's events and quick jobs meanwhile; stop if the job is cancelled."""
        deadline = time.monotonic() + seconds
        self._dpy.flush()
        while True:
            found = self._dispatch(until)
            if found is not None:
                return found
            if job.cancelled:
                raise _Cancelled
            if self._closing:
                raise _Closed
            quick = self._take(quick_only=True)
            if quick is not None:
                self._run(quick)
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._dpy.flush()
            self._select(left)

    def _handle(self, ev: Any) -> None:
        kind = ev.type
        if kind == X.SelectionRequest:
            self._serve(ev)
        elif kind == X.SelectionClear:
            if ev.atom == self._atoms["CLIPBOARD"]:
                self._clipboard = None
        elif kind == X.MappingNotify and ev.request == X.MappingKeyboard:
            self._load_keymap()

    # -- input -----------------------------------------------------------------------------------

    def _play(self, job: _Job[None], steps: list[Step]) -> None:
        fake = self._fake
        try:
            self._prepare(job, steps)
            for step in steps:
                if job.cancelled:
                    raise _Cancelled
                if isinstance(step, Move):
                    fake(X.MotionNotify, 0, step.x, step.y)
                elif isinstance(step, Button):
                    if step.down:
                        self._settle(job)
                    fake(X.ButtonPress if step.down else X.ButtonRelease, step.button)
                    if step.down:
                        job.buttons.append(step.button)
                    elif step.button in job.buttons:
                        job.buttons.remove(step.button)
                elif isinstance(step, Key):
                    if step.down:
                        self._press(job, step.keysym)
                    else:
                        self._release(job, step.keysym)
                elif isinstance(step, Sleep):
                    if step.seconds > 0:
                        self._wait(job, step.seconds)
                else:
                    self._type(job, step)
            self._dpy.sync()
        except BaseException:
            self._let_go(job)
            raise

    def _fake(self, kind: int, detail: int, x: int = 0, y: int = 0) -> None:
        xtest.fake_input(self._dpy, kind, detail, X.CurrentTime, X.NONE, x, y)

    def _type(self, job: _Job[None], step: Type) -> None:
        half = step.delay_s / 2
        for char in step.text:
            if job.cancelled:
                raise _Cancelled
            sym = keysym_of(char)
            self._press(job, sym)
            if half:
                self._wait(job, half)
            self._release(job, sym)
            if half:
                self._wait(job, half)

    def _key(self, job: _Job[Any], keysym: int) -> KeyCode:
        """The key for ``keysym``, put on a spare key first if the map has none."""
        key = self.keymap.find(keysym)
        if key is None:
            self._remap(job, [keysym])
            key = self.keymap.find(keysym)
            assert key is not None
        return key

    def _prepare(self, job: _Job[Any], steps: list[Step]) -> None:
        """Put the keysyms ``steps`` press that the map lacks on spare keys, all at once (as
        many as there are spare keys), so that Chromium's pause for a new map is taken once."""
        wanted: list[int] = []
        room = len(self.keymap.spare)
        for step in steps:
            if isinstance(step, Key) and step.down:
                syms: Iterable[int] = (step.keysym,)
            elif isinstance(step, Type):
                syms = (keysym_of(char) for char in step.text)
            else:
                continue
            for sym in syms:
                if sym not in wanted and self.keymap.find(sym) is None:
                    wanted.append(sym)
                    if len(wanted) >= room:
                        break
            if len(wanted) >= room:
                break
        if wanted:
            self._remap(job, wanted)

    def _remap(self, job: _Job[Any], keysyms: list[int]) -> None:
        """Give each keysym a spare key (as :class:`.keymap.Keymap` says which, and after
        how long), then give Chromium :data:`.keymap.REMAP_PAUSE_S` to take in the map."""
        changes: list[tuple[int, int]] = []
        wait = 0.0
        for sym in keysyms:
            try:
                code, after = self.keymap.place(sym, [c for c, _ in changes])
            except LookupError:
                raise ApiError(500, "action_failed", f"keysym 0x{sym:x} has no key on display "
                               f"{self.name} and there is no spare key to put it on") from None
            changes.append((code, sym))
            wait = max(wait, after)
        if wait:
            self._wait(job, wait)
        for code, sym in changes:
            self._dpy.change_keyboard_mapping(code, [(sym, sym)])
            self.keymap.assign(code, sym)
        self._wait(job, REMAP_PAUSE_S)

    def _settle(self, job: _Job[Any]) -> None:
        """Wait until a shortcut pressed just before has had time to act (see
        :data:`SHORTCUT_SETTLE_S`)."""
        if self._ping_due:
            self._ping_due = False
            took = self._ping(job)
            if took is not None:
                self._quiet_until = max(self._quiet_until, time.monotonic() + took)
        left = self._quiet_until - time.monotonic()
        if left > 0:
            self._wait(job, left)

    def _ping(self, job: _Job[Any]) -> float | None:
        """Ping the focused window with ``_NET_WM_PING``; how long the answer took (``None``
        without a window or an answer within :data:`PING_TIMEOUT_S`)."""
        if not self._focus_window:
            return None
        self._pings += 1
        serial = self._pings
        ping, protocols = self._atoms["_NET_WM_PING"], self._atoms["WM_PROTOCOLS"]
        window = self._focus_window
        message = xevent.ClientMessage(window=window, client_type=protocols,
                                       data=(32, [ping, serial, window, 0, 0]))
        started = time.monotonic()
        self._dpy.send_event(window, message, event_mask=0)
        answer = self._wait(job, PING_TIMEOUT_S, lambda e: (
            e.type == X.ClientMessage and e.client_type == protocols
            and list(e.data[1][:3]) == [ping, serial, window]))
        return None if answer is None else time.monotonic() - started

    def _press(self, job: _Job[Any], keysym: int) -> None:
        key = self._key(job, keysym)
        self._settle(job)
        shift = (key.shift and self._shift_code and not modifier_keysym(keysym)
                 and not any(s in self._held for s in (_SHIFT_L, _SHIFT_R)))
        if shift:
            self._fake(X.KeyPress, self._shift_code)
            job.keys.append(self._shift_code)
        self._fake(X.KeyPress, key.code)
        job.keys.append(key.code)
        self.keymap.pressed(key.code)
        self._held[keysym] = (key.code, bool(shift))

    def _release(self, job: _Job[Any], keysym: int) -> None:
        held = self._held.pop(keysym, None)
        if held is None:  # released without being pressed here: its key, if it has one
            key = self.keymap.find(keysym)
            if key is None:
                return
            held = (key.code, False)
        code, shift = held
        if keysym in _FUNCTION_KEYS or (not modifier_keysym(keysym) and any(
                s in self._held for s in _SHORTCUT_MODIFIERS)):
            self._quiet_until = time.monotonic() + SHORTCUT_SETTLE_S
            self._ping_due = True
        self._fake(X.KeyRelease, code)
        with contextlib.suppress(ValueError):
            job.keys.remove(code)
        if shift:
            self._fake(X.KeyRelease, self._shift_code)
            with contextlib.suppress(ValueError):
                job.keys.remove(self._shift_code)

    def _let_go(self, job: _Job[Any]) -> None:
        """Release what a failed or cancelled job left pressed."""
        with contextlib.suppress(Exception):
            for code in reversed(job.keys):
                self._fake(X.KeyRelease, code)
            for button in reversed(job.buttons):
                self._fake(X.ButtonRelease, button)
            pressed = set(job.keys)
            self._held = {s: h for s, h in self._held.items() if h[0] not in pressed}
            job.keys.clear()
            job.buttons.clear()
            self._dpy.flush()

    def _pointer(self, job: _Job[Any]) -> tuple[int, int]:
        reply = self._root.query_pointer()
        return int(reply.root_x), int(reply.root_y)

    # -- windows ---------------------------------------------------------------------------------

    def _find_window(self) -> int | None:
        found: list[int] = []
        names = (Xatom.WM_NAME, self._dpy.intern_atom("_NET_WM_NAME"))

        def named(window: Any) -> bool:
            for atom in names:
                prop = window.get_full_property(atom, X.AnyPropertyType)
                if prop is not None and len(prop.value):
                    return True
            return False

        def walk(window: Any) -> None:
            try:
                children = window.query_tree().children
            except xerror.XError:  # gone meanwhile (Chromium opens and closes windows)
                return
            for child in children:
                try:
                    if child.get_attributes().map_state == X.IsViewable and named(child):
                        found.append(child.id)
                except xerror.XError:
                    continue
                walk(child)

        walk(self._root)
        return found[-1] if found else None

    def _configure(self, window: int, *, focus: bool = False, **geometry: int) -> None:
        win = self._dpy.create_resource_object("window", window)
        win.configure(**geometry)
        if focus:
            win.set_input_focus(X.RevertToParent, X.CurrentTime)
            self._focus_window = window
        self._dpy.sync()  # a window gone meanwhile is an error for _on_error, not for us

    # -- the clipboard ---------------------------------------------------------------------------

    def _own_clipboard(self, text: str) -> None:
        size = len(text.encode())
        if size > self._max_property:
            raise bad_request(f"'text' is {size} bytes in UTF-8; the clipboard takes at most "
                              f"{self._max_property} (more needs X's INCR transfers, which "
                              "the runner does not make)")
        clipboard = self._atoms["CLIPBOARD"]
        self._win.set_selection_owner(clipboard, X.CurrentTime)
        owner = self._dpy.get_selection_owner(clipboard)
        if getattr(owner, "id", owner) != self._win.id:
            raise ApiError(500, "action_failed", "the X server did not give the runner the "
                           "clipboard")
        self._clipboard = text

    def _serve(self, ev: Any) -> None:
        """Answer another client's request for the clipboard we own."""
        prop = ev.property if ev.property != X.NONE else ev.target
        served = False
        if self._clipboard is not None and ev.selection == self._atoms["CLIPBOARD"]:
            with contextlib.suppress(xerror.XError):
                served = self._put(ev.requestor, prop, ev.target, self._clipboard)
        notify = xevent.SelectionNotify(time=ev.time, requestor=ev.requestor,
                                        selection=ev.selection, target=ev.target,
                                        property=prop if served else X.NONE)
        ev.requestor.send_event(notify, event_mask=0)
        self._dpy.flush()

    def _put(self, requestor: Any, prop: int, target: int, text: str) -> bool:
        atoms = self._atoms
        if target == atoms["TARGETS"]:
            offered = [atoms["TARGETS"], atoms["TIMESTAMP"], *(atoms[n] for n in _TEXT_TARGETS)]
            requestor.change_property(prop, Xatom.ATOM, 32, offered)
            return True
        if target == atoms["TIMESTAMP"]:
            requestor.change_property(prop, Xatom.INTEGER, 32, [X.CurrentTime])
            return True
        if target == atoms["STRING"]:
            data, kind = text.encode("latin-1", errors="replace"), Xatom.STRING
        elif target in (atoms["UTF8_STRING"], atoms["TEXT"]):
            data, kind = text.encode(), atoms["UTF8_STRING"]
        elif target in (atoms["text/plain;charset=utf-8"], atoms["text/plain"]):
            data, kind = text.encode(), target
        else:
            return False
        if len(data) > self._max_property:
            return False
        requestor.change_property(prop, kind, 8, data)
        return True

    def _read_clipboard(self, job: _Job[str]) -> str:
        clipboard = self._atoms["CLIPBOARD"]
        owner = self._dpy.get_selection_owner(clipboard)
        owner_id = getattr(owner, "id", owner)
        if owner_id == X.NONE:
            return ""
        if owner_id == self._win.id and self._clipboard is not None:
            return self._clipboard
        prop = self._atoms["KERNEL_ACTIONS_CLIPBOARD"]
        deadline = time.monotonic() + CLIPBOARD_TIMEOUT_S
        for target in (self._atoms["UTF8_STRING"], Xatom.STRING):
            self._win.convert_selection(clipboard, target, prop, X.CurrentTime)
            ev = self._wait(job, max(0.0, deadline - time.monotonic()), lambda e: (
                e.type == X.SelectionNotify and e.selection == clipboard
                and getattr(e.requestor, "id", e.requestor) == self._win.id))
            if ev is None:
                raise ApiError(500, "action_failed", "the clipboard's owner did not hand it "
                               f"over within {CLIPBOARD_TIMEOUT_S:g} s")
            if ev.property == X.NONE:
                continue  # not as this target: the next one
            got = self._win.get_full_property(prop, X.AnyPropertyType, sizehint=65536)
            self._win.delete_property(prop)
            if got is None:
                return ""
            if got.property_type == self._atoms["INCR"]:
                self._dpy.flush()
                raise ApiError(413, "too_large", "the clipboard holds more than the X server "
                               "hands over at once (INCR), which the runner does not read")
            value = got.value if isinstance(got.value, bytes) else bytes(got.value)
            return value.decode("utf-8" if target != Xatom.STRING else "latin-1",
                                errors="replace")
        return ""
