"""The runner's own log lines on a terminal: outcomes and reloads in colour.

Plain text when the stream is not a terminal or ``NO_COLOR`` is set (https://no-color.org),
so logs piped to a file or read by tests are unchanged.

A line written on the event loop leaves at the end of the loop's turn, with the other
lines of that turn: one write for a burst of finished invocations, not one each. Under a
steady stream of invocations a turn ends every few hundred microseconds, so writes are
also spaced at least :data:`MIN_INTERVAL` apart: a line waits at most that long, and
the terminal (or whatever reads the pipe) is woken 50 times a second, not thousands.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import re
import sys
import threading
import time
from typing import TextIO

__all__ = ["colour_line", "runner_output", "TurnWriter", "MIN_INTERVAL"]

#: Seconds between two writes of held lines, at least.
MIN_INTERVAL = 0.02

_RESET = "\x1b[0m"
_STYLES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^(succeeded)\b"), "\x1b[32m"),                 # green
    (re.compile(r"^(failed)\b"), "\x1b[31m"),                    # red
    (re.compile(r"^(reload failed)\b"), "\x1b[1;31m"),           # bold red
    (re.compile(r"^(reloaded)\b"), "\x1b[36m"),                  # cyan
    (re.compile(r"^(  [0-9a-z]{8} \|)"), "\x1b[2m"),             # an echoed log line's prefix
    (re.compile(r"^((?:browsers?|worker)\b[^:]*:)"), "\x1b[33m"),  # notices
)


def colour_line(line: str) -> str:
    """``line`` with its leading word (outcome, reload, prefix) coloured with ANSI codes."""
    for pattern, style in _STYLES:
        match = pattern.match(line)
        if match:
            head = match.group(1)
            return f"{style}{head}{_RESET}{line[len(head):]}"
    return line


class TurnWriter:
    """Lines written on a running event loop are held and written together when the
    loop's turn ends; lines from anywhere else are written at once (after those held)."""

    def __init__(self, out: TextIO, coloured: bool) -> None:
        self.out = out
        self.coloured = coloured
        self._held: list[str] = []
        self._scheduled = False
        self._last = 0.0  # when held lines were last written (time.monotonic())
        self._lock = threading.Lock()
        atexit.register(self.flush)

    def __call__(self, line: str) -> None:
        self.write(line)

    def write(self, line: str) -> None:
        text = (colour_line(line) if self.coloured else line) + "\n"
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        with self._lock:
            self._held.append(text)
            if loop is not None:
                if not self._scheduled:
                    self._scheduled = True
                    wait = self._last + MIN_INTERVAL - time.monotonic()
                    if wait > 0:
                        loop.call_later(wait, self.flush)
                    else:
                        loop.call_soon(self.flush)
                return
        self.flush()

    def flush(self) -> None:
        with self._lock:
            self._scheduled = False
            if not self._held:
                return
            text = "".join(self._held)
            self._held.clear()
            self._last = time.monotonic()
            try:
                self.out.write(text)
                self.out.flush()
            except (OSError, ValueError):  # the stream is gone (closed pipe, exit)
                pass


def runner_output(stream: TextIO | None = None) -> TurnWriter:
    """Where the runner writes its lines: ``stream`` (stderr), coloured on a terminal.

    Call it with a line; ``flush()`` writes the lines held (before text written to the
    same stream some other way, such as the start banner)."""
    out = stream or sys.stderr
    return TurnWriter(out, out.isatty() and not os.environ.get("NO_COLOR"))
