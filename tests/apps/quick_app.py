"""Blocking handlers that say where they ran: on the worker's loop thread, or in another."""

import asyncio
import threading
import time

from kernel_actions import App, Context

app = App("quick")


async def _one() -> int:
    await asyncio.sleep(0)
    return 1


@app.action("where")
def where(ctx: Context, payload=None) -> dict:  # noqa: ANN001 - any JSON
    payload = payload or {}
    if payload.get("sleep"):
        time.sleep(payload["sleep"])
    try:
        asyncio.get_running_loop()
        loop_seen = True
    except RuntimeError:
        loop_seen = False
    return {
        "main": threading.current_thread() is threading.main_thread(),
        "loop_seen": loop_seen,
        "ran": asyncio.run(_one()) if payload.get("run") else None,
    }


@app.action("block")
def block(ctx: Context, payload: float) -> str:
    time.sleep(payload)
    return "unblocked"


@app.action("nap")
async def nap(ctx: Context, payload: float) -> str:
    await asyncio.sleep(payload)
    return "rested"
