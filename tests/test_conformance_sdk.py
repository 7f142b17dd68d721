"""The official ``kernel`` Python SDK, unchanged, against a real runner process."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import httpx
import kernel
import pytest
from kernel import Kernel

from .helpers import RunnerProcess, poll

ID = re.compile(r"^[a-z0-9]{24}$")
NANOS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")


def test_sync_create_returns_terminal_result(sdk: Kernel) -> None:
    inv = sdk.invocations.create(
        app_name="conformance", action_name="greet", version="latest",
        payload=json.dumps({"name": "Ada", "times": 2}),
    )
    assert ID.match(inv.id)
    assert inv.status == "succeeded"
    assert inv.action_name == "greet"
    assert json.loads(inv.output or "") == {"message": "hello Ada hello Ada"}
    assert inv.status_reason is None


def test_async_create_is_queued_then_succeeds(sdk: Kernel) -> None:
    inv = sdk.invocations.create(
        app_name="conformance", action_name="sleep", version="latest", payload="0.2",
        async_=True,
    )
    assert inv.status == "queued"
    done = poll(lambda: (r := sdk.invocations.retrieve(inv.id)).status == "succeeded" and r)
    assert done.output == '"slept"'  # type: ignore[union-attr]


def test_retrieve_has_every_field(sdk: Kernel, conformance: RunnerProcess) -> None:
    inv = sdk.invocations.create(app_name="conformance", action_name="echo", version="latest",
                                 payload='{"a": [1, 2]}')
    got = sdk.invocations.retrieve(inv.id)
    assert got.id == inv.id and got.app_name == "conformance" and got.version == "latest"
    assert json.loads(got.payload or "") == {"a": [1, 2]}
    assert got.output == '{"a":[1,2]}'
    assert got.finished_at is not None and got.started_at <= got.finished_at
    raw = httpx.get(f"{conformance.url}/invocations/{inv.id}")
    body = raw.json()
    assert NANOS.match(body["started_at"]) and NANOS.match(body["finished_at"])
    assert set(body) >= {"id", "app_name", "action_name", "version", "payload", "output",
                         "status", "status_reason", "started_at", "finished_at"}


def test_no_payload_means_none(sdk: Kernel) -> None:
    inv = sdk.invocations.create(app_name="conformance", action_name="echo", version="latest")
    assert inv.status == "succeeded" and inv.output == "null"


def test_failures_carry_reason_and_detail(sdk: Kernel) -> None:
    bad = sdk.invocations.create(app_name="conformance", action_name="greet", version="latest",
                                 payload='{"name": "", "times": 9}')
    assert bad.status == "failed"
    assert bad.status_reason and bad.status_reason.startswith("Payload validation failed")
    detail = json.loads(bad.output or "")
    assert {tuple(e["loc"]) for e in detail["errors"]} == {("name",), ("times",)}

    raised = sdk.invocations.create(app_name="conformance", action_name="fail", version="latest")
    assert raised.status == "failed"
    assert "RuntimeError" in (raised.status_reason or "")
    assert "this action always fails" in json.loads(raised.output or "")["traceback"]

    weird = sdk.invocations.create(app_name="conformance", action_name="not-json",
                                   version="latest")
    assert weird.status == "failed"
    assert "not JSON-serialisable" in (weird.status_reason or "")


def test_error_statuses(sdk: Kernel, conformance: RunnerProcess) -> None:
    with pytest.raises(kernel.NotFoundError) as nf:
        sdk.invocations.create(app_name="nope", action_name="greet", version="latest")
    assert nf.value.body["code"] == "not_found"  # type: ignore[index]
    with pytest.raises(kernel.NotFoundError):
        sdk.invocations.create(app_name="conformance", action_name="nope", version="latest")
    with pytest.raises(kernel.NotFoundError) as nv:
        sdk.invocations.create(app_name="conformance", action_name="greet", version="v9")
    assert "latest" in nv.value.body["message"]  # type: ignore[index]
    with pytest.raises(kernel.NotFoundError):
        sdk.invocations.retrieve("a" * 24)
    with pytest.raises(kernel.BadRequestError) as br:
        sdk.invocations.create(app_name="conformance", action_name="echo", version="latest",
                               payload="{not json")
    assert br.value.body["code"] == "bad_request"  # type: ignore[index]
    for timeout in (9, 3601):
        with pytest.raises(kernel.BadRequestError):
            sdk.invocations.create(app_name="conformance", action_name="echo", version="latest",
                                   async_=True, async_timeout_seconds=timeout)
    big = json.dumps("x" * 4_600_000)
    with pytest.raises(kernel.BadRequestError) as too_big:
        sdk.invocations.create(app_name="conformance", action_name="echo", version="latest",
                               payload=big)
    assert "4.5 MB" in too_big.value.body["message"]  # type: ignore[index]


def test_list_pages_with_headers(sdk: Kernel, conformance: RunnerProcess) -> None:
    ids = [sdk.invocations.create(app_name="conformance", action_name="echo", version="latest",
                                  payload=str(i)).id for i in range(7)]
    seen = [inv.id for inv in sdk.invocations.list(app_name="conformance", action_name="echo",
                                                   limit=3)]
    assert seen == list(reversed(ids))  # newest first, every page followed
    with conformance.client() as http:
        r = http.get("/invocations", params={"action_name": "echo", "limit": 3, "offset": 3})
        assert r.headers["X-Limit"] == "3" and r.headers["X-Offset"] == "3"
        assert r.headers["X-Has-More"] == "true" and r.headers["X-Next-Offset"] == "6"
        last = http.get("/invocations", params={"action_name": "echo", "limit": 3,
                                                 "offset": 6})
        assert last.headers["X-Has-More"] == "false" and len(last.json()) == 1
        assert http.get("/invocations", params={"limit": 0}).status_code == 400
        assert http.get("/invocations", params={"limit": 101}).status_code == 400
        assert http.get("/invocations", params={"since": "yesterday"}).status_code == 400
    assert [i.id for i in sdk.invocations.list(query=ids[0][:10])] == [ids[0]]
    assert len(list(sdk.invocations.list(status="failed", action_name="echo"))) == 0
    assert len(list(sdk.invocations.list(since="5m", action_name="echo"))) == 7
    assert len(list(sdk.invocations.list(since="2000-01-01T00:00:00Z", version="v2"))) == 0


def test_update_finishes_and_is_final(sdk: Kernel) -> None:
    inv = sdk.invocations.create(app_name="conformance", action_name="sleep", version="latest",
                                 payload="1.5", async_=True)
    poll(lambda: sdk.invocations.retrieve(inv.id).status == "running")
    done = sdk.invocations.update(inv.id, status="succeeded", output='{"by": "hand"}')
    assert done.status == "succeeded" and done.output == '{"by": "hand"}'
    with pytest.raises(kernel.ConflictError):
        sdk.invocations.update(inv.id, status="failed")
    # The action's own return, a moment later, does not overwrite the final state.
    follow_until_quiet = sdk.invocations.retrieve(inv.id)
    assert follow_until_quiet.output == '{"by": "hand"}'


def test_cancel_like_kernel_cli(sdk: Kernel, conformance: RunnerProcess) -> None:
    inv = sdk.invocations.create(app_name="conformance", action_name="sleep", version="latest",
                                 payload="30", async_=True)
    poll(lambda: sdk.invocations.retrieve(inv.id).status == "running")
    out = sdk.invocations.update(inv.id, status="failed",
                                 output='{"error":"Invocation cancelled by user"}')
    assert out.status == "failed"
    assert out.status_reason == "Invocation cancelled by user"
    # The action was cancelled: the worker is free, and the next invocation runs at once.
    nxt = sdk.invocations.create(app_name="conformance", action_name="echo", version="latest",
                                 payload="1")
    assert nxt.status == "succeeded"


def test_follow_streams_logs_in_order_then_ends(sdk: Kernel) -> None:
    inv = sdk.invocations.create(app_name="conformance", action_name="logs", version="latest",
                                 payload='{"lines": 3}', async_=True)
    events = list(sdk.invocations.follow(inv.id))
    logs = [e.message for e in events if e.event == "log"]
    assert logs == [
        line for i in range(3)
        for line in (f"print {i}", f"WARNING conformance: logging {i}", f"ctx {i}")
    ]
    states = [e.invocation.status for e in events if e.event == "invocation_state"]
    assert states[-1] == "succeeded"
    # Following a finished invocation replays its logs and closes at once.
    again = list(sdk.invocations.follow(inv.id))
    assert [e.message for e in again if e.event == "log"] == logs
    assert again[-1].event == "invocation_state"


def test_follow_since_filters_logs(sdk: Kernel) -> None:
    inv = sdk.invocations.create(app_name="conformance", action_name="logs", version="latest",
                                 payload='{"lines": 2}')
    future = "2999-01-01T00:00:00Z"
    events = list(sdk.invocations.follow(inv.id, since=future))
    assert [e.event for e in events] == ["invocation_state"]


def test_sync_timeout_fails_and_cancels(sdk: Kernel) -> None:
    # The runner under test has --sync-timeout 3; the action would sleep for 20 minutes.
    inv = sdk.invocations.create(app_name="conformance", action_name="sleep", version="latest",
                                 payload="1200")
    assert inv.status == "failed"
    assert inv.status_reason == "Invocation timed out after 3 s"
    # Cancelled, not left running: its log has the start and nothing after it.
    logs = [e.message for e in sdk.invocations.follow(inv.id) if e.event == "log"]
    assert logs == ["sleeping 1200.0"]


def test_async_timeout(sdk: Kernel) -> None:
    inv = sdk.invocations.create(app_name="conformance", action_name="sleep", version="latest",
                                 payload="60", async_=True, async_timeout_seconds=10)
    events = list(sdk.invocations.follow(inv.id))
    final = events[-1]
    assert final.event == "invocation_state" and final.invocation.status == "failed"
    assert final.invocation.status_reason == "Invocation timed out after 10 s"


def meet_in(folder: Path, sdk: Kernel, action: str, count: int) -> list[str]:
    """Start ``count`` invocations that each finish only once all of them are running."""
    folder.mkdir()
    payload = json.dumps({"folder": str(folder), "count": count})
    return [sdk.invocations.create(app_name="conformance", action_name=action, version="latest",
                                   payload=payload, async_=True).id for _ in range(count)]


def test_concurrency_async_and_blocking(sdk: Kernel, tmp_path: Path) -> None:
    # Each invocation waits for all the others to be running: they can only succeed together.
    for action, count in (("meet", 40), ("meet-blocking", 8)):
        ids = meet_in(tmp_path / action, sdk, action, count)
        done = poll(lambda ids=ids: all(sdk.invocations.retrieve(i).status
                                        not in ("queued", "running") for i in ids)
                    and [sdk.invocations.retrieve(i) for i in ids], timeout=90, interval=0.1)
        assert isinstance(done, list)
        assert [(d.status, d.output) for d in done] == [("succeeded", str(count))] * count


def test_worker_crash_fails_only_its_invocations(sdk: Kernel) -> None:
    crashed = sdk.invocations.create(app_name="conformance", action_name="crash",
                                     version="latest")
    assert crashed.status == "failed"
    assert crashed.status_reason == "Worker crashed (exited with code 17)"
    after = sdk.invocations.create(app_name="conformance", action_name="echo", version="latest",
                                   payload='"back"')
    assert after.status == "succeeded" and after.output == '"back"'


def test_environment_and_context(sdk: Kernel, conformance: RunnerProcess) -> None:
    env = json.loads(sdk.invocations.create(app_name="conformance", action_name="env",
                                            version="latest").output or "")
    assert env["KERNEL_BASE_URL"] == conformance.url
    assert env["KERNEL_API_KEY"] and env["ENTRYPOINT_RELPATH"] == "main.py"
    inv = sdk.invocations.create(app_name="conformance", action_name="context", version="latest")
    ctx = json.loads(inv.output or "")
    assert ctx == {"invocation_id": inv.id, "app_name": "conformance", "action_name": "context",
                   "version": "latest", "cwd": str(conformance.cwd)}


def test_apps_list(sdk: Kernel) -> None:
    apps = list(sdk.apps.list())
    assert [a.app_name for a in apps] == ["conformance"]
    app = apps[0]
    assert app.version == "latest" and app.region == "aws.us-east-1a"
    greet = next(a for a in app.actions if a.name == "greet")
    assert greet.input_schema and greet.input_schema["required"] == ["name"]
    assert greet.output_schema and "message" in greet.output_schema["properties"]


def test_sync_requests_do_not_block_each_other(sdk: Kernel) -> None:
    slow_done = threading.Event()

    def slow() -> None:
        sdk.invocations.create(app_name="conformance", action_name="sleep", version="latest",
                               payload="1.5")
        slow_done.set()

    t = threading.Thread(target=slow)
    t.start()
    fast = sdk.invocations.create(app_name="conformance", action_name="echo", version="latest",
                                  payload="2")
    assert fast.status == "succeeded" and not slow_done.is_set()
    t.join(10)
    assert slow_done.is_set()
