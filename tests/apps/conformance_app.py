"""The app the runner's integration tests drive."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import TypedDict

from pydantic import BaseModel, Field

from kernel_actions import App, Context

app = App("conformance")
log = logging.getLogger("conformance")


class Greet(BaseModel):
    name: str = Field(min_length=1)
    times: int = Field(default=1, ge=1, le=5)


class Greeting(BaseModel):
    message: str


@app.action("greet")
async def greet(ctx: Context, payload: Greet) -> Greeting:
    """Say hello."""
    return Greeting(message=" ".join([f"hello {payload.name}"] * payload.times))


@app.action("echo")
def echo(ctx: Context, payload):
    """Return the payload as it came (no hint: raw JSON)."""
    return payload


class Logs(TypedDict):
    lines: int


@app.action("logs")
async def logs(ctx: Context, payload: Logs) -> int:
    """Write lines through print, logging and ctx.log, in that order, per line."""
    for i in range(payload["lines"]):
        print(f"print {i}")
        log.warning("logging %d", i)
        ctx.log(f"ctx {i}")
        await asyncio.sleep(0)
    return payload["lines"]


@app.action("sleep")
async def sleep(ctx: Context, payload: float = 1.0) -> str:
    """Sleep on the event loop."""
    print(f"sleeping {payload}")
    await asyncio.sleep(payload)
    return "slept"


@app.action("block")
def block(ctx: Context, payload: float = 1.0) -> str:
    """Sleep in a thread (a blocking handler)."""
    time.sleep(payload)
    return "blocked"


@app.action("fail")
def fail(ctx: Context) -> None:
    raise RuntimeError("this action always fails")


@app.action("crash")
def crash(ctx: Context) -> None:
    """Kill the worker process."""
    os._exit(17)


@app.action("not-json")
def not_json(ctx: Context) -> object:
    return object()


@app.action("env")
def env(ctx: Context) -> dict:
    return {k: os.environ.get(k) for k in ("KERNEL_BASE_URL", "KERNEL_API_KEY",
                                            "ENTRYPOINT_RELPATH", "FROM_DOTENV")}


@app.action("context")
def context(ctx: Context) -> dict:
    return {"invocation_id": ctx.invocation_id, "app_name": ctx.app_name,
            "action_name": ctx.action_name, "version": ctx.version, "cwd": os.getcwd()}


@app.action("stubborn")
async def stubborn(ctx: Context, payload: float = 30.0) -> str:
    """Swallow cancellation: keeps running after being cancelled."""
    deadline = time.monotonic() + payload
    while time.monotonic() < deadline:
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            continue
    return "survived"


@app.action("segfault")
def segfault(ctx: Context) -> None:
    """Crash the worker with SIGSEGV."""
    import ctypes

    ctypes.string_at(0)


@app.action("hog")
def hog(ctx: Context, payload: int = 2000) -> int:
    """Allocate memory, 10 MB at a time, up to ``payload`` MB."""
    chunks = []
    for _ in range(payload // 10):
        chunks.append(bytearray(10 * 1024 * 1024))
        time.sleep(0.01)
    return len(chunks)


class Meet(TypedDict):
    folder: str
    count: int


def _arrive_and_wait(payload: Meet, name: str, wait: float) -> int:
    """Leave a mark in ``folder``, then wait until ``count`` invocations have left theirs.

    Only invocations running at the same time can all get past this point, so a test learns
    that they ran in parallel from the outcome, not from a stopwatch.
    """
    from pathlib import Path

    folder = Path(payload["folder"])
    (folder / name).touch()
    deadline = time.monotonic() + 60
    while len(list(folder.iterdir())) < payload["count"]:
        if time.monotonic() > deadline:
            raise TimeoutError("the others never arrived")
        time.sleep(wait)
    return payload["count"]


@app.action("meet")
async def meet(ctx: Context, payload: Meet) -> int:
    """Wait on the event loop until ``count`` ``meet`` invocations are all running."""
    from pathlib import Path

    folder = Path(payload["folder"])
    (folder / ctx.invocation_id).touch()
    deadline = time.monotonic() + 60
    while len(list(folder.iterdir())) < payload["count"]:
        if time.monotonic() > deadline:
            raise TimeoutError("the others never arrived")
        await asyncio.sleep(0.02)
    return payload["count"]


@app.action("meet-blocking")
def meet_blocking(ctx: Context, payload: Meet) -> int:
    """Like ``meet``, but blocking its thread while it waits."""
    return _arrive_and_wait(payload, ctx.invocation_id, 0.02)
