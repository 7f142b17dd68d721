"""What the runner lends its features (browsers, deployments) and route modules.

A feature gets these collaborators, never the runner itself: it can use the
engine (store, event bus, scheduler), the configuration and the runner's log,
and build worker environments for the code it loads, but it cannot reach the
wiring above it, so no arrow points from a feature back up to the server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from .config import Config
from .engine.events import EventBus
from .engine.pool import CodePool
from .engine.scheduler import Scheduler
from .engine.store import Store

__all__ = ["RunnerServices", "WorkerEnv"]


class WorkerEnv(Protocol):
    """Builds the environment of a worker process (see ``Runner.worker_env``)."""

    def __call__(self, extra: dict[str, str] | None = None,
                 entrypoint_relpath: str | None = None, *, dotenv: bool = True
                 ) -> dict[str, str]: ...


@dataclass(frozen=True)
class RunnerServices:
    config: Config
    store: Store
    bus: EventBus
    scheduler: Scheduler
    #: Writes one line to the runner's output.
    log: Callable[[str], None]
    worker_env: WorkerEnv
    #: Tell the runner a pool's code or workers changed (its ``on_change``).
    pool_changed: Callable[[CodePool], None]
