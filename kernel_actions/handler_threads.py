"""The threads blocking handlers run in: kept between calls, woken once per batch.

A blocking (``def``) handler must never stall the event loop, so it runs in a thread.
Handing each call to a thread the general way (``anyio.to_thread``: a capacity
limiter, a ``Condition``-based queue, one wake-up of the loop per result) costs more
CPU than a trivial handler itself. Here each thread has its own queue (a C-level
``SimpleQueue``: no Python lock on the way in), and threads that finish while the
loop is busy share a single wake-up: under load, one loop turn collects several
results.

Semantics kept from ``anyio.to_thread.run_sync(..., abandon_on_cancel=True)``: at most
:data:`DEFAULT_LIMIT` calls run at once (more wait their turn), each runs in a copy of
the caller's context (context variables such as the invocation's log sink follow it),
and a cancelled call that already runs is abandoned: its thread can't be stopped, it
no longer counts against the limit, and :meth:`Job.cancel` says it is still running.
Idle threads end after :data:`IDLE_SECONDS`.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections import deque
from collections.abc import Callable
from queue import Empty, SimpleQueue
from typing import Any

__all__ = ["HandlerThreads", "Job", "DEFAULT_LIMIT", "IDLE_SECONDS"]

#: Calls running at once (anyio's default thread limit, kept).
DEFAULT_LIMIT = 40
#: How long an idle thread waits for work before it ends.
IDLE_SECONDS = 10.0

_WAITING, _RUNNING, _FINISHED, _DONE = range(4)


class Job:
    """One call handed to a thread; ``on_done(job)`` runs on the loop once it returns."""

    __slots__ = ("fn", "context", "on_done", "result", "error", "state", "abandoned", "_pool")

    def __init__(self, pool: HandlerThreads, fn: Callable[[], Any],
                 on_done: Callable[[Job], None]) -> None:
        self._pool = pool
        self.fn = fn
        self.context = contextvars.copy_context()
        self.on_done = on_done
        self.result: Any = None
        self.error: BaseException | None = None
        self.state = _WAITING
        self.abandoned = False

    def cancel(self) -> bool:
        """Stop waiting for this call (on the loop). True when its thread still runs it.

        ``on_done`` is not called for a cancelled job.
        """
        return self._pool._cancel(self)

    def value(self) -> Any:
        """What the call returned, or raise what it raised."""
        if self.error is not None:
            raise self.error
        return self.result


class _Thread:
    __slots__ = ("queue",)

    def __init__(self) -> None:
        self.queue: SimpleQueue[Job | None] = SimpleQueue()


class HandlerThreads:
    """A pool of threads serving one event loop (create it on that loop)."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None,
                 limit: int = DEFAULT_LIMIT) -> None:
        self._loop = loop or asyncio.get_running_loop()
        self._limit = limit
        #: Threads waiting for work; both the loop and an expiring thread take from it.
        self._idle: list[_Thread] = []
        self._idle_lock = threading.Lock()
        #: Calls started and not yet returned or abandoned (what the limit counts).
        self._running = 0
        self._waiting: deque[Job] = deque()
        #: Calls returned, appended by their threads, collected on the loop.
        self._returned: deque[Job] = deque()
        self._wake_pending = False

    @property
    def uncollected(self) -> int:
        """Calls that returned and wait for the loop to collect them."""
        return len(self._returned)

    # -- loop side ------------------------------------------------------------------------

    def submit(self, fn: Callable[[], Any], on_done: Callable[[Job], None]) -> Job:
        """Run ``fn()`` in a thread; ``on_done(job)`` is called on the loop afterwards."""
        job = Job(self, fn, on_done)
        if self._running < self._limit:
            self._start(job)
        else:
            self._waiting.append(job)
        return job

    async def run(self, fn: Callable[[], Any]) -> Any:
        """``fn()`` in a thread, awaited; a cancelled wait abandons a call already running."""
        future: asyncio.Future[None] = self._loop.create_future()

        def done(_: Job) -> None:
            if not future.done():
                future.set_result(None)

        job = self.submit(fn, done)
        try:
            await future
        except asyncio.CancelledError:
            job.cancel()
            raise
        return job.value()

    def _start(self, job: Job) -> None:
        job.state = _RUNNING
        self._running += 1
        with self._idle_lock:
            thread = self._idle.pop() if self._idle else None
        if thread is None:
            thread = _Thread()
            threading.Thread(target=self._serve, args=(thread,), daemon=True,
                             name="kernel-actions handler").start()
        thread.queue.put(job)

    def _cancel(self, job: Job) -> bool:
        if job.state == _WAITING:
            job.state = _DONE
            self._waiting.remove(job)
            return False
        if job.state == _DONE or job.abandoned:
            return False
        job.abandoned = True
        self._running -= 1
        self._start_waiting()
        return job.state == _RUNNING

    def _collect(self) -> None:
        self._wake_pending = False  # before taking: a later return schedules another
        returned = self._returned
        while returned:
            job = returned.popleft()
            if job.abandoned:
                continue
            job.state = _DONE
            self._running -= 1
            try:
                job.on_done(job)
            except Exception as exc:  # one caller's failure must not strand the others
                self._loop.call_exception_handler({
                    "message": "a handler thread's completion callback failed",
                    "exception": exc,
                })
        self._start_waiting()

    def _start_waiting(self) -> None:
        while self._waiting and self._running < self._limit:
            self._start(self._waiting.popleft())

    # -- thread side ----------------------------------------------------------------------

    def _serve(self, thread: _Thread) -> None:
        job: Job | None = None
        while True:
            try:
                job = thread.queue.get(timeout=IDLE_SECONDS)
            except Empty:
                with self._idle_lock:
                    if thread in self._idle:  # not just handed a job: leave
                        self._idle.remove(thread)
                        return
                continue
            if job is None:
                return
            try:
                job.result = job.context.run(job.fn)
            except BaseException as exc:  # noqa: BLE001 - handed to the loop as it is
                job.error = exc
            job.state = _FINISHED
            self._returned.append(job)
            job = None
            with self._idle_lock:
                self._idle.append(thread)
            if not self._wake_pending:
                self._wake_pending = True
                try:
                    self._loop.call_soon_threadsafe(self._collect)
                except RuntimeError:  # the loop is closed: nobody waits any more
                    with self._idle_lock:
                        if thread in self._idle:
                            self._idle.remove(thread)
                    return
