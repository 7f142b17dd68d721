"""The scheduler: every invocation's way from ``queued`` to a terminal state.

It owns the invocations that are not finished yet (in memory, and in the store
from the moment they exist), hands queued ones to the current worker of the
code that serves them within a concurrency limit, enforces timeouts, applies
``PATCH`` updates and cancellations, and fails the invocations of a worker
that dies. A terminal state is final: whatever comes after it (the action's
late return, a second update) changes nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from ...ids import new_id
from ...outcome import REASONS, FailureKind
from ...suggest import did_you_mean
from ...timeutil import format_ns, now_ns
from . import background
from .errors import Conflict, NotFound, Unavailable
from .events import EventBus
from .invocation import Invocation, Status
from .pool import CodePool, WorkerProcess
from .store import Store
from .text import check_json_text, check_text

__all__ = ["Scheduler", "Active"]

#: How long a worker gets to give back a cancelled invocation before it is replaced.
CANCEL_GRACE = 3.0
#: How long a sync invocation's row is kept back from the store: one that finishes within
#: it (most do) is written once, in its final state. Its client learns nothing before
#: it ends, so nothing told is lost; a longer one is written when this passes.
SYNC_HOLD = 0.05


@dataclass(eq=False)
class Active:
    inv: Invocation
    done: asyncio.Future[None]
    timer: asyncio.TimerHandle | None = None
    worker: WorkerProcess | None = None
    counted: bool = False
    #: Log lines so far ``(ts_ns, line)``: replayed to new SSE subscribers while it runs.
    logs: list[tuple[int, str]] = field(default_factory=list)
    #: The pool its version was routed to when it was submitted.
    pool: CodePool | None = None
    #: The answer to an async ``POST /invocations``: the invocation as created (``queued``).
    created: dict[str, Any] = field(default_factory=dict)
    #: Seconds left on the timeout while its worker is stopped in a debugger.
    paused_left: float | None = None
    paused_ns: int = 0


def _failure_output(kind: FailureKind, message: str) -> str:
    return json.dumps({"error": kind, "message": message})


def _set_outcome(inv: Invocation, status: Status, output: str | None, reason: str | None) -> None:
    inv.status = status
    inv.output = output
    inv.status_reason = reason if status == "failed" else None
    inv.finished_ns = now_ns()


def _reason_from_output(output: str | None) -> str:
    """``status_reason`` for an invocation failed by ``PATCH``: the output's error message."""
    if output:
        try:
            value = json.loads(output)
        except ValueError:
            value = None
        if isinstance(value, dict):
            for key in ("error", "message"):
                if isinstance(value.get(key), str) and value[key].strip():
                    return value[key].strip()[:200]
    return "Invocation marked failed by an update"


