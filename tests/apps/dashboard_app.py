"""An app for the dashboard's browser tests."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from kernel_actions import App, Context

app = App("dash")


class Address(BaseModel):
    city: str = Field(min_length=1)
    zip_code: str | None = None


class Greeting(BaseModel):
    name: str = Field(min_length=1, description="Who to greet")
    language: Literal["en", "fr"] = "en"
    times: int = Field(1, ge=1, le=5)
    address: Address | None = None


@app.action("greet")
def greet(ctx: Context, payload: Greeting) -> dict[str, str]:
    """Greet someone, up to five times."""
    hello = {"en": "Hello", "fr": "Bonjour"}[payload.language]
    where = f" from {payload.address.city}" if payload.address else ""
    return {"message": " ".join([f"{hello}, {payload.name}{where}!"] * payload.times)}


@app.action("gated")
async def gated(ctx: Context, payload: str) -> dict[str, bool]:
    """Log, wait until the file named by the payload exists, log again."""
    ctx.log("step 1: waiting for the gate")
    while not Path(payload).exists():
        await asyncio.sleep(0.02)
    ctx.log("step 2: through the gate")
    return {"done": True}


@app.action("markup")
def markup(ctx: Context) -> str:
    """Return markup that must be shown as text."""
    ctx.log("<img src=x onerror=\"window.__pwned = 'log'\">")
    return "<script>window.__pwned = 'output'</script><b id=\"bold\">bold</b>"


def _find_the_button(page: str) -> None:
    raise ValueError(f"the agent lost its way on {page}")


@app.action("boom")
def boom(ctx: Context) -> None:
    """Fail with a traceback through a function of the app's own."""
    ctx.log("looking for the button")
    _find_the_button("the checkout page")
