"""Starting a worker process: stdlib only, so it can run before anything heavy is imported.

``kernel-actions dev`` starts its first worker while its own server stack is still
importing (the two take about as long, and run on different cores); the pool then
adopts that process as its standby. Everything here is synchronous and imports no
asyncio, so the worker is on its way within milliseconds of the command starting.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from ..supervisor import Child, supervisor
from .frames import encode
from .node_runtime import choose_node, is_node_target, node_worker_command

__all__ = ["WORKER_FD_ENV", "StartedWorker", "start_worker_process", "preload", "base_env"]

#: The environment variable that tells a worker which inherited descriptor is its socket.
WORKER_FD_ENV = "KERNEL_ACTIONS_WORKER_FD"


@dataclass
class StartedWorker:
    """A worker process just started, and the runner's end of its socket.

    Not yet connected to an event loop: :meth:`WorkerProcess.adopt` does that."""

    proc: Child
    sock: socket.socket
    #: The code it was told to load as soon as it is up (see :func:`preload`), if any.
    preloaded: str | None = None

    def abandon(self) -> None:
        """Kill it (and its process group) and close the socket: it will never serve."""
        self.sock.close()
        self.proc.kill()
        self.proc.wait()
        supervisor.kill_owner(self.proc.owner)


def start_worker_process(cwd: str, env: Mapping[str, str],
                         target: str | None = None) -> StartedWorker:
    """Start ``python -m kernel_actions.runner.engine.worker`` in ``cwd`` (a Node worker,
    :mod:`.node_runtime`, when ``target`` is a TypeScript or JavaScript app).

    Started by the supervisor, on this thread (it is quick: ``vfork`` and ``exec``), in its
    own session and process group; whatever an action starts carries the worker's owner
    token, so the whole tree goes when the worker does. The worker's exit shows as
    end-of-stream on the socket, and its status is then reaped by polling."""
    command = [sys.executable, "-m", "kernel_actions.runner.engine.worker"]
    if is_node_target(target):
        command = node_worker_command(choose_node(dict(env)))  # NodeUnavailable says why not
    parent, child = socket.socketpair()
    try:
        proc = supervisor.spawn(
            command, name="worker", cwd=cwd, env={**env, WORKER_FD_ENV: str(child.fileno())},
            pass_fds=(child.fileno(),))
    except BaseException:
        parent.close()
        raise
    finally:
        child.close()
    return StartedWorker(proc, parent)


def preload(started: StartedWorker, target: str) -> None:
    """Tell a worker just started to load ``target`` as soon as it is up.

    The message waits in the socket, so the worker imports the app while the runner is
    still importing its server; its answer (``loaded`` or ``load_failed``) waits there in
    turn until the pool adopts the worker (:meth:`WorkerProcess.adopt`)."""
    started.sock.sendall(encode({"t": "load", "target": target}))
    started.preloaded = target


def base_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A worker's environment: the runner's own, unbuffered output, and ``extra``."""
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    if extra:
        env.update(extra)
    return env
