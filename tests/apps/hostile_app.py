"""Actions that misbehave on purpose."""

from __future__ import annotations

import time

from kernel_actions import App, Context

app = App("hostile")


@app.action("flood")
def flood(ctx: Context, payload: int = 1_000_000) -> int:
    """Print a million lines."""
    for i in range(payload):
        print(f"line {i}")
    return payload


@app.action("huge")
def huge(ctx: Context, payload: int = 50_000_000) -> str:
    """Return 50 MB."""
    return "x" * payload


@app.action("deep")
def deep(ctx: Context, payload: int = 100_000) -> list:
    """Return a list nested 100,000 deep."""
    value: list = []
    for _ in range(payload):
        value = [value]
    return value


@app.action("forever")
def forever(ctx: Context) -> None:
    """Never return (a blocking loop in a thread)."""
    while True:
        time.sleep(0.05)


@app.action("ok")
def ok(ctx: Context) -> str:
    return "ok"
