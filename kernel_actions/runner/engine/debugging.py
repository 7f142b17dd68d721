"""The worker's side of ``kernel-actions dev --debug``.

A worker started in debug mode listens with ``debugpy`` once it loads code (a warm standby
holds no port), on the first free port from the runner's ``--debug-port``, so a worker of
an older generation that is still finishing its invocations keeps its own.

While any thread of the worker is stopped in the debugger, the runner must stop the clock
on that worker's invocations. The worker cannot say so over its protocol socket: a
breakpoint in an ``async def`` handler stops the event loop that writes it. So a small
thread that the debugger never traces watches the debugger's thread states and reports
each change, as one JSON line, on a separate unix socket the runner listens on.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import sysconfig
import threading
from typing import Any

__all__ = ["DEBUG_ENV", "WorkerDebugger", "paused_where"]

#: ``host|port|socket_path[|wait]`` when the runner runs with ``--debug``.
DEBUG_ENV = "KERNEL_ACTIONS_DEBUG"
#: pydevd's state of a thread stopped at a breakpoint or a step.
_STATE_SUSPEND = 2
#: How often the watcher looks at the debugger's threads, in seconds.
_POLL = 0.05
#: Ports tried after the first one, for workers of older generations still running.
_PORT_RANGE = 20


#: Where code that is not the app's lives: the standard library, installed packages, and
#: this package (the worker's loop, the handler threads).
_NOT_APP = tuple(sorted({os.path.normcase(os.path.realpath(p)) + os.sep for p in (
    sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"],
    sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"],
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))}))


def _is_app_file(name: str) -> bool:
    if name.startswith("<"):  # <frozen runpy>, <string>
        return False
    return not os.path.normcase(os.path.realpath(name)).startswith(_NOT_APP)


def _where(thread: threading.Thread) -> tuple[str, bool] | None:
    """``file:line`` of the innermost frame of a stopped thread that is the app's own, and
    True; else of its innermost frame that is not the debugger's, and False."""
    frame = sys._current_frames().get(thread.ident or -1)
    fallback = None
    while frame is not None:
        name = frame.f_code.co_filename
        if _is_app_file(name):
            return f"{os.path.basename(name)}:{frame.f_lineno}", True
        if fallback is None and "pydevd" not in name and "debugpy" not in name and (
                "threading.py" not in name):
            fallback = f"{os.path.basename(name)}:{frame.f_lineno}"
        frame = frame.f_back
    return (fallback, False) if fallback is not None else None


def paused_where(threads: list[threading.Thread]) -> str | None:
    """Where the user is stopped: pydevd suspends every thread, and for a blocking handler
    the event loop's thread (in ``selectors.py``) is one of them, so the thread stopped in
    the app's own code is the one to name."""
    found = [where for where in map(_where, threads) if where is not None]
    return next((w for w, app in found if app), found[0][0] if found else None)


class WorkerDebugger:
    def __init__(self, host: str, port: int, report_path: str, wait: bool) -> None:
        self.host = host
        self.port = port
        self.report_path = report_path
        self.wait = wait
        self._sock: socket.socket | None = None
        self._send_lock = threading.Lock()
        self._listening = False
        self._waited = False
        self._paused_by_wait = False

    @classmethod
    def from_env(cls) -> WorkerDebugger | None:
        raw = os.environ.pop(DEBUG_ENV, None)
        if not raw:
            return None
        host, port, path, *rest = raw.split("|")
        return cls(host, int(port), path, wait=bool(rest and rest[0] == "wait"))

    # -- reporting ------------------------------------------------------------------------

    def _report(self, event: str, **fields: Any) -> None:
        line = json.dumps({"event": event, "pid": os.getpid(), **fields}).encode() + b"\n"
        with self._send_lock:
            try:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    self._sock.connect(self.report_path)
                self._sock.sendall(line)
            except OSError:
                self._sock = None  # the runner is gone or restarting its monitor

    # -- lifecycle ------------------------------------------------------------------------

    def listen(self) -> None:
        """Start debugpy on the first free port; called when the worker loads code."""
        if self._listening:
            return
        import debugpy

        last: Exception | None = None
        for port in range(self.port, self.port + _PORT_RANGE):
            try:
                debugpy.listen((self.host, port))
            except Exception as exc:  # in use by an older generation's worker
                last = exc
                continue
            self._listening = True
            self._report("listening", host=self.host, port=port)
            watcher = threading.Thread(target=self._watch, name="kernel-actions debug watch",
                                       daemon=True)
            # Never traced, never stopped: it has to speak while everything else is paused.
            watcher.pydev_do_not_trace = True  # type: ignore[attr-defined]
            watcher.is_pydev_daemon_thread = True  # type: ignore[attr-defined]
            watcher.start()
            return
        self._report("failed", message=f"no free debug port from {self.port}: {last}")

    def before_invoke(self) -> None:
        """With ``--wait``, the first invocation waits here until a debugger attaches."""
        if not (self.wait and self._listening) or self._waited:
            return
        import debugpy

        self._waited = True
        if debugpy.is_client_connected():
            return
        self._paused_by_wait = True
        self._report("paused", where="waiting for a debugger to attach")
        debugpy.wait_for_client()
        self._paused_by_wait = False
        self._report("resumed")

    def _stopped_threads(self) -> list[threading.Thread]:
        stopped = []
        for thread in threading.enumerate():
            info = getattr(thread, "additional_info", None)
            if info is not None and getattr(info, "pydev_state", None) == _STATE_SUSPEND:
                stopped.append(thread)
        return stopped

    def _watch(self) -> None:
        import time

        paused = False
        while True:
            time.sleep(_POLL)
            if self._paused_by_wait:
                continue
            stopped = self._stopped_threads()
            if stopped and not paused:
                paused = True
                self._report("paused", where=paused_where(stopped))
            elif not stopped and paused:
                paused = False
                self._report("resumed")
