"""A frozen event loop says so, and a second Ctrl-C ends the runner even then.

Everything a client sees is served by one event loop. If some call blocks it (a C call
that never returns, a lock whose owner is gone), the runner answers nothing and, since
Python runs signal handlers only between bytecodes on the main thread, may not react to
Ctrl-C either. Two small parts guard against that:

* a heartbeat: the loop notes the time every :data:`BEAT_S`; a thread checks it, and when
  the loop has not turned for :data:`FROZEN_S` it logs once which code the main thread is
  in (its stack), so a freeze is one line to diagnose;
* a signal relay: the C-level signal handler writes each signal's number to a socket this
  module owns (``signal.set_wakeup_fd``); the thread reads it, wakes the loop so Python's
  handlers run at once, and on the second SIGINT or SIGTERM while the loop is frozen calls
  ``force_exit`` (kill every child, exit 130), which needs no loop.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

__all__ = ["LoopWatchdog", "FROZEN_S", "BEAT_S"]

#: How long the loop may go without turning before the watchdog reports it.
FROZEN_S = 2.0
#: How often the loop notes that it turns.
BEAT_S = 0.25


class LoopWatchdog:
    """Watches ``loop`` from a thread; ``log`` gets one message per freeze."""

    def __init__(self, loop: asyncio.AbstractEventLoop, log: Callable[[str], None],
                 force_exit: Callable[[], None], *, frozen_s: float = FROZEN_S,
                 beat_s: float = BEAT_S) -> None:
        self._loop = loop
        self._log = log
        self._force_exit = force_exit
        self.frozen_s = frozen_s
        self.beat_s = beat_s
        self._beat = time.monotonic()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._relay: tuple[socket.socket, socket.socket] | None = None
        self._old_wakeup_fd: int | None = None
        self._main_ident = threading.main_thread().ident
        #: Freezes reported so far (tests read it).
        self.reports = 0
        self._stops_while_frozen = 0

    # -- the heartbeat ---------------------------------------------------------------------

    def _tick(self) -> None:
        self._beat = time.monotonic()
        self._stops_while_frozen = 0
        if not self._stopped.is_set():
            self._timer = self._loop.call_later(self.beat_s, self._tick)

    @property
    def frozen(self) -> bool:
        return time.monotonic() - self._beat > self.frozen_s

    def start(self) -> None:
        """Start watching; call on the loop's thread (the main thread relays signals)."""
        self._tick()
        if threading.current_thread() is threading.main_thread():
            reader, writer = socket.socketpair()
            writer.setblocking(False)
            try:
                self._old_wakeup_fd = signal.set_wakeup_fd(writer.fileno(),
                                                           warn_on_full_buffer=False)
                self._relay = (reader, writer)
            except (ValueError, OSError):
                reader.close()
                writer.close()
        self._thread = threading.Thread(target=self._watch, name="loop-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._timer is not None:
            self._timer.cancel()
        if self._relay is not None:
            if threading.current_thread() is threading.main_thread():
                with contextlib.suppress(ValueError, OSError):
                    signal.set_wakeup_fd(-1 if self._old_wakeup_fd is None
                                         else self._old_wakeup_fd)
            self._relay[1].close()  # the reader sees end-of-file
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(2.0)
        if self._relay is not None:
            self._relay[0].close()
            self._relay = None

    # -- the thread ----------------------------------------------------------------------

    def _watch(self) -> None:
        reported_beat: float | None = None
        reader = self._relay[0] if self._relay is not None else None
        if reader is not None:
            reader.settimeout(self.beat_s)
        while not self._stopped.is_set():
            if reader is None:
                self._stopped.wait(self.beat_s)
            else:
                try:
                    data = reader.recv(64)
                except TimeoutError:
                    data = None
                except OSError:
                    reader = None
                    continue
                if data == b"":
                    reader = None  # closed: stopping
                    continue
                if data:
                    self._signals(data)
            beat = self._beat
            if self.frozen and reported_beat != beat:
                reported_beat = beat
                self.reports += 1
                self._log(self.describe_freeze())

    def _signals(self, data: bytes) -> None:
        # Wake the loop: Python's own handlers run as soon as the main thread runs Python.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(_nothing)
        stops = sum(1 for n in data if n in (signal.SIGINT, signal.SIGTERM))
        if stops and self.frozen:
            self._stops_while_frozen += stops
            if self._stops_while_frozen >= 2:
                self._log("the event loop is frozen and a second stop signal came: exiting now")
                self._force_exit()

    def describe_freeze(self) -> str:
        """One message: how long the loop has not turned, and the main thread's stack."""
        idle = time.monotonic() - self._beat
        frame = sys._current_frames().get(self._main_ident or -1)
        where = "".join(traceback.format_stack(frame)).rstrip() if frame else "(no stack)"
        last = traceback.extract_stack(frame)[-1] if frame else None
        at = f"{last.filename}:{last.lineno} in {last.name}" if last else "unknown code"
        return (f"the event loop has not turned for {idle:.1f} s; it is held at {at} "
                f"(Ctrl-C twice exits). Main thread:\n{where}")


def _nothing() -> None:
    pass
