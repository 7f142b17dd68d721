"""``kernel-actions dev``'s head start: listen and start the first worker before the
server stack is imported.

The runner's imports (uvicorn, Starlette, the store, the features) and a worker's
(the framework, pydantic) take about as long; one after the other they were most
of the time from start to first answer. So the CLI binds the socket (the port is
then known: workers are told it as ``KERNEL_BASE_URL``), starts the worker, tells it
to load the app (so the app's own imports run beside the server's too), and only then
imports the server; the live code pool adopts the worker, code loaded, as its first
generation. Stdlib only, plus the runner's light config.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from ..env_contract import declared_env, missing_env
from .config import Config
from .engine.node_runtime import NodeUnavailable
from .engine.spawning import StartedWorker, preload, start_worker_process
from .listening import bind, url_for
from .worker_env import read_env_file, worker_environment

__all__ = ["HeadStart", "head_start"]


@dataclass
class HeadStart:
    """The bound socket and, unless taken by a pool, the first worker."""

    sock: socket.socket
    worker: StartedWorker | None

    def take_worker(self) -> StartedWorker | None:
        worker, self.worker = self.worker, None
        return worker

    def close(self) -> None:
        """Release what nothing took: the worker (killed) and the socket."""
        worker = self.take_worker()
        if worker is not None:
            worker.abandon()
        self.sock.close()


def head_start(config: Config) -> HeadStart:
    """Bind ``config``'s address and start the live code's first worker.

    Raises ``OSError`` when the address can't be bound. Under ``--debug`` no worker is
    started early (its debugger's port is the debug monitor's to give)."""
    sock = bind(config.host, config.port)
    worker = None
    try:
        if config.entrypoint is not None and not config.debug:
            url = url_for(config.host, sock.getsockname()[1])
            env = worker_environment(config, url,
                                     dotenv=read_env_file(config.app_dir / ".env"))
            try:
                worker = start_worker_process(str(config.app_dir), env, config.entrypoint)
            except NodeUnavailable:
                return HeadStart(sock, None)  # the pool says so, as the code's load failure
            # Its code too, unless the app declares environment variables that are
            # missing: the pool then says so without running the code.
            path = config.entrypoint_path
            found = declared_env(path) if path is not None else None
            if found is None or not missing_env(found[0], env):
                preload(worker, config.entrypoint)
    except BaseException:
        if worker is not None:
            worker.abandon()
        sock.close()
        raise
    return HeadStart(sock, worker)
