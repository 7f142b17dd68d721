"""{{app_name}}: a computer-use agent that does a task in a browser, as a person would.

The model (Anthropic's Messages API, or any server that speaks it: ``MODEL_BASE_URL``)
sees screenshots of the browser's screen and answers with mouse and keyboard actions,
which Kernel's computer controls carry out. Locally, `kernel-actions dev` serves those
controls on a Chromium on this machine; deployed, the same code drives Kernel's browsers.
"""

from pydantic import BaseModel, Field

from kernel_actions import App, Context

app = App("{{app_name}}")

DISPLAY = (1280, 800)


class TaskInput(BaseModel):
    task: str = Field(min_length=1, description="What the agent should do, in plain words")
    start_url: str | None = Field(default=None, description="A page to open first")
    max_steps: int = Field(default=25, ge=1, le=200)
    record_replay: bool = False


class TaskOutput(BaseModel):
    answer: str
    steps: int
    finished: bool
    replay_url: str | None = None


@app.action("computer-use-task")
async def computer_use_task(ctx: Context, payload: TaskInput) -> TaskOutput:
    """Run the agent loop on a fresh browser until the model answers."""
    from kernel import AsyncKernel  # imported here: validation tests need neither

    from agent import run_agent
    from computer import Computer
    from model import Model

    model = Model.from_env()
    kernel = AsyncKernel()
    extra = {"start_url": payload.start_url} if payload.start_url else {}
    browser = await kernel.browsers.create(
        invocation_id=ctx.invocation_id, viewport={"width": DISPLAY[0], "height": DISPLAY[1]},
        **extra)
    replay = None
    try:
        if payload.record_replay:
            replay = await kernel.browsers.replays.start(browser.session_id)
        outcome = await run_agent(model, Computer(kernel.browsers.computer, browser.session_id),
                                  payload.task, DISPLAY, payload.max_steps, log=ctx.log)
        if replay is not None:
            await kernel.browsers.replays.stop(replay.replay_id, id_or_name=browser.session_id)
        return TaskOutput(answer=outcome.answer, steps=outcome.steps, finished=outcome.finished,
                          replay_url=replay.replay_view_url if replay is not None else None)
    finally:
        await model.aclose()
        await kernel.browsers.delete_by_id(browser.session_id)
