"""The quickstart app: one action per kind of payload.

Run it:    kernel-actions dev examples/quickstart/main.py
Invoke it: kernel-actions invoke quickstart greet -p '{"name": "Ada"}'
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Literal, TypedDict

from pydantic import BaseModel, Field

from kernel_actions import App, Context

app = App("quickstart")
log = logging.getLogger("quickstart")


class Greeting(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="Who to greet")
    language: Literal["en", "fr", "es"] = "en"
    excited: bool = False


class GreetingOut(BaseModel):
    message: str


@app.action("greet")
async def greet(ctx: Context, payload: Greeting) -> GreetingOut:
    """Greet someone in their language (a pydantic model payload and output)."""
    hello = {"en": "Hello", "fr": "Bonjour", "es": "Hola"}[payload.language]
    ctx.log(f"greeting {payload.name} in {payload.language}")
    return GreetingOut(message=f"{hello}, {payload.name}{'!' if payload.excited else '.'}")


class Order(TypedDict):
    item: str
    quantity: int


@app.action("total")
def total(ctx: Context, payload: list[Order]) -> dict[str, int]:
    """Count items across orders (a list of TypedDicts)."""
    counts: dict[str, int] = {}
    for order in payload:
        counts[order["item"]] = counts.get(order["item"], 0) + order["quantity"]
    return counts


@app.action("square")
def square(ctx: Context, payload: int) -> int:
    """Square a number (a scalar payload)."""
    return payload * payload


@app.action("status")
def status(ctx: Context) -> dict[str, str]:
    """Report who is running (no payload)."""
    return {"app": ctx.app_name, "invocation": ctx.invocation_id, "version": ctx.version}


@app.action("countdown")
async def countdown(ctx: Context, payload: int = 3) -> str:
    """Count down one second at a time, logging each step (an async, long-running action)."""
    for n in range(payload, 0, -1):
        print(f"{n}…")
        await asyncio.sleep(1)
    log.info("lift-off")
    return "lift-off"


@app.action("checksum")
def checksum(ctx: Context, payload: str | None = None) -> dict[str, int | float]:
    """A blocking computation in a worker thread (an optional string payload)."""
    started = time.perf_counter()
    text = payload or "kernel"
    value = sum(ord(c) * (i + 1) for i, c in enumerate(text * 1000)) % 65_521
    return {"checksum": value, "seconds": round(time.perf_counter() - started, 4)}
