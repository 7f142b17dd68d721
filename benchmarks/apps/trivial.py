"""The trivial action the benchmarks invoke, and the plain function both sides call."""

from __future__ import annotations

from typing import TypedDict

from kernel_actions import App, Context

app = App("bench")


class Pair(TypedDict):
    a: int
    b: int


def add(payload: dict) -> dict:
    return {"sum": payload["a"] + payload["b"]}


@app.action("add")
def add_action(ctx: Context, payload: Pair) -> dict:
    return add(payload)


@app.action("add-async")
async def add_async(ctx: Context, payload: Pair) -> dict:
    return add(payload)
