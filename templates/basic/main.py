"""{{app_name}}: typed actions for Kernel."""

from pydantic import BaseModel, Field

from kernel_actions import App, Context

app = App("{{app_name}}")


class GreetInput(BaseModel):
    name: str = Field(min_length=1, description="Who to greet")
    excited: bool = False


class GreetOutput(BaseModel):
    message: str


@app.action("greet")
async def greet(ctx: Context, payload: GreetInput) -> GreetOutput:
    """Greet someone by name."""
    ctx.log(f"greeting {payload.name}")
    return GreetOutput(message=f"Hello, {payload.name}{'!' if payload.excited else '.'}")


@app.action("health")
def health(ctx: Context) -> dict[str, str]:
    """Report that the app is up (no payload)."""
    return {"status": "ok", "invocation": ctx.invocation_id}
