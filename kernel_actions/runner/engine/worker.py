"""The worker process: loads the user's code and runs invocations for the runner.

Started by the runner as ``python -m kernel_actions.runner.engine.worker`` with one end
of a socket pair in ``KERNEL_ACTIONS_WORKER_FD``. It imports the framework at
once and says ``ready`` (so a standby worker is warm), loads code when told,
then runs every invocation it is sent as a task on its event loop (blocking
handlers in threads, or on the loop when they are known to be quick). Output is
routed per invocation; the worker never writes protocol messages to stdout. It
exits when the runner closes the socket.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any

from ...action import Action
from ...context import Context, LogSink, capture_output
from ...errors import AppLoadError
from ...execution import Pending, execute, execute_blocking, finish_awaitable, runs_in_thread
from ...handler_threads import HandlerThreads, Job
from ...loader import load_apps
from ...outcome import Outcome, failure
from ...tooling.manifest import build_manifest
from .children import become_subreaper, group_members, kill_members, reap_zombies
from .debugging import WorkerDebugger
from .private_files import restore_umask
from .protocol import WORKER_FD_ENV, FrameProtocol, Outbox, connect
from .quick_handlers import QuickHandlers, call_outside_loop

__all__ = ["main", "MAX_LOG_LINES"]

#: Log lines kept per invocation; past this one marker line is written and the rest dropped.
MAX_LOG_LINES = 10_000
#: Largest output kept (JSON text); a larger one fails the invocation with a clear reason.
MAX_OUTPUT_BYTES = 16 * 1024 * 1024
#: How long the worker stays idle before it tidies up the processes actions left behind.
TIDY_DELAY = 0.05


def _die_with_parent() -> None:
    """Ask Linux to kill this process when the runner dies (even by ``kill -9``)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the runner already died before prctl
            os._exit(0)
    except Exception:
        pass


