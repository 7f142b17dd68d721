"""Fire-and-forget tasks that can't be garbage-collected while they run.

The event loop keeps only weak references to tasks: a task that nothing else
holds (and whose awaited future nothing else holds either) can be collected
mid-await, closing whatever sockets it owns. Every background task of the
runner goes through :func:`start`, which holds it until it finishes and logs
an exception nobody else would see.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["start"]

T = TypeVar("T")

_running: set[asyncio.Task[Any]] = set()
_log = logging.getLogger("kernel_actions.runner")


def _done(task: asyncio.Task[Any]) -> None:
    _running.discard(task)
    if not task.cancelled() and (exc := task.exception()) is not None:
        _log.error("background task %s failed", task.get_name(), exc_info=exc)


def start(coro: Coroutine[Any, Any, T], *, name: str | None = None) -> asyncio.Task[T]:
    """Run ``coro`` as a task that stays referenced until it is done."""
    task = asyncio.get_running_loop().create_task(coro, name=name)
    _running.add(task)
    task.add_done_callback(_done)
    return task
