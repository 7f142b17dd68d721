"""The agent loop: model → tool call → computer → screenshot back, until the model answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from computer import Computer, ToolError

SYSTEM = (
    "You operate a web browser through the computer tool: you see its screen in screenshots "
    "and act with the mouse and keyboard. The browser window fills the screen. To open a "
    "page, press ctrl+l, type the address and press enter. When the task is done, answer "
    "with the result in plain text and stop calling tools."
)


class Log(Protocol):
    def __call__(self, message: str) -> None: ...


@dataclass
class Outcome:
    answer: str
    steps: int
    finished: bool


async def run_agent(model: Any, computer: Computer, task: str, display: tuple[int, int],
                    max_steps: int = 25, log: Log = print) -> Outcome:
    """Ask ``model`` to do ``task`` on ``computer``, one tool call at a time."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": task}]
    steps = 0
    while True:
        turn = await model.next_turn(SYSTEM, messages, display)
        content = turn.get("content") or []
        messages.append({"role": "assistant", "content": content})
        calls = [block for block in content if block.get("type") == "tool_use"]
        text = "\n".join(b.get("text", "") for b in content if b.get("type") == "text").strip()
        if text:
            log(f"model: {text}")
        if not calls or turn.get("stop_reason") != "tool_use":
            return Outcome(answer=text, steps=steps, finished=True)
        if steps >= max_steps:
            return Outcome(answer=text or f"stopped after {steps} steps", steps=steps,
                           finished=False)
        results = []
        for call in calls:
            steps += 1
            action = call.get("input") or {}
            log(f"step {steps}: {action}")
            try:
                shot = await computer.run(action)
                results.append({"type": "tool_result", "tool_use_id": call["id"], "content": [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                 "data": shot}}]})
            except ToolError as exc:
                results.append({"type": "tool_result", "tool_use_id": call["id"],
                                "is_error": True, "content": str(exc)})
        messages.append({"role": "user", "content": results})
