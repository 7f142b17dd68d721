"""{{app_name}}: a long-running action that reports progress as it goes."""

import anyio
from pydantic import BaseModel, Field

from kernel_actions import App, Context

app = App("{{app_name}}")


class Job(BaseModel):
    steps: int = Field(default=10, ge=1, le=10_000, description="How many steps to run")
    seconds_per_step: float = Field(default=1.0, ge=0, le=60)


class Report(BaseModel):
    steps: int
    seconds: float


@app.action("process")
async def process(ctx: Context, payload: Job) -> Report:
    """Run `steps` steps, logging each; invoke it async and follow its logs."""
    started = anyio.current_time()
    for step in range(1, payload.steps + 1):
        await anyio.sleep(payload.seconds_per_step)
        ctx.log(f"step {step}/{payload.steps} done")
    return Report(steps=payload.steps, seconds=round(anyio.current_time() - started, 3))
