"""The runner: store, event bus, scheduler, worker pools and HTTP API, assembled.

:class:`Runner` is the long-lived parent process's state; :func:`serve` runs it
under uvicorn until Ctrl-C (or :meth:`Runner.request_exit`). The API never
restarts on reload: only worker generations change beneath it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from ..env_contract import (
    advisory_env,
    advisory_message,
    declared_env,
    missing_env,
    missing_message,
)
from ..timeutil import format_ns, now_ns
from ..tooling.discovery import remove_state, write_state
from .browsers.browser_routes import BrowserRoutes
from .browsers.extension_routes import MAX_EXTENSIONS_UPLOAD
from .browsers.extensions import MAX_EXTENSION_BYTES
from .browsers.service import Browsers
from .browsers.traces import TraceRecorder, tracing_enabled
from .config import Config
from .credentials.routes import CredentialRoutes
from .credentials.store import Credentials
from .debug_monitor import DebugMonitor
from .deployments.routes import deployment_routes
from .deployments.service import MAX_UPLOAD_BYTES, Deployments
from .engine.app_versions import app_version_summary
from .engine.events import EventBus
from .engine.invocation import Invocation
from .engine.pool import CodePool, LoadFailure
from .engine.scheduler import Scheduler
from .engine.spawning import StartedWorker
from .engine.store import Store
from .engine.traces import Traces
from .http.api import build_api
from .http.connections import LazyWebSocketProtocol, protocol_class
from .http.local_users import LocalUsers
from .listening import bind, url_for
from .services import RunnerServices
from .stale import unloaded_summary
from .supervisor import supervisor
from .watchdog import LoopWatchdog
from .worker_env import read_env_file, worker_environment

__all__ = ["Runner", "serve"]

#: Largest body a browser's file system takes in one upload or write.
FS_UPLOAD_BYTES = 512 * 1024 * 1024


class Runner:
    def __init__(self, config: Config, *, out: Callable[[str], None] | None = None,
                 first_worker: StartedWorker | None = None) -> None:
        self.config = config
        #: A worker process started before the runner (see :mod:`.head_start`): the live
        #: code's pool loads the code into it.
        self.first_worker = first_worker
        self.out = out or (lambda line: print(line, file=sys.stderr, flush=True))
        assert config.data_dir is not None
        self.store = Store.open(config.db_path)
        self.bus = EventBus()
        self.scheduler = Scheduler(
            self.store, self.bus, max_concurrency=config.max_concurrency,
            sync_timeout=config.sync_timeout, on_finished=self._finished, log=self.log,
            echo=(lambda inv_id, line: self.out(f"  {inv_id[:8]} | {line}"))
            if config.echo_logs else None,
        )
        self.live: CodePool | None = None
        self.debug = DebugMonitor(
            self.scheduler, host="127.0.0.1", port=config.debug_port, wait=config.debug_wait,
            log=self.log, describe_worker=self._describe_worker,
        ) if config.debug else None
        self.port: int = config.port
        self.started_ns = now_ns()
        self.forced_exit = False
        self._stop_serving: Callable[[], None] | None = None
        #: The advisory names (``.env.example``'s) last said to be unset.
        self.unset_advisory: list[str] = []
        #: What the features get instead of the runner: the engine, the config, the log.
        self.services = RunnerServices(
            config=config, store=self.store, bus=self.bus, scheduler=self.scheduler,
            log=self.log, worker_env=self.worker_env, pool_changed=self._pool_changed,
        )
        self.deployments = Deployments(
            scheduler=self.scheduler, store=self.store, bus=self.bus, config=config,
            make_pool=self.deployment_pool, log=self.log,
        )
        self.browsers = Browsers(self.services)
        #: Each invocation's trace: the calls on its browsers (see browsers/traces.py).
        self.traces = TraceRecorder(Traces(self.store, enabled=tracing_enabled()), self.browsers)
        self.credentials = Credentials(config.data_dir / "credentials")
        #: Paths that take uploads (multipart bodies), and their body limits.
        self.upload_limits: dict[str, int] = {
            "/deployments": MAX_UPLOAD_BYTES + 1024 * 1024,
            # A browser's file system: files and zips, as raw bytes or multipart.
            **dict.fromkeys(("/browsers/{id}/fs/upload", "/browsers/{id}/fs/upload_zip",
                             "/browsers/{id}/fs/write_file"), FS_UPLOAD_BYTES),
            # Extensions: one zip to keep, or several to load into a browser.
            "/extensions": MAX_EXTENSION_BYTES + 1024 * 1024,
            "/browsers/{id}/extensions": MAX_EXTENSIONS_UPLOAD + 1024 * 1024,
        }

    # -- output -------------------------------------------------------------------------

    def log(self, message: str) -> None:
        self.out(message)

    def _finished(self, inv: Invocation) -> None:
        # Its browsers stay open, as Kernel's do: deleted, or closed by their own timeout.
        took = ""
        if inv.finished_ns and inv.running_ns:
            took = f" in {(inv.finished_ns - inv.running_ns) / 1e6:.1f} ms"
        gen = f" gen {inv.generation}" if inv.generation is not None else ""
        reason = f": {inv.status_reason}" if inv.status == "failed" and inv.status_reason else ""
        self.out(f"{inv.status:<9} {inv.app_name}/{inv.action_name} {inv.id}{gen}{took}{reason}")

    def invocation_live(self, invocation_id: str) -> bool:
        """Whether the invocation is queued or running (not finished)."""
        active = self.scheduler.active.get(invocation_id)
        return active is not None and not active.inv.terminal

    # -- environment for workers ----------------------------------------------------------

    @property
    def url(self) -> str:
        return url_for(self.config.host, self.port)

    def env_file_values(self) -> dict[str, str]:
        return read_env_file(self.config.app_dir / ".env")

    def worker_env(self, extra: dict[str, str] | None = None,
                   entrypoint_relpath: str | None = None, *, dotenv: bool = True
                   ) -> dict[str, str]:
        return worker_environment(
            self.config, self.url, dotenv=self.env_file_values() if dotenv else None,
            extra=extra, entrypoint_relpath=entrypoint_relpath,
            debug_env=self.debug.worker_env if self.debug is not None else None)

    def _check_env(self) -> LoadFailure | None:
        """The live app's declared environment, checked before its code runs (``App(env=…)``
        blocks loading; ``.env.example``'s names get one line when unset, see env_contract)."""
        path = self.config.entrypoint_path
        if path is None:
            return None
        env = self.worker_env()
        where = (f"in {self.config.app_dir / '.env'} (read on every change) or in the "
                 f"environment of `kernel-actions dev`")
        unset = [name for name in advisory_env(path) if not env.get(name)]
        if unset and unset != self.unset_advisory:
            self.log(advisory_message(unset, where))
        self.unset_advisory = unset
        found = declared_env(path)
        if found is None:
            return None
        declared, source = found
        missing = missing_env(declared, env)
        if not missing:
            return None
        return LoadFailure(missing_message(missing, source, where), None, None)

    def _describe_worker(self, pid: int) -> str:
        for pool in self.scheduler.pools:
            for worker in (pool.current, *pool.retired):
                if worker is not None and worker.pid == pid and worker.generation:
                    return f"generation {worker.generation} (worker {pid})"
        if not any(pool.current is not None and pool.current.generation
                   for pool in self.scheduler.pools):
            return f"the worker ({pid})"  # the first start: there is no other generation
        return f"the next generation's worker ({pid})"

    # -- lifecycle ----------------------------------------------------------------------

    async def startup(self) -> None:
        self.store.start(asyncio.get_running_loop())
        if self.debug is not None:
            await self.debug.start()
        await self.browsers.startup()
        if self.config.entrypoint is not None:
            self.live = CodePool(
                self.config.entrypoint, self.config.app_dir, self.worker_env, self.scheduler,
                version=self.config.version, on_change=self._pool_changed, log=self.log,
                memory_limit_mb=self.config.worker_memory_mb, precheck=self._check_env,
            )
            self.scheduler.add_pool(self.live)
            first, self.first_worker = self.first_worker, None
            if first is not None:
                self.live.adopt_standby(first)
            await self.live.reload()
        await self.deployments.restore()
        requeued, failed = await self.scheduler.recover()
        if requeued or failed:
            self.log(f"recovered from the last run: {requeued} queued invocation(s) will run, "
                     f"{failed} that were running failed as interrupted")

    def deployment_pool(self, target: str, cwd: Path, *, version: str, deployment_id: str,
                        env_vars: dict[str, str], entrypoint_relpath: str,
                        deps_path: str | None) -> CodePool:
        """The worker pool for a deployed version: its env vars, not the app's ``.env``."""
        extra = dict(env_vars)
        if deps_path:
            extra["PYTHONPATH"] = os.pathsep.join(
                p for p in (deps_path, os.environ.get("PYTHONPATH")) if p)

        def env() -> dict[str, str]:
            return self.worker_env(extra, entrypoint_relpath, dotenv=False)

        return CodePool(
            target, cwd, env, self.scheduler, version=version, deployment_id=deployment_id,
            on_change=self._pool_changed, log=self.log,
            memory_limit_mb=self.config.worker_memory_mb,
        )

    def _pool_changed(self, pool: CodePool) -> None:
        self.scheduler.pools_changed()
        self.bus.publish("_runner", {"event": "runner_state", "runner": self.status(),
                                     "timestamp": format_ns(now_ns())})

    async def close(self) -> None:
        """Release what the runner holds: browsers, worker pools, the store.

        The scheduler has been shut down before (the server's graceful stop does it)."""
        await self.browsers.close_all()
        for pool in self.scheduler.pools:
            await pool.close()
        self.store.close()
        if self.debug is not None:
            await self.debug.close()

    # -- views --------------------------------------------------------------------------

    def app_summaries(self) -> list[dict[str, Any]]:
        """``GET /apps``: every served app version, with what the runner knows of it."""
        summaries = []
        for pool, app in self.scheduler.serving():
            summaries.append({
                **app_version_summary(app, pool.version),
                "deployment": pool.deployment_id or "local",
                "env_vars": {k: "" for k in (
                    sorted(self.env_file_values()) if pool is self.live else pool.env_keys)},
                "code_generation": pool.generation,
                "stale": pool.load_error is not None,
                "load_error": pool.status()["load_error"],
            })
        for pool in self.scheduler.pools:
            if pool.manifest is None and pool.load_error is not None:
                env_keys = sorted(self.env_file_values()) if pool is self.live else pool.env_keys
                summaries.append(unloaded_summary(pool, Path(pool.cwd), env_keys))
        return summaries

    def status(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "pid": os.getpid(),
            "started_at": format_ns(self.started_ns),
            "entrypoint": self.config.entrypoint,
            "reload": self.config.reload,
            "running": self.scheduler.running,
            "queued": self.scheduler.queued_count(),
            "max_concurrency": self.scheduler.max_concurrency,
            "pools": [p.status() for p in self.scheduler.pools],
            "live": self.live.status() if self.live else None,
            "browsers": self.browsers.status(),
        }

    def feature_routes(self) -> list[BaseRoute]:
        return [*deployment_routes(self.deployments),
                *self.traces.wrap(BrowserRoutes(self.browsers).routes()),
                *self.traces.routes(lambda inv: self.store.get(inv) is not None),
                *CredentialRoutes(self.credentials).routes()]

    def request_exit(self) -> None:
        """Stop serving, gracefully, as Ctrl-C does (for a runner served from code)."""
        if self._stop_serving is not None:
            self._stop_serving()

    def api(self) -> Starlette:
        return build_api(self.services, status=self.status, app_summaries=self.app_summaries,
                         feature_routes=self.feature_routes(), port=lambda: self.port,
                         upload_limits=self.upload_limits)


