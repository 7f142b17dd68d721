"""The runner: store, event bus, scheduler, worker pools and HTTP API, assembled.

:class:`Runner` is the long-lived parent process's state; :func:`serve` runs it
under uvicorn until Ctrl-C (or :meth:`Runner.request_exit`). The API never
restarts on reload: only worker generations change beneath it.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from starlette.routing import BaseRoute

from ..discovery import remove_state, write_state
from ..log_levels import LOG_LEVEL_ENV
from ..timeutil import format_ns, now_ns
from .config import Config
from .engine.events import EventBus
from .engine.invocation import Invocation
from .engine.pool import CodePool, base_env
from .engine.scheduler import Scheduler
from .engine.store import Store
from .http.api import build_api
from .stale import unloaded_summary

__all__ = ["Runner", "serve"]


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=value`` pairs of a ``.env`` file (values are never printed)."""
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


class Runner:
    def __init__(self, config: Config, *, out: Callable[[str], None] | None = None) -> None:
        self.config = config
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
        self.port: int = config.port
        self.started_ns = now_ns()
        self.forced_exit = False
        self._extra_routes: list[BaseRoute] = []
        from .deployments.service import Deployments

        self.deployments = Deployments(self)
        self.add_routes(self.deployments.routes())
        from .browsers.service import Browsers

        self.browsers = Browsers(self)
        self.add_routes(self.browsers.routes())

    # -- output -------------------------------------------------------------------------

    def log(self, message: str) -> None:
        self.out(message)

    def _finished(self, inv: Invocation) -> None:
        self.browsers.invocation_finished(inv.id)
        took = ""
        if inv.finished_ns and inv.running_ns:
            took = f" in {(inv.finished_ns - inv.running_ns) / 1e6:.1f} ms"
        gen = f" gen {inv.generation}" if inv.generation is not None else ""
        reason = f": {inv.status_reason}" if inv.status == "failed" and inv.status_reason else ""
        self.out(f"{inv.status:<9} {inv.app_name}/{inv.action_name} {inv.id}{gen}{took}{reason}")

    # -- environment for workers ----------------------------------------------------------

    @property
    def url(self) -> str:
        host = self.config.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def env_file_values(self) -> dict[str, str]:
        return read_env_file(self.config.app_dir / ".env")

    def worker_env(self, extra: dict[str, str] | None = None,
                   entrypoint_relpath: str | None = None, *, dotenv: bool = True
                   ) -> dict[str, str]:
        env = base_env(self.env_file_values() if dotenv else None)
        if extra:
            env.update(extra)
        # The hosted platform sets these and does not let apps override them.
        env["KERNEL_BASE_URL"] = self.url
        env["KERNEL_API_KEY"] = self.config.api_key or "local-runner"
        if self.config.log_level:
            env[LOG_LEVEL_ENV] = self.config.log_level
        relpath = entrypoint_relpath or self.config.entrypoint_relpath
        if relpath:
            env["ENTRYPOINT_RELPATH"] = relpath
        return env

    # -- lifecycle ----------------------------------------------------------------------

    async def startup(self) -> None:
        self.store.start(asyncio.get_running_loop())
        await self.browsers.startup()
        if self.config.entrypoint is not None:
            self.live = CodePool(
                self.config.entrypoint, self.config.app_dir, self.worker_env, self.scheduler,
                version=self.config.version, on_change=self._pool_changed, log=self.log,
                memory_limit_mb=self.config.worker_memory_mb,
            )
            self.scheduler.pools.append(self.live)
            await self.live.reload()
        await self.deployments.restore()
        requeued, failed = await self.scheduler.recover()
        if requeued or failed:
            self.log(f"recovered from the last run: {requeued} queued invocation(s) will run, "
                     f"{failed} that were running failed as interrupted")

    def _pool_changed(self, pool: CodePool) -> None:
        self.scheduler.pools_changed()
        self.bus.publish("_runner", {"event": "runner_state", "runner": self.status(),
                                     "timestamp": format_ns(now_ns())})

    async def shutdown(self, grace: float | None = None) -> None:
        await self.scheduler.shutdown(self.config.shutdown_grace if grace is None else grace)
        await self.browsers.close_all()
        for pool in self.scheduler.pools:
            await pool.close()
        self.store.close()

    # -- views --------------------------------------------------------------------------

    def app_summaries(self) -> list[dict[str, Any]]:
        summaries = []
        for pool, app in self.scheduler.serving():
            ident = hashlib.sha1(f"{app['name']}\0{pool.version}".encode()).hexdigest()[:24]
            summaries.append({
                "id": ident,
                "app_name": app["name"],
                "version": pool.version,
                "deployment": pool.deployment_id or "local",
                "env_vars": {k: "" for k in (
                    sorted(self.env_file_values()) if pool is self.live else pool.env_keys)},
                "region": "aws.us-east-1a",
                "actions": [
                    {"name": a["name"], "input_schema": a["input_schema"],
                     "output_schema": a["output_schema"], "description": a["description"]}
                    for a in app["actions"]
                ],
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
            "queued": sum(1 for a in self.scheduler.active.values()
                          if a.inv.status == "queued"),
            "max_concurrency": self.scheduler.max_concurrency,
            "pools": [p.status() for p in self.scheduler.pools],
            "live": self.live.status() if self.live else None,
        }

    def extra_routes(self) -> list[BaseRoute]:
        return self._extra_routes

    def add_routes(self, routes: list[BaseRoute]) -> None:
        self._extra_routes.extend(routes)


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, made with ``IPPROTO_TCP`` so that asyncio sets ``TCP_NODELAY``
    on every accepted connection (it checks the protocol; a socket made with the default
    protocol 0 would leave Nagle's algorithm on and add ~40 ms to small answers)."""
    info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    family, kind, proto, _, address = info[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


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
) -> Runner:
    """Run the runner until it is told to stop; returns it, stopped.

    The socket is bound first, so workers learn the real port (``--port 0`` picks
    a free one), then code is loaded, then the API starts answering.
    """
    config.validate()
    runner = runner or Runner(config)
    uv_config = uvicorn.Config(
        build_api(runner), host=config.host, port=config.port, log_level="warning",
        lifespan="off", access_log=False, timeout_graceful_shutdown=2, ws="none",
    )
    sock = _bind(config.host, config.port)
    runner.port = sock.getsockname()[1]
    server = _Server(uv_config, runner)
    runner.server = server  # type: ignore[attr-defined]
    watch_task: asyncio.Task[Any] | None = None
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
        await runner.browsers.close_all()
        for pool in runner.scheduler.pools:
            await pool.close()
        runner.store.close()
        sock.close()
    return runner
