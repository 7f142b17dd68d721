"""The authoring framework in-process: definitions, payload kinds, results, logs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import logging
import re
import subprocess
import sys
import threading
import uuid
from typing import Annotated, Any, Literal, TypedDict

import anyio
import pytest
from pydantic import BaseModel, Field

from kernel_actions import ActionDefinitionError, App, Context
from kernel_actions.tooling.manifest import build_manifest

# -- definitions fail at import, naming the function --------------------------------------


def test_apps_do_not_share_actions() -> None:
    a, b = App("a"), App("b")

    @a.action("x")
    def x(ctx: Context) -> int:
        return 1

    assert list(a.actions) == ["x"] and list(b.actions) == []


def test_duplicate_action_name() -> None:
    app = App("dup")

    @app.action("same")
    def first(ctx: Context) -> None: ...

    with pytest.raises(ActionDefinitionError) as err:
        @app.action("same")
        def second(ctx: Context) -> None: ...
    msg = str(err.value)
    assert "second" in msg and "first" in msg and "already has an action named 'same'" in msg
    assert re.search(r"test_framework\.py:\d+", msg)


@pytest.mark.parametrize("source", ["def h(): ...", "def h(ctx, payload, extra): ...",
                                    "def h(ctx, *args): ...", "def h(ctx, **kw): ..."])
def test_wrong_signatures(source: str) -> None:
    scope: dict[str, Any] = {}
    exec(source, scope)
    with pytest.raises(ActionDefinitionError, match=r"takes \(ctx\) or \(ctx, payload\)"):
        App("sig").action("h")(scope["h"])


def test_decorator_without_a_name() -> None:
    app = App("noname")
    with pytest.raises(ActionDefinitionError) as err:
        @app.action  # type: ignore[arg-type]
        def handler(ctx: Context) -> None: ...
    assert '@app.action("handler")' in str(err.value)
    assert "test_framework.handler" in str(err.value) or "handler" in str(err.value)


class Opaque:
    """A plain class: pydantic has no schema for it."""


def test_type_pydantic_cannot_handle() -> None:
    with pytest.raises(ActionDefinitionError) as err:
        @App("bad").action("opaque")
        def opaque(ctx: Context, payload: Opaque) -> None: ...
    msg = str(err.value)
    assert "opaque" in msg and "cannot be validated" in msg and "drop the hint" in msg


def test_unresolvable_forward_reference() -> None:
    with pytest.raises(ActionDefinitionError, match="cannot be resolved"):
        @App("fwd").action("fwd")
        def fwd(ctx: Context, payload: NotDefinedAnywhere) -> None: ...  # type: ignore[name-defined]  # noqa: F821


def test_empty_app_name() -> None:
    with pytest.raises(ActionDefinitionError):
        App("  ")


def test_decorated_function_stays_callable() -> None:
    app = App("callable")

    @app.action("double")
    def double(ctx: Context, payload: int) -> int:
        return payload * 2

    assert double(Context("x"), 4) == 8


# -- payload kinds --------------------------------------------------------------------------


class Model(BaseModel):
    name: str
    age: int = Field(ge=0)


@dataclasses.dataclass
class DC:
    x: int
    y: list[str]


class TD(TypedDict):
    item: str
    qty: int


def _app_with(hint: Any) -> App:
    app = App("kinds")

    def handler(ctx: Context, payload: hint) -> Any:  # type: ignore[valid-type]
        return payload

    handler.__annotations__ = {"ctx": Context, "payload": hint, "return": Any}
    app.action("a")(handler)
    return app


CASES = [
    (Model, {"name": "Ada", "age": "36"}, {"name": "Ada", "age": 36}, {"name": "Ada", "age": -1}),
    (DC, {"x": 1, "y": ["a"]}, {"x": 1, "y": ["a"]}, {"x": "one", "y": []}),
    (TD, {"item": "pen", "qty": 2}, {"item": "pen", "qty": 2}, {"item": "pen"}),
    (int, 5, 5, "five"),
    (str, "s", "s", 5),
    (float, 1.5, 1.5, "x"),
    (bool, True, True, "maybe"),
    (list[int], [1, "2"], [1, 2], [1, "x"]),
    (dict[str, int], {"a": 1}, {"a": 1}, {"a": "b"}),
    (Literal["a", "b"], "a", "a", "c"),
    (Annotated[int, Field(gt=0)], 3, 3, 0),
    (Model | None, {"name": "x", "age": 1}, {"name": "x", "age": 1}, {"age": 1}),
]


@pytest.mark.parametrize(("hint", "good", "expected", "bad"), CASES,
                         ids=[str(c[0]) for c in CASES])
def test_payload_kinds(hint: Any, good: Any, expected: Any, bad: Any) -> None:
    app = _app_with(hint)
    ok = app.invoke_sync("a", good)
    assert ok.status == "succeeded", ok.output
    assert ok.value == expected
    failed = app.invoke_sync("a", bad)
    assert failed.status == "failed" and failed.error == "validation_failed"
    assert failed.status_reason and failed.status_reason.startswith("Payload validation failed")
    detail = json.loads(failed.output or "")
    assert detail["errors"] and set(detail["errors"][0]) == {"loc", "msg", "type"}


def test_no_hint_is_the_raw_json_value() -> None:
    app = App("raw")

    @app.action("echo")
    def echo(ctx, payload):  # type: ignore[no-untyped-def]
        return payload

    assert app.invoke_sync("echo", {"a": [1, None]}).value == {"a": [1, None]}
    assert app.invoke_sync("echo").value is None


def test_missing_payload() -> None:
    app = App("missing")

    @app.action("optional")
    def optional(ctx: Context, payload: int | None) -> Any:
        return payload

    @app.action("default")
    def default(ctx: Context, payload: int = 7) -> int:
        return payload

    @app.action("none")
    def none(ctx: Context) -> str:
        return "ctx only"

    @app.action("required")
    def required(ctx: Context, payload: Model) -> Any:
        return payload

    assert app.invoke_sync("optional").value is None
    assert app.invoke_sync("default").value == 7
    assert app.invoke_sync("none").value == "ctx only"
    out = app.invoke_sync("required")
    assert out.status == "failed"
    assert out.status_reason == "Payload validation failed: a payload is required"
    assert app.get("required").describe()["payload_required"] is True  # type: ignore[union-attr]


def test_payload_json_fast_path_and_malformed() -> None:
    app = _app_with(Model)
    assert app.invoke_sync("a", payload_json='{"name": "j", "age": 2}').value == {
        "name": "j", "age": 2}
    bad = app.invoke_sync("a", payload_json="{oops")
    assert bad.status == "failed" and json.loads(bad.output or "")["errors"][0]["type"] == (
        "json_invalid")


# -- results ----------------------------------------------------------------------------------


class Colour(enum.Enum):
    RED = "red"


def test_return_values_become_json() -> None:
    app = App("returns")

    @app.action("many")
    def many(ctx: Context) -> dict:
        return {"when": dt.datetime(2024, 5, 19, 15, 30, tzinfo=dt.UTC), "id": uuid.UUID(int=1),
                "tags": {"x"}, "colour": Colour.RED, "model": Model(name="m", age=1),
                "dc": DC(x=1, y=[])}

    assert app.invoke_sync("many").value == {
        "when": "2024-05-19T15:30:00Z", "id": "00000000-0000-0000-0000-000000000001",
        "tags": ["x"], "colour": "red", "model": {"name": "m", "age": 1},
        "dc": {"x": 1, "y": []}}


def test_return_hint_is_checked() -> None:
    app = App("hinted")

    @app.action("lies")
    def lies(ctx: Context) -> int:
        return "not a number"  # type: ignore[return-value]

    out = app.invoke_sync("lies")
    assert out.error == "output_invalid"
    assert out.status_reason == "Action returned a value that does not match its return type"


def test_non_json_return() -> None:
    app = App("opaque-return")

    class Thing:
        pass

    @app.action("thing")
    def thing(ctx: Context):  # type: ignore[no-untyped-def]
        return Thing()

    out = app.invoke_sync("thing")
    assert out.error == "output_not_json"
    assert out.status_reason == (
        "Action 'thing' returned an object of type test_non_json_return.<locals>.Thing, "
        "which is not JSON-serialisable")


def test_exceptions_become_failures_with_traceback_in_user_code() -> None:
    app = App("raises")

    @app.action("boom")
    def boom(ctx: Context) -> None:
        raise ValueError("nope")

    out = app.invoke_sync("boom")
    detail = json.loads(out.output or "")
    assert out.status_reason == "Action raised ValueError: nope"
    assert detail["type"] == "ValueError"
    assert detail["traceback"].splitlines()[1].strip().startswith('File "')
    assert "execution.py" not in detail["traceback"]
    assert "in boom" in detail["traceback"]


# -- execution model and logs -----------------------------------------------------------------


def test_blocking_handlers_run_in_threads_in_parallel() -> None:
    app = App("threads")
    barrier = threading.Barrier(2, timeout=5)
    seen: list[bool] = []

    @app.action("wait")
    def wait(ctx: Context) -> str:
        seen.append(threading.current_thread() is threading.main_thread())
        barrier.wait()  # only passes if both run at once
        return "ok"

    async def main() -> list[str]:
        results: list[str] = []
        async with anyio.create_task_group() as tg:
            for _ in range(2):
                async def one() -> None:
                    results.append((await app.invoke("wait")).status)
                tg.start_soon(one)
        return results

    assert anyio.run(main) == ["succeeded", "succeeded"]
    assert seen == [False, False]


def test_logs_from_ctx_print_and_logging_in_order_and_never_mixed() -> None:
    app = App("logs")
    log = logging.getLogger("framework-test")

    @app.action("talk")
    async def talk(ctx: Context, payload: str) -> None:
        for i in range(3):
            ctx.log(f"{payload} ctx {i}")
            print(f"{payload} print {i}")
            log.warning("%s logging %d", payload, i)
            await anyio.sleep(0)

    async def main() -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {}
        async with anyio.create_task_group() as tg:
            for who in ("a", "b"):
                async def one(who: str = who) -> None:
                    out[who] = (await app.invoke("talk", who)).logs
                tg.start_soon(one)
        return out

    stdout = sys.stdout
    logs = anyio.run(main)
    assert sys.stdout is stdout
    for who in ("a", "b"):
        assert logs[who] == tuple(
            line for i in range(3) for line in (
                f"{who} ctx {i}", f"{who} print {i}", f"WARNING framework-test: {who} logging {i}"))


def test_context_fields() -> None:
    app = App("ctx-app")

    @app.action("ctx")
    def ctx_action(ctx: Context) -> dict:
        return {"invocation_id": ctx.invocation_id, "app_name": ctx.app_name,
                "action_name": ctx.action_name, "version": ctx.version}

    value = app.invoke_sync("ctx", version="v3").value
    assert re.fullmatch(r"[a-z0-9]{24}", value["invocation_id"])
    assert (value["app_name"], value["action_name"], value["version"]) == (
        "ctx-app", "ctx", "v3")


def test_unknown_action_in_process() -> None:
    with pytest.raises(KeyError, match="has no action 'nope'"):
        App("empty").invoke_sync("nope")


# -- manifest ---------------------------------------------------------------------------------


def test_manifest_describes_every_action() -> None:
    app = App("described")

    @app.action("greet")
    async def greet(ctx: Context, payload: Model) -> dict[str, str]:
        """Say hello."""
        return {}

    @app.action("plain")
    def plain(ctx: Context) -> None: ...

    manifest = build_manifest([app], "main.py")
    assert manifest["entrypoint"] == "main.py"
    greet_d, plain_d = manifest["apps"][0]["actions"]
    assert greet_d["description"] == "Say hello." and greet_d["is_async"] is True
    assert greet_d["input_schema"]["required"] == ["name", "age"]
    assert greet_d["output_schema"] == {"additionalProperties": {"type": "string"},
                                        "type": "object"}
    assert plain_d["input_schema"] is None and plain_d["takes_payload"] is False
    json.dumps(manifest)


# -- import stays light -----------------------------------------------------------------------


def test_import_is_light() -> None:
    code = ("import sys, kernel_actions; heavy = {'starlette', 'uvicorn', 'watchfiles', 'httpx',"
            " 'click', 'rich', 'sqlite3'}; print(sorted(m for m in sys.modules"
            " if m.split('.')[0] in heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_runner_process_does_not_import_the_framework() -> None:
    """The parent never runs an action: pydantic and the framework load in workers only."""
    code = ("import sys, kernel_actions.runner.server; print(sorted(m for m in sys.modules"
            " if m.split('.')[0] == 'pydantic' or m in ('kernel_actions.app',"
            " 'kernel_actions.action')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_public_names_load_on_first_use() -> None:
    import kernel_actions

    assert kernel_actions.App.__module__ == "kernel_actions.app"
    assert set(kernel_actions.__all__) <= set(dir(kernel_actions))
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        kernel_actions.Nope  # noqa: B018