class _Server(uvicorn.Server):
    """uvicorn, with the runner's graceful stop between "stop listening" and "close"."""

    def __init__(self, config: uvicorn.Config, runner: Runner) -> None:
        super().__init__(config)
        self.runner = runner

    def handle_exit(self, sig: int, frame: Any) -> None:
        # Unlike uvicorn, don't re-raise the signal once stopped: a graceful stop exits 0.
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
            self.runner.forced_exit = True
        else:
            self.should_exit = True

    async def shutdown(self, sockets: Any = None) -> None:
        for server in self.servers:
            server.close()
        grace = self.runner.config.shutdown_grace
        if self.runner.scheduler.running:
            self.runner.log(f"stopping: giving running invocations {grace:g} s to finish "
                            "(Ctrl-C again to stop now)")
        stop = asyncio.ensure_future(self.runner.scheduler.shutdown(grace))
        while not stop.done():
            await asyncio.wait([stop], timeout=0.1)
            if self.force_exit and not stop.done():
                stop.cancel()
                await self.runner.scheduler.shutdown(0)
                break
        await super().shutdown(sockets)


async def serve(
    config: Config,
    *,
    runner: Runner | None = None,
    started: Callable[[Runner], None] | None = None,
    watcher: Callable[[Runner], Any] | None = None,
    sock: socket.socket | None = None,
) -> Runner:
    """Run the runner until it is told to stop; returns it, stopped.

    The socket is bound first, so workers learn the real port (``--port 0`` picks
    a free one), then code is loaded, then the API starts answering. ``sock``: the
    socket already bound for ``config``'s address (see :mod:`.head_start`).
    """
    config.validate()
    runner = runner or Runner(config)
    users = LocalUsers.for_config(config)
    if users.unknown_note:
        runner.log(users.unknown_note)
    uv_config = uvicorn.Config(
        runner.api(), host=config.host, port=config.port, log_level="warning",
        lifespan="off", access_log=False, timeout_graceful_shutdown=2,
        # No X-Forwarded-* rewriting: nothing proxies a local runner, and a page on
        # loopback could otherwise choose the client address and scheme the app sees.
        proxy_headers=False,
        # WebSockets: each browser's cdp_ws_url (DevTools messages can be screenshots).
        ws=LazyWebSocketProtocol, ws_max_size=256 * 1024 * 1024, ws_per_message_deflate=False,
        http=protocol_class(config.body_timeout, users),
    )
    sock = sock or bind(config.host, config.port)
    runner.port = sock.getsockname()[1]
    server = _Server(uv_config, runner)
    runner._stop_serving = lambda: setattr(server, "should_exit", True)
    watch_task: asyncio.Task[Any] | None = None
    assert config.data_dir is not None
    left = await asyncio.to_thread(supervisor.attach, config.data_dir)
    if left:
        runner.log(f"killed {len(left)} process(es) a previous run on this data folder left")
    watchdog = LoopWatchdog(asyncio.get_running_loop(), runner.log, _force_exit)
    watchdog.start()
    reaper = asyncio.ensure_future(_reap_orphans())
    try:
        await runner.startup()
        if watcher is not None:
            watch_task = asyncio.ensure_future(watcher(runner))
            # Let the watcher set itself up (it registers its watches before its first
            # wait), so a change made once the runner says it listens is seen.
            for _ in range(3):
                await asyncio.sleep(0)

        async def announce() -> None:
            while not server.started:
                if server.should_exit:
                    return
                await asyncio.sleep(0.005)
            assert config.data_dir is not None
            write_state(config.data_dir, runner.url)
            if started is not None:
                started(runner)

        announcer = asyncio.ensure_future(announce())
        try:
            await server.serve(sockets=[sock])
        finally:
            announcer.cancel()
    finally:
        assert config.data_dir is not None
        remove_state(config.data_dir)
        if watch_task is not None:
            watch_task.cancel()
        await runner.close()
        reaper.cancel()
        watchdog.stop()
        supervisor.detach(config.data_dir)
        sock.close()
    return runner


#: How often orphans that came back to the runner (a subreaper) are reaped.
REAP_INTERVAL_S = 2.0


async def _reap_orphans() -> None:
    while True:
        await asyncio.sleep(REAP_INTERVAL_S)
        await asyncio.to_thread(supervisor.reap_orphans)


def _force_exit() -> None:
    """Stop now, from any thread, with the loop frozen: kill every child, exit 130."""
    supervisor.stop()
    os._exit(130)
