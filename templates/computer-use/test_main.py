"""The agent loop, offline: a scripted model on loopback that speaks the Messages API, and
a computer that records what it was asked to do."""

import asyncio
import base64
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from agent import run_agent
from computer import Computer, keysym
from main import app
from model import COMPUTER_TOOL, Model

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


class ScriptedModel:
    """An HTTP server answering ``POST /v1/messages`` with the next scripted turn."""

    def __init__(self, turns: list[dict[str, Any]]) -> None:
        self.turns = list(turns)
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []

    def serve(self) -> tuple[http.server.ThreadingHTTPServer, str]:
        script = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                script.requests.append(body)
                script.headers.append(dict(self.headers))
                status, answer = (200, script.turns.pop(0)) if self.path == "/v1/messages" \
                    and script.turns else (404, {"type": "error"})
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server, f"http://127.0.0.1:{server.server_address[1]}"


class Screen:
    """Kernel's computer controls as the agent calls them, recorded."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        async def call(session_id: str, **kwargs: Any) -> Any:
            self.calls.append((name, session_id, kwargs))
            if name == "capture_screenshot":
                class Body:
                    async def read(self) -> bytes:
                        return PNG
                return Body()
            return None
        return call


def tool_use(n: int, **action: Any) -> dict[str, Any]:
    return {"type": "tool_use", "id": f"call-{n}", "name": "computer", "input": action}


@pytest.fixture
def scripted() -> Iterator[Any]:
    servers = []

    def start(turns: list[dict[str, Any]]) -> tuple[ScriptedModel, str]:
        model = ScriptedModel(turns)
        server, url = model.serve()
        servers.append(server)
        return model, url

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_the_action_is_registered_with_its_schema() -> None:
    action = app.get("computer-use-task")
    assert action is not None
    assert action.input_schema["required"] == ["task"]
    assert action.output_schema["properties"]["answer"]["type"] == "string"
    out = app.invoke_sync("computer-use-task", {"task": ""})
    assert out.status == "failed" and "task" in (out.status_reason or "")


def test_key_names_become_x11_keysyms() -> None:
    assert keysym("ctrl+l") == "Ctrl+l"
    assert keysym("Return") == "Return" and keysym("enter") == "Return"
    assert keysym("ctrl+shift+tab") == "Ctrl+Shift+Tab"
    assert keysym("ctrl+-") == "Ctrl+minus" and keysym("BackSpace") == "BackSpace"


def test_the_loop_acts_and_shows_the_model_each_result(scripted: Any) -> None:
    script, url = scripted([
        {"content": [{"type": "text", "text": "Opening the page."},
                     tool_use(1, action="key", text="ctrl+l")], "stop_reason": "tool_use"},
        {"content": [tool_use(2, action="type", text="http://example.test\n")],
         "stop_reason": "tool_use"},
        {"content": [tool_use(3, action="left_click", coordinate=[40, 50]),
                     tool_use(4, action="scroll", coordinate=[10, 10], scroll_direction="down",
                              scroll_amount=2)], "stop_reason": "tool_use"},
        {"content": [tool_use(5, action="fly")], "stop_reason": "tool_use"},
        {"content": [{"type": "text", "text": "The title is Example."}],
         "stop_reason": "end_turn"},
    ])
    screen = Screen()
    logs: list[str] = []
    model = Model(api_key="test-key", base_url=url, model="scripted")
    outcome = asyncio.run(run_agent(model, Computer(screen, "b1"), "Read the title",
                                    (1280, 800), log=logs.append))
    asyncio.run(model.aclose())
    assert outcome.answer == "The title is Example." and outcome.finished and outcome.steps == 5

    acts = [(name, kwargs) for name, _, kwargs in screen.calls if name != "capture_screenshot"]
    assert acts == [
        ("press_key", {"keys": ["Ctrl+l"]}),
        ("type_text", {"text": "http://example.test\n"}),
        ("click_mouse", {"x": 40, "y": 50, "button": "left", "num_clicks": 1}),
        ("scroll", {"x": 10, "y": 10, "delta_x": 0, "delta_y": 2}),
    ]
    assert all(sid == "b1" for _, sid, _ in screen.calls)

    first = script.requests[0]
    assert first["tools"][0]["type"] == COMPUTER_TOOL
    assert first["tools"][0]["display_width_px"] == 1280
    assert script.headers[0]["x-api-key"] == "test-key"
    # Each tool call is answered with a screenshot of what it did, in order.
    third = script.requests[3]["messages"][-1]["content"]
    assert [r["tool_use_id"] for r in third] == ["call-3", "call-4"]
    assert base64.b64decode(third[0]["content"][0]["source"]["data"]) == PNG
    # An action the computer can't do goes back to the model as an error, not a crash.
    error = script.requests[4]["messages"][-1]["content"][0]
    assert error["is_error"] and "unsupported action 'fly'" in error["content"]
    assert logs[0] == "model: Opening the page."


def test_the_loop_stops_at_max_steps(scripted: Any) -> None:
    _, url = scripted([{"content": [tool_use(i, action="screenshot")],
                        "stop_reason": "tool_use"} for i in range(10)])
    model = Model(api_key="k", base_url=url)
    outcome = asyncio.run(run_agent(model, Computer(Screen(), "b"), "loop", (800, 600),
                                    max_steps=3, log=lambda m: None))
    asyncio.run(model.aclose())
    assert outcome.steps == 3 and not outcome.finished


def test_a_model_error_is_reported(scripted: Any) -> None:
    _, url = scripted([])
    model = Model(api_key="k", base_url=url)
    with pytest.raises(RuntimeError, match="the model answered 404"):
        asyncio.run(run_agent(model, Computer(Screen(), "b"), "x", (800, 600)))
    asyncio.run(model.aclose())