class Scheduler:
    def __init__(
        self,
        store: Store,
        bus: EventBus,
        *,
        max_concurrency: int = 50,
        sync_timeout: float = 100.0,
        on_finished: Callable[[Invocation], None] | None = None,
        log: Callable[[str], None] = lambda message: None,
        echo: Callable[[str, str], None] | None = None,
    ) -> None:
        self.store = store
        self.bus = bus
        self.max_concurrency = max_concurrency
        self.sync_timeout = sync_timeout
        self.on_finished = on_finished
        self.log = log
        #: Called with (invocation id, line) for every log line, when set (``--echo-logs``).
        self.echo = echo
        self.pools: list[CodePool] = []
        self.active: dict[str, Active] = {}
        self.queue: deque[str] = deque()
        self.running = 0
        self.accepting = True
        #: Worker pids with a thread stopped in a debugger (``dev --debug``): no clock runs.
        self.paused_workers: set[int] = set()

    # -- what features may ask and tell -------------------------------------------------

    def add_pool(self, pool: CodePool) -> None:
        """Route to ``pool`` from now on (its versions become invocable)."""
        if pool not in self.pools:
            self.pools.append(pool)
        self._dispatch()

    def remove_pool(self, pool: CodePool) -> None:
        """Route nothing more to ``pool``; what runs there finishes."""
        if pool in self.pools:
            self.pools.remove(pool)

    def live(self, inv_id: str) -> Invocation | None:
        """The invocation as the scheduler holds it while unfinished, else ``None``."""
        active = self.active.get(inv_id)
        return active.inv if active is not None else None

    def is_running(self, inv_id: str) -> bool:
        """Whether the invocation is still under way (queued or running, not yet final)."""
        active = self.active.get(inv_id)
        return active is not None and not active.inv.terminal

    def drain_time(self, pool: CodePool) -> float:
        """The longest timeout of what runs in ``pool``: how long it may take to drain."""
        return max([a.inv.timeout_s for a in self.active.values()
                    if a.worker is not None and a.worker.pool is pool] or [0.0])

    def queued_count(self) -> int:
        return sum(1 for a in self.active.values() if a.inv.status == "queued")

    # -- routing ------------------------------------------------------------------------

    def serving(self) -> list[tuple[CodePool, dict[str, Any]]]:
        """``(pool, app)`` for every app version served, from each pool's loaded manifest."""
        return [
            (pool, app)
            for pool in self.pools
            if pool.manifest is not None
            for app in pool.manifest["apps"]
        ]

    def route(self, app_name: str, version: str) -> tuple[CodePool, dict[str, Any]] | None:
        found = self._find(app_name, version)
        return (found[0], found[1]) if found is not None else None

    def _find(self, app_name: str, version: str
              ) -> tuple[CodePool, dict[str, Any], frozenset[str]] | None:
        """The pool serving ``app_name``/``version``, the app, and its action names."""
        for pool in self.pools:
            if pool.version != version:
                continue
            app = pool.app(app_name)
            if app is not None:
                return pool, app[0], app[1]
        return None

    def check_target(self, app_name: str, action_name: str, version: str) -> CodePool:
        """The pool that serves ``app_name``/``version`` and has ``action_name``, else
        :class:`NotFound`."""
        found = self._find(app_name, version)
        if found is None:
            versions = sorted({p.version for p, a in self.serving() if a["name"] == app_name})
            if versions:
                raise NotFound(
                    f"app {app_name!r} has no version {version!r}; versions: {', '.join(versions)}"
                )
            names = sorted({a["name"] for _, a in self.serving()})
            stale = [p for p in self.pools if p.load_error is not None and p.manifest is None]
            hint = f"; the code failed to load: {stale[0].load_error}" if stale else ""
            raise NotFound(
                f"app {app_name!r} not found{did_you_mean(app_name, names)}; "
                f"apps: {', '.join(names) or 'none'}{hint}"
            )
        pool, app, names = found
        if action_name not in names:
            actions = [a["name"] for a in app["actions"]]
            raise NotFound(
                f"action {action_name!r} not found in app {app_name!r} version {version!r}"
                f"{did_you_mean(action_name, actions)}; actions: {', '.join(actions) or 'none'}"
            )
        return pool

    # -- lifecycle ----------------------------------------------------------------------

    def _publish(self, inv: Invocation) -> None:
        if self.bus.has_subscribers(inv.id):
            self.bus.publish(inv.id, {
                "event": "invocation_state",
                "invocation": inv.to_wire(),
                "timestamp": format_ns(now_ns()),
                # Not on the wire: the runner-wide stream adds it for the dashboard.
                "_generation": inv.generation,
            })

    async def submit(
        self,
        app_name: str,
        action_name: str,
        version: str,
        payload: str | None,
        *,
        is_async: bool,
        async_timeout: float = 900.0,
    ) -> Active:
        if not self.accepting:
            raise Unavailable("the runner is shutting down", retry_after=1)
        for name, value in (("app_name", app_name), ("action_name", action_name),
                            ("version", version)):
            check_text(name, value)
        check_json_text("payload", payload)
        pool = self.check_target(app_name, action_name, version)
        loop = asyncio.get_running_loop()
        inv = Invocation(
            id=new_id(), app_name=app_name, action_name=action_name, version=version,
            payload=payload, status="queued", created_ns=now_ns(),
            timeout_s=async_timeout if is_async else self.sync_timeout, is_async=is_async,
            deployment_id=pool.deployment_id,
        )
        active = Active(inv, loop.create_future(), pool=pool)
        self.active[inv.id] = active
        if is_async:
            active.created = inv.to_created()
            await self.store.insert(inv)  # a 202 tells the client it exists: durable first
        else:
            self.store.insert_nowait(inv, hold=SYNC_HOLD)
            active.timer = loop.call_later(inv.timeout_s, self._timed_out, inv.id)
        self._publish(inv)
        self.queue.append(inv.id)
        self._dispatch()
        return active

    def _dispatch(self) -> None:
        budget = len(self.queue)
        while self.queue and self.running < self.max_concurrency and budget > 0:
            budget -= 1
            inv_id = self.queue.popleft()
            active = self.active.get(inv_id)
            if active is None or active.inv.status != "queued":
                continue
            inv = active.inv
            found = self._find(inv.app_name, inv.version)
            if found is None:
                if any(p.current is None or not p.current.alive for p in self.pools):
                    self.queue.append(inv_id)  # code (re)loading: wait for it
                    continue
                self._finish(active, "failed", _failure_output(
                    "load_failed", f"app {inv.app_name!r} version {inv.version!r} is no longer "
                    "served by the loaded code"), "App version no longer served")
                continue
            pool, _, names = found
            worker = pool.current
            if worker is None or not worker.alive:
                self.queue.append(inv_id)  # no worker, or one that died: wait for the next
                continue
            if inv.action_name not in names:
                self._finish(active, "failed", _failure_output(
                    "load_failed", f"action {inv.action_name!r} is not in the loaded code"),
                    "Action no longer exists in the loaded code")
                continue
            inv.status = "running"
            inv.running_ns = now_ns()
            inv.generation = worker.generation
            active.worker = worker
            active.counted = True
            self.running += 1
            worker.invoke(inv.id, inv.app_name, inv.action_name, inv.version, inv.payload)
            if inv.is_async:
                active.timer = asyncio.get_running_loop().call_later(
                    inv.timeout_s, self._timed_out, inv.id)
            if worker.pid in self.paused_workers:
                self._pause(active, None)
            self.store.save(inv)
            self._publish(inv)

    def _finish(
        self, active: Active, status: Status, output: str | None, reason: str | None,
        error: FailureKind | None = None, *, dispatch: bool = True,
    ) -> bool:
        """Make ``active`` terminal; False when it already was (a final state is final).

        With ``dispatch=False`` the freed slot is not handed on yet: the caller fails
        several invocations at once and dispatches after (a crashed worker's).
        """
        inv = active.inv
        if inv.terminal:
            return False
        self._stop_timer(active)
        self._release_slot(active)
        _set_outcome(inv, status, output, reason)
        self._persist(active, error)
        if self.on_finished is not None:
            self.on_finished(inv)
        if dispatch:
            self._dispatch()
        return True

    @staticmethod
    def _stop_timer(active: Active) -> None:
        if active.timer is not None:
            active.timer.cancel()
            active.timer = None

    def _release_slot(self, active: Active) -> None:
        if active.counted:
            active.counted = False
            self.running -= 1

    def _announce_error(self, inv: Invocation, error: FailureKind | None) -> None:
        """The ``error`` SSE event a failed invocation's stream carries before its last state."""
        if inv.status == "failed" and self.bus.has_subscribers(inv.id):
            self.bus.publish(inv.id, {
                "event": "error",
                "error": {"code": error or "invocation_failed",
                          "message": inv.status_reason or "failed"},
                "timestamp": format_ns(inv.finished_ns or now_ns()),
            })

    def _persist(self, active: Active, error: FailureKind | None) -> None:
        """Save the terminal state; once it is committed, tell it (the ``error`` event and
        the final state on the invocation's stream) and wake whoever awaits ``active.done``
        (a sync answer, a ``PATCH``). Everything that finishes in one turn of the loop
        shares one commit, at the end of that turn."""
        fut = self.store.save(active.inv, wait=True)
        if fut is None:
            self._settle(active, error)
        else:
            fut.add_done_callback(lambda done: self._committed(done, active, error))

    def _committed(self, done: asyncio.Future[None], active: Active,
                   error: FailureKind | None) -> None:
        if not done.cancelled() and done.exception() is not None:
            # Told all the same: the state is final in memory, and the store says why
            # it could not keep it (its batch was written again without this write).
            self.log(f"could not store the final state of {active.inv.id}: "
                     f"{done.exception()}")
        self._settle(active, error)

    def _settle(self, active: Active, error: FailureKind | None = None) -> None:
        inv = active.inv
        self._announce_error(inv, error)
        self._publish(inv)
        self.active.pop(inv.id, None)
        if not active.done.done():
            active.done.set_result(None)

    async def final_committed(self, inv_id: str) -> None:
        """Wait, when the invocation's final state is set but not yet committed, until it
        is: a final state is told to nobody before it is durable."""
        active = self.active.get(inv_id)
        if active is not None and active.inv.terminal:
            await asyncio.shield(active.done)

    def _timed_out(self, inv_id: str) -> None:
        active = self.active.get(inv_id)
        if active is None or active.inv.terminal:
            return
        seconds = f"{active.inv.timeout_s:g}"
        worker = active.worker
        if active.inv.status == "queued":
            # It never ran: say so, and why it waited (no free slot, or no code to run it).
            why = (f"all {self.max_concurrency} concurrency slots were busy"
                   if self.running >= self.max_concurrency else "the code was not loaded")
            message = f"invocation timed out while queued after {seconds} s: {why}"
            reason = f"Invocation timed out while queued after {seconds} s ({why})"
        else:
            message = f"invocation did not finish within {seconds} s"
            reason = f"Invocation timed out after {seconds} s"
        self._finish(active, "failed", _failure_output("timed_out", message), reason,
                     "timed_out")
        if worker is not None:
            self._abandon(inv_id, worker)

    def _abandon(self, inv_id: str, worker: WorkerProcess) -> None:
        """Cancel an action whose invocation is already terminal; replace a stuck worker."""
        worker.cancel(inv_id)

        def check() -> None:
            if inv_id in worker.abandoned and worker.exited.done() is False:
                pool = worker.pool
                self.log(f"worker {worker.pid} did not stop a cancelled action; replacing it")
                if pool is not None:
                    was_current = worker is pool.current
                    pool.retire(worker)
                    if was_current:
                        background.start(pool.reload(), name="reload")

        asyncio.get_running_loop().call_later(CANCEL_GRACE, check)

    # -- worker callbacks ---------------------------------------------------------------

    def worker_logs(self, worker: WorkerProcess, items: list[list[Any]]) -> None:
        self.store.add_logs([(i, ts, line) for i, ts, line in items])
        if self.echo is not None:
            for inv_id, _, line in items:
                self.echo(inv_id, line)
        bus = self.bus
        active_map = self.active
        for inv_id, ts, line in items:
            active = active_map.get(inv_id)
            if active is not None:
                active.logs.append((ts, line))
            if bus.has_subscribers(inv_id):
                bus.publish(inv_id, {"event": "log", "message": line, "timestamp": format_ns(ts)})

    def worker_result(self, worker: WorkerProcess, message: dict[str, Any]) -> None:
        active = self.active.get(message["id"])
        if active is not None and active.paused_left is not None:
            self._resume(active)  # its result can overtake the debugger's "resumed"
        if active is not None and not message.get("cancelled"):
            self._finish(
                active, message["status"], message.get("output"),
                message.get("status_reason"), message.get("error"),
            )
        if worker.pool is not None:
            worker.pool.maybe_stop(worker)

    def worker_exited(self, worker: WorkerProcess, reason: str) -> None:
        """Fail what was running in ``worker``; everything queued runs on its replacement.

        The pool forgets the worker first, so no invocation freed by these failures is
        handed to the dead process; they are all dispatched once, at the end.
        """
        lost = [self.active.get(inv_id) for inv_id in worker.in_flight]
        worker.in_flight.clear()
        pool = worker.pool
        replace = pool is not None and pool.worker_exited(worker)
        for active in lost:
            if active is not None and active.worker is worker:
                self._finish(
                    active, "failed",
                    _failure_output("worker_crashed", f"the worker process {reason}"),
                    f"Worker crashed ({reason})", "worker_crashed", dispatch=False,
                )
        if replace and pool is not None:
            self.log(f"worker {worker.pid} {reason}; starting a fresh one")
            background.start(pool.reload(), name="reload")
        self._dispatch()

    # -- debugger (``dev --debug``) --------------------------------------------------------

    def pause_timeouts(self, pid: int, where: str | None) -> None:
        """A thread of worker ``pid`` stopped in a debugger: stop the clock on its invocations.

        Stepping through an action for ten minutes must not fail it as timed out.
        """
        self.paused_workers.add(pid)
        for active in list(self.active.values()):
            if active.worker is not None and active.worker.pid == pid:
                self._pause(active, where)

    def resume_timeouts(self, pid: int) -> None:
        """The debugger let worker ``pid`` go: the clock runs again with the time it had left."""
        self.paused_workers.discard(pid)
        for active in list(self.active.values()):
            if active.worker is not None and active.worker.pid == pid:
                self._resume(active)

    def _resume(self, active: Active) -> None:
        if active.paused_left is None:
            return
        left, active.paused_left = active.paused_left, None
        active.timer = asyncio.get_running_loop().call_later(
            left, self._timed_out, active.inv.id)
        held = (now_ns() - active.paused_ns) / 1e9
        self._note(active, f"[debugger] resumed after {held:.1f} s; the timeout "
                           f"runs again with {left:.0f} s left")

    def _pause(self, active: Active, where: str | None) -> None:
        if active.timer is None or active.paused_left is not None:
            return
        left = max(0.0, active.timer.when() - asyncio.get_running_loop().time())
        active.timer.cancel()
        active.timer = None
        active.paused_left = left
        active.paused_ns = now_ns()
        at = f" at {where}" if where else ""
        self._note(active, f"[debugger] paused{at}; the timeout is stopped with "
                           f"{left:.0f} s left")

    def _note(self, active: Active, line: str) -> None:
        """A runner line in an invocation's log (and timeline), as if the action printed it."""
        if active.worker is not None:
            self.worker_logs(active.worker, [[active.inv.id, now_ns(), line]])

    # -- API operations -----------------------------------------------------------------

    async def get(self, inv_id: str) -> Invocation | None:
        active = self.active.get(inv_id)
        if active is not None:
            if not active.inv.terminal:
                return active.inv
            await asyncio.shield(active.done)  # its final state, once committed
            return active.inv
        self.store.commit_pending()
        return await asyncio.to_thread(self.store.get, inv_id)

    async def update(self, inv_id: str, status: Literal["succeeded", "failed"],
                     output: str | None) -> Invocation:
        check_json_text("output", output)
        active = self.active.get(inv_id)
        if active is None:
            self.store.commit_pending()
            inv = await asyncio.to_thread(self.store.get, inv_id)
            if inv is None:
                raise NotFound(f"invocation {inv_id!r} not found")
            raise Conflict(f"invocation {inv_id} is already {inv.status}: a final state is final")
        inv = active.inv
        if inv.terminal:
            raise Conflict(f"invocation {inv_id} is already {inv.status}: a final state is final")
        worker = active.worker if inv.status == "running" else None
        reason = _reason_from_output(output) if status == "failed" else None
        self._finish(active, status, output, reason, "cancelled" if status == "failed" else None)
        if worker is not None and status == "failed":
            self._abandon(inv_id, worker)
        await active.done
        return inv

    def pools_changed(self) -> None:
        self._dispatch()

    async def recover(self) -> tuple[int, int]:
        """Account for what a previous run left: run queued ones, fail running ones."""
        loop = asyncio.get_running_loop()
        requeued = failed = 0
        for inv in await asyncio.to_thread(self.store.unfinished):
            active = Active(inv, loop.create_future())
            self.active[inv.id] = active
            if inv.status == "running":
                self._finish(active, "failed", _failure_output(
                    "interrupted", "the runner stopped while this invocation was running"),
                    REASONS["interrupted"], "interrupted")
                failed += 1
            else:
                self.queue.append(inv.id)
                requeued += 1
        self._dispatch()
        return requeued, failed

    async def shutdown(self, grace: float) -> None:
        """Stop taking work; give running invocations ``grace`` seconds, then fail them."""
        self.accepting = False
        running = [a for a in self.active.values() if a.inv.status == "running"]
        if running and grace > 0:
            await asyncio.wait([a.done for a in running], timeout=grace)
        for active in list(self.active.values()):
            if active.inv.status == "running":
                self._finish(active, "failed", _failure_output(
                    "interrupted", "the runner stopped while this invocation was running"),
                    "Invocation interrupted: the runner stopped", "interrupted")
        await self.store.flush()
