"""The context an action runs in, and the routing of its logs.

Every invocation gets a :class:`Context`. Whatever the action writes, through
``ctx.log()``, ``print()`` or :mod:`logging`, goes to that invocation's log sink.
The current sink lives in a :class:`~contextvars.ContextVar`, so concurrent
invocations in one process (tasks on one event loop, blocking handlers in
threads) never mix their lines.
"""

from __future__ import annotations

import io
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TextIO

from .log_levels import LogLevels

__all__ = ["Context", "LogSink", "capture_output"]

#: Longest log line kept; longer ones are cut with a marker (the hosted API caps at 64 KiB).
MAX_LINE_BYTES = 64 * 1024
_TRUNCATED = " …[line truncated]"


class LogSink:
    """Collects an invocation's output and hands it on line by line.

    ``emit`` receives each complete line (without its newline). Partial writes
    are buffered until a newline arrives or :meth:`close` flushes them.
    """

    __slots__ = ("_emit", "_partial", "_lock")

    def __init__(self, emit: Callable[[str], None]) -> None:
        self._emit = emit
        self._partial = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        with self._lock:
            text = self._partial + text
            *lines, self._partial = text.split("\n")
        for line in lines:
            self.line(line)

    def line(self, line: str) -> None:
        """Emit one line as it is (no splitting, truncated past the cap)."""
        if len(line) > MAX_LINE_BYTES // 4 and len(line.encode()) > MAX_LINE_BYTES:
            line = line.encode()[: MAX_LINE_BYTES - 32].decode(errors="ignore") + _TRUNCATED
        self._emit(line)

    def close(self) -> None:
        with self._lock:
            rest, self._partial = self._partial, ""
        if rest:
            self.line(rest)


_sink: ContextVar[LogSink | None] = ContextVar("kernel_actions_log_sink", default=None)


@dataclass
class Context:
    """What an action knows about the invocation it serves.

    ``invocation_id`` is the only field Kernel's own ``KernelContext`` has, so code
    written for the official SDK keeps working.
    """

    invocation_id: str
    app_name: str = ""
    action_name: str = ""
    version: str = "latest"
    _sink: LogSink | None = field(default=None, repr=False, compare=False)
    #: Set when a cancelled blocking handler's thread could not be stopped.
    stuck: bool = field(default=False, repr=False, compare=False)

    def log(self, *values: Any, sep: str = " ") -> None:
        """Write a line (or several) to this invocation's log stream."""
        text = sep.join(str(v) for v in values)
        sink = self._sink or _sink.get()
        if sink is None:
            print(text, file=sys.__stderr__)
            return
        for line in text.split("\n"):
            sink.line(line)


class _RoutingStream(io.TextIOBase):
    """Stands in for ``sys.stdout``/``sys.stderr``: routes writes to the current sink."""

    def __init__(self, fallback: TextIO) -> None:
        self.fallback = fallback

    def write(self, text: str) -> int:
        sink = _sink.get()
        if sink is None:
            return self.fallback.write(text)
        sink.write(text)
        return len(text)

    def flush(self) -> None:
        if _sink.get() is None:
            self.fallback.flush()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.fallback, "encoding", "utf-8")

    def fileno(self) -> int:
        return self.fallback.fileno()


class _RoutingHandler(logging.Handler):
    """Sends log records made inside an invocation to its sink."""

    def __init__(self, levels: LogLevels) -> None:
        super().__init__(level=logging.NOTSET)
        self.levels = levels
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        sink = _sink.get()
        if sink is None or not self.levels.keeps(record):
            return
        try:
            text = self.format(record)
        except Exception:  # pragma: no cover - logging's own habit
            self.handleError(record)
            return
        for line in text.split("\n"):
            sink.line(line)


_install_lock = threading.Lock()
_install_depth = 0
_saved: tuple[TextIO, TextIO, _RoutingHandler, int] | None = None


@contextmanager
def capture_output() -> Iterator[None]:
    """Route ``print`` and ``logging`` to the current invocation's sink while active.

    Log records are filtered by :class:`~kernel_actions.log_levels.LogLevels`: the app's INFO
    lines are kept, libraries' only from WARNING unless ``KERNEL_ACTIONS_LOG_LEVEL`` says.

    Re-entrant: nested or concurrent users share one installation, removed when
    the last one leaves. Outside an invocation, output goes where it went before.
    """
    global _install_depth, _saved
    with _install_lock:
        if _install_depth == 0:
            levels = LogLevels.from_env()
            handler = _RoutingHandler(levels)
            root = logging.getLogger()
            _saved = (sys.stdout, sys.stderr, handler, root.level)
            sys.stdout = _RoutingStream(sys.stdout)  # type: ignore[assignment]
            sys.stderr = _RoutingStream(sys.stderr)  # type: ignore[assignment]
            root.addHandler(handler)
            # Open the root logger wide enough for the app's INFO lines; the handler keeps
            # libraries' records below WARNING out (see kernel_actions.log_levels).
            if root.level > levels.lowest or root.level == logging.NOTSET:
                root.setLevel(levels.lowest)
        _install_depth += 1
    try:
        yield
    finally:
        with _install_lock:
            _install_depth -= 1
            if _install_depth == 0 and _saved is not None:
                out, err, handler, level = _saved
                sys.stdout, sys.stderr = out, err
                root = logging.getLogger()
                root.removeHandler(handler)
                root.setLevel(level)
                _saved = None


class bind_sink:  # noqa: N801 - used as a function: ``with bind_sink(sink):``
    """Make ``sink`` the current one for this context (and threads it starts via anyio),
    and close it on the way out. A class, not a generator: it wraps every invocation."""

    __slots__ = ("_sink", "_token")

    def __init__(self, sink: LogSink) -> None:
        self._sink = sink

    def __enter__(self) -> None:
        self._token = _sink.set(self._sink)

    def __exit__(self, *exc: object) -> None:
        _sink.reset(self._token)
        self._sink.close()