class Worker:
    def __init__(self, sock: socket.socket, debugger: WorkerDebugger | None = None) -> None:
        self.sock = sock
        self.debugger = debugger
        self.actions: dict[tuple[str, str], Action] = {}
        #: What runs each invocation: a task (async handlers) or a handler thread's job.
        self.tasks: dict[str, asyncio.Task[None] | Job] = {}
        #: Invocations running as tasks on the loop (what a quick blocking handler run on
        #: the loop would hold up; handler threads run on beside it).
        self._on_loop = 0
        self._lock = threading.Lock()
        self._pending_logs: list[list[Any]] = []
        self._flush_scheduled = False
        self._log_counts: dict[str, int] = {}
        #: Processes started while the code loaded (a helper it keeps): never killed.
        self._kept: set[int] = set()
        #: Whether an invocation was cancelled (or timed out) since the worker was last idle.
        self._cancelled = False
        #: Whether a child process exited since the last tidy (it may be a zombie).
        self._child_exited = False
        self._tidy: asyncio.TimerHandle | None = None
        self.loop: asyncio.AbstractEventLoop
        self.transport: asyncio.Transport | None = None
        #: Resolved when the worker must leave: ``None``, or what was wrong with the socket.
        self._gone: asyncio.Future[str | None]
        self._loop_thread = 0
        self.outbox: Outbox
        self.threads: HandlerThreads
        #: Which blocking handlers are quick enough to run on the loop.
        self.quick = QuickHandlers()

    def send(self, message: dict[str, Any]) -> None:
        self.outbox.send(message)

    # -- logs (any thread) ----------------------------------------------------------------

    def _log(self, invocation_id: str, line: str) -> None:
        with self._lock:
            count = self._log_counts.get(invocation_id, 0) + 1
            self._log_counts[invocation_id] = count
            if count > MAX_LOG_LINES:
                if count != MAX_LOG_LINES + 1:
                    return
                line = f"[log truncated: more than {MAX_LOG_LINES} lines; the rest was dropped]"
            self._pending_logs.append([invocation_id, time.time_ns(), line])
            if self._flush_scheduled:
                return
            self._flush_scheduled = True
        try:
            if threading.get_ident() == self._loop_thread:
                self.loop.call_soon(self._flush_logs)
            else:
                self.loop.call_soon_threadsafe(self._flush_logs)
        except RuntimeError:  # loop closed while a thread still prints
            pass

    def _flush_logs(self) -> None:
        if not self._pending_logs and not self._flush_scheduled:
            return  # nothing to send (what a thread adds meanwhile schedules its own flush)
        with self._lock:
            items, self._pending_logs = self._pending_logs, []
            self._flush_scheduled = False
        if items:
            self.send({"t": "logs", "items": items})

    # -- messages -------------------------------------------------------------------------

    def _load(self, target: str) -> None:
        if self.debugger is not None:
            self.debugger.listen()
        try:
            loaded = load_apps(target)
        except AppLoadError as exc:
            self.send({
                "t": "load_failed",
                "message": exc.message,
                "location": exc.location,
                "detail": exc.detail,
            })
            return
        except BaseException as exc:  # noqa: BLE001 - report, never crash the worker
            self.send({"t": "load_failed", "message": f"{type(exc).__name__}: {exc}",
                       "location": None, "detail": None})
            return
        self.actions = {(a.app_name, a.name): a for app in loaded.apps for a in app}
        self._kept = group_members()
        self.send({"t": "loaded", "manifest": build_manifest(
            loaded.apps, target, getattr(loaded.module, "__file__", None))})

    def _invoke(self, msg: dict[str, Any]) -> None:
        inv_id: str = msg["id"]
        if self.debugger is not None:
            self.debugger.before_invoke()
        action = self.actions.get((msg["app"], msg["action"]))
        if action is None:
            self._finish_outcome(inv_id, msg, failure(
                "action_raised",
                f"action {msg['action']!r} of app {msg['app']!r} is not in the loaded code",
                "Action not found in the loaded code",
            ))
            return
        ctx = Context(
            invocation_id=inv_id, app_name=msg["app"], action_name=msg["action"],
            version=msg.get("version", "latest"),
        )
        sink = LogSink(lambda line: self._log(inv_id, line))
        if runs_in_thread(action):
            # A blocking handler: the whole invocation runs in a handler thread (one
            # hand-off there and back, no task), or on the loop when it is known quick
            # and no task runs there (see :mod:`.quick_handlers`).
            key = (action.app_name, action.name)
            call = self.quick.timed(
                key, partial(execute_blocking, action, ctx, msg.get("payload"), sink))
            if not self._on_loop and self.debugger is None and self.quick.is_quick(key):
                self._blocking_done(msg, action, ctx, sink, partial(call_outside_loop, call))
            else:
                self.tasks[inv_id] = self.threads.submit(
                    call, partial(self._returned, msg, action, ctx, sink))
        else:
            self._start_task(inv_id, self._run(
                msg, execute(action, ctx, msg.get("payload"), sink), ctx))

    def _returned(self, msg: dict[str, Any], action: Action, ctx: Context, sink: LogSink,
                  job: Job) -> None:
        """A blocking handler's thread is done (on the loop)."""
        self._blocking_done(msg, action, ctx, sink, job.value)

    def _blocking_done(self, msg: dict[str, Any], action: Action, ctx: Context, sink: LogSink,
                       value: Callable[[], Outcome | Pending]) -> None:
        """Finish a blocking handler's invocation with what ``value()`` returns or raises."""
        try:
            outcome = value()
        except BaseException as exc:  # noqa: BLE001 - e.g. raised while serialising
            outcome = failure("action_raised", f"{type(exc).__name__}: {exc}")
        if isinstance(outcome, Pending):  # a ``def`` returned an awaitable: await it here
            self._start_task(msg["id"], self._run(
                msg, finish_awaitable(action, ctx, outcome.awaitable, sink), ctx))
            return
        self._finish_outcome(msg["id"], msg, outcome)

    def _start_task(self, inv_id: str, work: Coroutine[Any, Any, None]) -> None:
        task = self.loop.create_task(work)
        self.tasks[inv_id] = task
        self._on_loop += 1
        task.add_done_callback(self._task_done)

    def _task_done(self, _: asyncio.Task[None]) -> None:
        self._on_loop -= 1

    def _cancel(self, inv_id: str) -> None:
        running = self.tasks.get(inv_id)
        if running is None:
            return
        if isinstance(running, Job):
            # A thread can't be interrupted: abandoned, and if it still runs the
            # runner is told the process is not clean.
            stuck = running.cancel()
            self._finish(inv_id, {"t": "result", "id": inv_id, "cancelled": True,
                                  "stuck": stuck})
        else:
            running.cancel()

    async def _run(self, msg: dict[str, Any], work: Coroutine[Any, Any, Outcome],
                   ctx: Context) -> None:
        inv_id: str = msg["id"]
        try:
            outcome = await work
        except asyncio.CancelledError:
            self._finish(inv_id, {"t": "result", "id": inv_id, "cancelled": True,
                                  "stuck": ctx.stuck})
            return
        except BaseException as exc:  # noqa: BLE001
            outcome = failure("action_raised", f"{type(exc).__name__}: {exc}")
        self._finish_outcome(inv_id, msg, outcome)

    def _finish_outcome(self, inv_id: str, msg: dict[str, Any], outcome: Outcome) -> None:
        if outcome.output is not None and len(outcome.output) > MAX_OUTPUT_BYTES // 4 and len(
                outcome.output.encode()) > MAX_OUTPUT_BYTES:
            size = len(outcome.output.encode()) / 1024 / 1024
            outcome = failure(
                "output_too_large",
                f"action {msg['action']!r} returned {size:.1f} MB of JSON; the limit is "
                f"{MAX_OUTPUT_BYTES // 1024 // 1024} MB",
                f"Output too large ({size:.1f} MB; the limit is "
                f"{MAX_OUTPUT_BYTES // 1024 // 1024} MB)",
            )
        self._finish(inv_id, {
            "t": "result", "id": inv_id, "status": outcome.status, "output": outcome.output,
            "status_reason": outcome.status_reason, "error": outcome.error,
        })

    def _finish(self, inv_id: str, message: dict[str, Any]) -> None:
        self._flush_logs()
        self.tasks.pop(inv_id, None)
        self._log_counts.pop(inv_id, None)
        if message.get("cancelled"):
            self._cancelled = True
        self._schedule_tidy()
        try:
            self.send(message)
        except (ValueError, OverflowError) as exc:  # pragma: no cover - absurd sizes
            self.send({"t": "result", "id": inv_id, "status": "failed",
                       "output": None, "status_reason": f"Result too large: {exc}",
                       "error": "output_not_json"})

    # -- processes actions leave behind ----------------------------------------------------

    def _schedule_tidy(self) -> None:
        if not self.tasks and self._tidy is None:
            self._tidy = self.loop.call_later(TIDY_DELAY, self._tidy_up)

    def _tidy_up(self) -> None:
        """Once idle: kill what cancelled actions left running, reap exited children.

        Processes can't be told apart by invocation, so this waits until none runs: a
        cancelled action's processes go then; a finished action's children that exited
        are reaped (no zombies); a process started while the code loaded is kept.
        """
        self._tidy = None
        if self.tasks:
            return
        if self._cancelled:
            self._cancelled = False
            kill_members(self._kept)
        if self._child_exited:
            self._child_exited = False
            reap_zombies()

    def _on_sigchld(self) -> None:
        self._child_exited = True
        self._schedule_tidy()

    def _received(self, msg: dict[str, Any]) -> None:
        kind = msg.get("t")
        if kind == "invoke":
            self._invoke(msg)
        elif kind == "cancel":
            self._cancel(msg["id"])
        elif kind == "load":
            self._load(msg["target"])
        elif kind == "exit":
            self._leave(None)

    def _leave(self, error: str | None) -> None:
        if not self._gone.done():
            self._gone.set_result(error)
        if self.transport is not None:
            self.transport.pause_reading()

    async def run(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.threads = HandlerThreads(self.loop)
        self._loop_thread = threading.get_ident()
        self._gone = self.loop.create_future()
        protocol = FrameProtocol(self._received, self._leave, backpressure=True)
        self.transport = await connect(self.sock, protocol)
        self.outbox = Outbox(self.transport, self.loop)
        self.send({"t": "ready", "pid": os.getpid()})
        # A child that exits while the worker is idle is reaped then, not left a zombie.
        self.loop.add_signal_handler(signal.SIGCHLD, self._on_sigchld)
        with capture_output():
            error = await self._gone
        # The runner is gone or asked us to leave: don't wait for threads still running, and
        # take every process the actions started along (reaped here, not left to init).
        kill_members()
        if error is not None:
            print(f"kernel-actions worker: protocol error: {error}", file=sys.__stderr__)
            os._exit(1)
        os._exit(0)


def main() -> None:
    _die_with_parent()
    restore_umask()
    become_subreaper()  # what an action's processes leave behind comes back here
    fd = int(os.environ.pop(WORKER_FD_ENV))
    sock = socket.socket(fileno=fd)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the runner's to handle
    asyncio.run(Worker(sock, WorkerDebugger.from_env()).run())


if __name__ == "__main__":
    main()
