"""Worker processes and their generations.

A :class:`CodePool` serves one piece of user code (the live entrypoint, or one
deployed version). It keeps a *current* worker, which gets every new
invocation, and a *standby* worker that has imported the framework but no user
code yet, so a reload costs only the import of the user's code. A reload loads
the new code into the standby; if that works it becomes the current
generation at once, and the previous one is *retired*: it gets no new work,
finishes what it runs, and then exits. If the new code fails to load, the
current generation keeps serving and the failure is kept for the runner to
show. A worker that dies is replaced by a fresh one with the same code.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..supervisor import Child, supervisor
from .node_runtime import NodeUnavailable
from .protocol import FrameProtocol, Outbox, connect
from .spawning import StartedWorker, base_env, start_worker_process

__all__ = ["WorkerProcess", "CodePool", "LoadFailure", "WorkerListener", "base_env"]


@dataclass(frozen=True)
class LoadFailure:
    message: str
    location: str | None
    detail: str | None

    def __str__(self) -> str:
        return f"{self.message} ({self.location})" if self.location else self.message


class LoadFailed(Exception):
    def __init__(self, failure: LoadFailure) -> None:
        super().__init__(str(failure))
        self.failure = failure


class WorkerListener(Protocol):
    def worker_logs(self, worker: WorkerProcess, items: list[list[Any]]) -> None: ...
    def worker_result(self, worker: WorkerProcess, message: dict[str, Any]) -> None: ...
    def worker_exited(self, worker: WorkerProcess, reason: str) -> None: ...


#: How long a new worker process may take to say it is ready.
READY_TIMEOUT = 60.0


async def _reap(proc: Child) -> int:
    """The exit status of a worker that is exiting (its socket reached end-of-stream);
    then whatever its actions started that outlived it (``setsid`` or not) is killed."""
    code = await proc.wait_async()
    await asyncio.to_thread(supervisor.kill_owner, proc.owner)
    return code


def _kill_group(proc: Child) -> None:
    """SIGKILL a worker's process group (the worker and what its actions started)."""
    proc.kill()  # unless reaped: its id may belong to someone else now


def describe_exit(code: int | None) -> str:
    if code is None:
        return "connection lost"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


class WorkerProcess:
    """The runner's handle on one worker process."""

    def __init__(self, proc: Child) -> None:
        self.proc = proc
        loop = asyncio.get_running_loop()
        self.protocol = FrameProtocol(self._received, self._closed)
        self.transport: asyncio.Transport | None = None
        self.outbox: Outbox
        self.generation: int | None = None
        self.manifest: dict[str, Any] | None = None
        self.in_flight: set[str] = set()
        #: Invocations told to cancel that the worker has not given back (stuck handlers).
        self.abandoned: set[str] = set()
        self.retired = False
        #: Why the runner killed it, when it did (e.g. a memory limit).
        self.kill_reason: str | None = None
        self.listener: WorkerListener | None = None
        self.pool: CodePool | None = None
        self._ready: asyncio.Future[dict[str, Any] | None] = loop.create_future()
        self._reply: asyncio.Future[dict[str, Any]] | None = None
        #: The code it was told to load when it started; its answer is the next ``_reply``.
        self.preloaded: str | None = None
        self._ending: asyncio.Task[None] | None = None
        self.exited = loop.create_future()

    @property
    def pid(self) -> int:
        return self.proc.pid

    @classmethod
    async def spawn(cls, cwd: Path, env: Mapping[str, str],
                    target: str | None = None) -> WorkerProcess:
        started = await supervisor.off_loop(lambda: start_worker_process(str(cwd), env, target),
                                            what="a worker", abandon=StartedWorker.abandon)
        return await cls.adopt(started)

    @classmethod
    async def adopt(cls, started: StartedWorker) -> WorkerProcess:
        """Connect to a worker process already started, and wait until it is ready."""
        proc, parent = started.proc, started.sock
        worker = cls(proc)
        if started.preloaded is not None:
            worker.preloaded = started.preloaded
            worker._reply = asyncio.get_running_loop().create_future()
        worker.transport = await connect(parent, worker.protocol)
        worker.outbox = Outbox(worker.transport, asyncio.get_running_loop())
        try:
            ready = await asyncio.wait_for(asyncio.shield(worker._ready), READY_TIMEOUT)
        except TimeoutError:
            worker.kill()
            worker.transport.close()
            await worker.exited
            raise RuntimeError(f"worker did not start within {READY_TIMEOUT:g} s") from None
        if ready is None or ready.get("t") != "ready":
            worker.transport.close()
            await worker.exited
            code = proc.returncode
            raise RuntimeError(f"worker failed to start ({describe_exit(code)})")
        return worker

    def send(self, message: dict[str, Any]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.outbox.send(message)

    async def load(self, target: str) -> dict[str, Any]:
        """Load ``target`` (a worker loads code once); its manifest, else ``LoadFailed``.

        A worker told to load ``target`` when it started only gives its answer."""
        preloaded, self.preloaded = self.preloaded, None
        if preloaded is None:
            self._reply = asyncio.get_running_loop().create_future()
            self.send({"t": "load", "target": target})
        elif preloaded != target:
            raise LoadFailed(LoadFailure(
                f"the worker was started for {preloaded!r}, not {target!r}", None, None))
        assert self._reply is not None
        reply = await self._reply
        if reply.get("t") != "loaded":
            raise LoadFailed(
                LoadFailure(reply.get("message") or "load failed", reply.get("location"),
                            reply.get("detail"))
            )
        self.manifest = reply["manifest"]
        return reply["manifest"]

    def _received(self, msg: dict[str, Any]) -> None:
        kind = msg.get("t")
        if kind == "result":
            inv_id = msg["id"]
            self.in_flight.discard(inv_id)
            if not msg.get("stuck"):  # a thread that can't be stopped stays abandoned
                self.abandoned.discard(inv_id)
            if self.listener is not None:
                self.listener.worker_result(self, msg)
        elif kind == "logs":
            if self.listener is not None:
                self.listener.worker_logs(self, msg["items"])
        elif kind in ("loaded", "load_failed"):
            if self._reply is not None and not self._reply.done():
                self._reply.set_result(msg)
        elif kind == "ready":
            if not self._ready.done():
                self._ready.set_result(msg)

    def _closed(self, error: str | None) -> None:
        """The socket ended (the worker exited, or sent what can't be read)."""
        if error is not None:  # a corrupt message: treat the worker as lost
            self.kill()
        if not self._ready.done():
            self._ready.set_result(None)
        self._ending = asyncio.ensure_future(self._end(
            "connection lost" if error is None else f"protocol error: {error}"))

    async def _end(self, reason: str) -> None:
        # The worker is gone or going: take what its actions started with it. The
        # group is killed before the worker is reaped, while its id can't be reused.
        _kill_group(self.proc)
        code = await _reap(self.proc)
        if self.kill_reason is not None:
            reason = f"killed: {self.kill_reason}"
        elif reason == "connection lost":
            reason = describe_exit(code)
        if self._reply is not None and not self._reply.done():
            self._reply.set_result({"t": "load_failed",
                                    "message": f"worker {reason} while loading the code",
                                    "location": None, "detail": None})
        if not self.exited.done():
            self.exited.set_result(reason)
        if self.listener is not None:
            self.listener.worker_exited(self, reason)

    def invoke(self, inv_id: str, app: str, action: str, version: str, payload: str | None) -> None:
        self.in_flight.add(inv_id)
        self.send({"t": "invoke", "id": inv_id, "app": app, "action": action,
                   "version": version, "payload": payload})

    def cancel(self, inv_id: str) -> None:
        if inv_id in self.in_flight:
            self.abandoned.add(inv_id)
            self.send({"t": "cancel", "id": inv_id})

    @property
    def busy(self) -> bool:
        """Whether it still runs something not abandoned."""
        return bool(self.in_flight - self.abandoned)

    def stop(self) -> None:
        """Ask the worker to exit (it does at once: call when nothing it runs matters)."""
        self.send({"t": "exit"})
        if self.transport is not None:
            self.outbox.flush()
            self.transport.close()

    def kill(self, reason: str | None = None) -> None:
        """Kill the worker and every process its actions started (its process group)."""
        if reason is not None and self.kill_reason is None:
            self.kill_reason = reason
        _kill_group(self.proc)

    @property
    def alive(self) -> bool:
        """Whether work may still be sent to it (it has not exited or lost its socket)."""
        return (not self.exited.done() and self.transport is not None
                and not self.transport.is_closing())

    def rss_mb(self) -> float | None:
        """Resident memory of the worker process (Linux), in MB."""
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None


#: An app of a loaded manifest, and the names of its actions.
AppEntry = tuple[dict[str, Any], frozenset[str]]


class CodePool:
    """The worker generations serving one entrypoint."""

    def __init__(
        self,
        target: str,
        cwd: Path,
        env: Callable[[], dict[str, str]],
        listener: WorkerListener,
        *,
        version: str = "latest",
        deployment_id: str | None = None,
        on_change: Callable[[CodePool], None] | None = None,
        log: Callable[[str], None] = lambda message: None,
        memory_limit_mb: float | None = None,
        precheck: Callable[[], LoadFailure | None] | None = None,
    ) -> None:
        self.target = target
        #: Runs before every load; a failure it returns is reported as the load's, and no
        #: code runs (e.g. a required environment variable is missing).
        self.precheck = precheck
        self.cwd = cwd
        self.env = env
        self.listener = listener
        self.version = version
        self.deployment_id = deployment_id
        self.on_change = on_change
        self.log = log
        self.memory_limit_mb = memory_limit_mb
        self._watchdog: asyncio.Task[None] | None = None
        self.current: WorkerProcess | None = None
        self.retired: set[WorkerProcess] = set()
        self.generation = 0
        self.load_error: LoadFailure | None = None
        self.manifest: dict[str, Any] | None = None
        #: The manifest it was built from, and its apps by name (see :meth:`app`).
        self._apps: tuple[dict[str, Any], dict[str, AppEntry]] | None = None
        #: Names of the environment variables this version is configured with (values hidden).
        self.env_keys: list[str] = []
        self._standby: asyncio.Task[WorkerProcess] | None = None
        #: Whether the standby has loaded the code already (adopted from a head start):
        #: only the first load may use it, the code may change after.
        self._standby_preloaded = False
        #: Workers killed but not yet reaped (failed loads, discarded standbys).
        self._dying: set[WorkerProcess] = set()
        self._reload_lock = asyncio.Lock()
        self._reload_pending = False
        self._closing = False

    def app(self, name: str) -> AppEntry | None:
        """App ``name`` of the loaded manifest and its action names, or ``None``.

        Indexed once per manifest: every invocation asks, twice.
        """
        manifest = self.manifest
        if manifest is None:
            return None
        index = self._apps
        if index is None or index[0] is not manifest:
            index = self._apps = (manifest, {
                app["name"]: (app, frozenset(a["name"] for a in app["actions"]))
                for app in manifest["apps"]})
        return index[1].get(name)

    # -- standby ----------------------------------------------------------------------

    def _spawn_standby(self) -> None:
        if self._closing:
            return
        self._standby = asyncio.create_task(
            WorkerProcess.spawn(self.cwd, self.env(), self.target))

    async def _take_standby(self) -> WorkerProcess:
        task = self._standby
        self._standby = None
        self._standby_preloaded = False
        if task is None:
            task = asyncio.create_task(WorkerProcess.spawn(self.cwd, self.env(), self.target))
        worker = await task
        self._spawn_standby()
        return worker

    def adopt_standby(self, started: StartedWorker) -> None:
        """Take a worker process started before the pool existed as its standby.

        The next load goes into it (``kernel-actions dev`` starts its first worker while
        the server stack imports). Call before the first :meth:`reload`."""
        if self._standby is not None or self._closing or started.preloaded not in (
                None, self.target):
            started.abandon()
            return
        self._standby = asyncio.create_task(WorkerProcess.adopt(started))
        self._standby_preloaded = started.preloaded is not None

    def discard_standby(self) -> None:
        """Drop the standby worker (its environment is stale, e.g. ``.env`` changed)."""
        task, self._standby = self._standby, None
        self._standby_preloaded = False
        if task is not None:
            task.add_done_callback(self._kill_spawned)

    def _kill_spawned(self, task: asyncio.Task[WorkerProcess]) -> None:
        if not task.cancelled() and task.exception() is None:
            self._discard(task.result())

    def _discard(self, worker: WorkerProcess) -> None:
        """Kill a worker that never served, and remember it until it is reaped."""
        worker.kill()
        self._dying.add(worker)
        worker.exited.add_done_callback(lambda _: self._dying.discard(worker))

    # -- generations --------------------------------------------------------------------

    async def reload(self) -> bool:
        """Load the code into a fresh worker and make it current. False if it failed."""
        if self._reload_lock.locked():
            # A reload is under way: run once more after it, whatever number of saves came.
            self._reload_pending = True
            async with self._reload_lock:
                return self.load_error is None
        async with self._reload_lock:
            ok = await self._reload_once()
            while self._reload_pending and not self._closing:
                self._reload_pending = False
                ok = await self._reload_once()
            return ok

    async def _reload_once(self) -> bool:
        if self.precheck is not None:
            failure = self.precheck()
            if failure is not None:
                if self._standby_preloaded:
                    self.discard_standby()  # it ran the code the check refuses
                self.load_error = failure
                self._changed()
                return False
        try:
            worker = await self._take_standby()
        except NodeUnavailable as exc:  # no Node for a TypeScript app: say what to install
            self.load_error = LoadFailure(str(exc), None, None)
            self._changed()
            return False
        try:
            manifest = await worker.load(self.target)
        except LoadFailed as exc:
            self._discard(worker)
            self.load_error = exc.failure
            self._changed()
            return False
        if self._closing:
            self._discard(worker)
            return False
        self.generation += 1
        worker.generation = self.generation
        worker.listener = self.listener
        worker.pool = self
        previous, self.current = self.current, worker
        self.manifest = manifest
        self.load_error = None
        if previous is not None:
            self.retire(previous)
        if self.memory_limit_mb and self._watchdog is None:
            self._watchdog = asyncio.ensure_future(self._watch_memory(self.memory_limit_mb))
        self._changed()
        return True

    async def _watch_memory(self, limit: float, interval: float = 0.25) -> None:
        """Kill a serving worker whose resident memory passes ``limit`` MB (like an OOM kill)."""
        while not self._closing:
            for worker in [self.current, *self.retired]:
                if worker is None:
                    continue
                rss = worker.rss_mb()
                if rss is not None and rss > limit:
                    self.log(f"worker {worker.pid} uses {rss:.0f} MB, over the {limit:g} MB "
                             "limit: killing it")
                    worker.kill(f"memory limit of {limit:g} MB exceeded")
            await asyncio.sleep(interval)

    def retire(self, worker: WorkerProcess) -> None:
        """No new work for ``worker``; it exits once what it runs has finished."""
        worker.retired = True
        if worker is self.current:
            self.current = None
        self.retired.add(worker)
        self.maybe_stop(worker)

    def maybe_stop(self, worker: WorkerProcess) -> None:
        if worker.retired and not worker.busy:
            self.retired.discard(worker)
            if worker.abandoned:
                worker.kill()  # a stuck handler: don't wait for it
            else:
                worker.stop()

    def worker_exited(self, worker: WorkerProcess) -> bool:
        """Forget ``worker``; True when it was the current one (a crash to recover from)."""
        self.retired.discard(worker)
        if worker is self.current and not self._closing:
            self.current = None
            self._changed()
            return True
        return False

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self)

    async def close(self, grace: float = 0.0) -> None:
        self._closing = True
        if self._watchdog is not None:
            self._watchdog.cancel()
        workers = [w for w in [self.current, *self.retired] if w is not None]
        self.current = None
        self.retired.clear()
        standby, self._standby = self._standby, None
        if standby is not None:
            try:
                self._discard(await asyncio.wait_for(standby, 10))
            except Exception:  # it failed to start: nothing to reap
                pass
        for w in workers:
            w.stop()
        if workers and grace > 0:
            await asyncio.wait([w.exited for w in workers], timeout=grace)
        for w in workers:
            w.kill()
        reaping = [w.exited for w in [*workers, *self._dying]]
        if reaping:
            await asyncio.wait(reaping, timeout=5)

    def status(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "version": self.version,
            "generation": self.generation,
            "pid": self.current.pid if self.current else None,
            "retired": len(self.retired),
            "load_error": None if self.load_error is None else {
                "message": self.load_error.message,
                "location": self.load_error.location,
                "detail": self.load_error.detail,
            },
        }

