"""TypeScript apps written with the official ``@onkernel/sdk`` run on the runner: a Node
worker per generation, the same lifecycle, logs, errors, timeouts, cancels, reloads and
crash isolation as a Python app. Driven by the official ``kernel`` Python SDK and raw HTTP.

The app is ``tests/apps/ts_app``; its ``node_modules`` is the SDK the conformance tests
install (``tests/node``).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from kernel_actions.runner.engine.node_runtime import NodeUnavailable, choose_node

from .helpers import APPS, TESTS, RunnerProcess, invoke, poll, sdk_client

NODE_MODULES = TESTS / "node" / "node_modules"


def _typescript_node() -> str | None:
    """Why TypeScript apps can't run here, or None when they can."""
    try:
        runtime = choose_node()
    except NodeUnavailable as exc:
        return str(exc)
    if not runtime.strips_types:
        return f"{runtime.describe()}: no type stripping"
    if not (NODE_MODULES / "@onkernel" / "sdk").is_dir():
        return "tests/node/node_modules has no @onkernel/sdk (npm ci --prefix tests/node)"
    return None


pytestmark = pytest.mark.skipif(_typescript_node() is not None, reason=str(_typescript_node()))

APP = "ts-app"


@pytest.fixture
def ts_app(tmp_path: Path) -> Callable[..., Path]:
    """A copy of tests/apps/ts_app with the SDK installed; returns its index.ts."""

    def make(*, modules: bool = True) -> Path:
        folder = tmp_path / "ts_app"
        shutil.copytree(APPS / "ts_app", folder)
        if modules:
            (folder / "node_modules").symlink_to(NODE_MODULES, target_is_directory=True)
        return folder / "index.ts"

    return make


def logs_of(runner: RunnerProcess, inv_id: str) -> list[str]:
    k = sdk_client(runner)
    return [e.message for e in k.invocations.follow(inv_id) if e.event == "log"]


def test_invocations_logs_outputs_and_errors(start_runner, ts_app) -> None:
    entry = ts_app()
    runner: RunnerProcess = start_runner(entry, cwd=entry.parent)
    assert "Node v" in runner.output  # says which Node runs the app
    k = sdk_client(runner)

    inv = k.invocations.create(app_name=APP, action_name="echo", version="latest",
                               payload='{"text": "hi"}')
    assert inv.status == "succeeded", inv
    assert json.loads(inv.output or "") == {"text": "hi", "id": inv.id, "label": "label-v1"}
    assert logs_of(runner, inv.id) == ["echo hi", "to stderr", "partial line"]

    # A handler that is not async; a missing payload; the platform's environment.
    add = k.invocations.create(app_name=APP, action_name="add", version="latest",
                               payload='{"a": 2, "b": 3}')
    assert json.loads(add.output or "") == {"sum": 5}
    none = k.invocations.create(app_name=APP, action_name="nothing", version="latest")
    assert json.loads(none.output or "") == {"got": "undefined"}
    env = k.invocations.create(app_name=APP, action_name="env", version="latest")
    assert json.loads(env.output or "") == {"secret": None, "relpath": "index.ts"}

    # Asynchronous: 202 queued at once, then followed to its end.
    queued = k.invocations.create(app_name=APP, action_name="echo", version="latest",
                                  payload='{"text": "later"}', async_=True)
    assert queued.status == "queued"
    states = [e.invocation.status for e in k.invocations.follow(queued.id)
              if e.event == "invocation_state"]
    assert states[-1] == "succeeded"
    assert json.loads(k.invocations.retrieve(queued.id).output or "")["text"] == "later"

    # A thrown error: its type, message and stack, from the app's own line.
    boom = k.invocations.create(app_name=APP, action_name="boom", version="latest")
    assert boom.status == "failed"
    assert boom.status_reason == "Action raised RangeError: out of range: 42"
    detail = json.loads(boom.output or "")
    assert detail["error"] == "action_raised" and detail["type"] == "RangeError"
    assert detail["message"] == "RangeError: out of range: 42"
    throw_line = next(i for i, line in enumerate(entry.read_text().splitlines(), 1)
                      if "throw new RangeError" in line)
    assert f"index.ts:{throw_line}:" in detail["traceback"]
    assert "node_worker.mjs" not in detail["traceback"]

    bad = k.invocations.create(app_name=APP, action_name="not-json", version="latest")
    assert bad.status == "failed" and json.loads(bad.output or "")["error"] == "output_not_json"

    # Concurrent invocations keep their own log lines.
    a = k.invocations.create(app_name=APP, action_name="chatty", version="latest",
                             payload='{"name": "a", "n": 20}', async_=True)
    b = k.invocations.create(app_name=APP, action_name="chatty", version="latest",
                             payload='{"name": "b", "n": 20}', async_=True)
    assert logs_of(runner, a.id) == [f"a {i}" for i in range(20)]
    assert logs_of(runner, b.id) == [f"b {i}" for i in range(20)]

    apps = [app for app in k.apps.list() if app.app_name == APP]
    assert [sorted(x.name for x in app.actions) for app in apps] == [sorted([
        "echo", "add", "nothing", "boom", "hang", "wait-for", "version", "crash", "chatty",
        "env", "not-json"])]


def test_timeout_and_cancel_replace_the_worker(start_runner, ts_app) -> None:
    entry = ts_app()
    runner: RunnerProcess = start_runner(entry, "--sync-timeout", "2", cwd=entry.parent)
    k = sdk_client(runner)

    hung = k.invocations.create(app_name=APP, action_name="hang", version="latest")
    assert hung.status == "failed"
    assert hung.status_reason == "Invocation timed out after 2 s"
    assert logs_of(runner, hung.id) == ["hanging"]
    # A promise can't be stopped: the worker still running it is replaced.
    runner.wait_line("did not stop a cancelled action; replacing it")
    assert k.invocations.create(app_name=APP, action_name="version",
                                version="latest").output == '"v1"'

    # Cancelled as Kernel's CLI does: PATCH to failed.
    queued = k.invocations.create(app_name=APP, action_name="hang", version="latest",
                                  async_=True)
    poll(lambda: k.invocations.retrieve(queued.id).status == "running")
    with runner.client() as c:
        r = c.patch(f"/invocations/{queued.id}", json={
            "status": "failed", "output": '{"error": "Invocation cancelled by user"}'})
        assert r.status_code == 200, r.text
    done = k.invocations.retrieve(queued.id)
    assert done.status == "failed" and done.finished_at is not None
    runner.wait_for(lambda lines: sum("replacing it" in ln for ln in lines) == 2)
    after = k.invocations.create(app_name=APP, action_name="echo", version="latest",
                                 payload='{"text": "still here"}')
    assert after.status == "succeeded"


def test_a_reload_lets_the_invocation_in_flight_finish_on_its_generation(
        start_runner, ts_app, tmp_path: Path) -> None:
    entry = ts_app()
    runner: RunnerProcess = start_runner(entry, "--reload", cwd=entry.parent)
    gate = tmp_path / "gate"
    with runner.client() as c:
        held = invoke(c, "wait-for", json.dumps(str(gate)), app=APP, is_async=True)
        poll(lambda: c.get(f"/invocations/{held['id']}").json()["status"] == "running")
        entry.write_text(entry.read_text().replace('const VERSION = "v1"', 'const VERSION = "v2"'))
        runner.wait_line("generation 2 serves new invocations", timeout=30)
        assert invoke(c, "version", app=APP)["output"] == '"v2"'
        assert c.get(f"/invocations/{held['id']}").json()["status"] == "running"
        gate.write_text("go")
        finished = poll(lambda: (r := c.get(f"/invocations/{held['id']}").json())["status"]
                        != "running" and r)
        assert isinstance(finished, dict)
        assert finished["status"] == "succeeded" and finished["output"] == '"v1"'


def test_a_crash_fails_its_invocation_and_a_fresh_worker_serves(start_runner, ts_app) -> None:
    entry = ts_app()
    runner: RunnerProcess = start_runner(entry, cwd=entry.parent)
    k = sdk_client(runner)
    crash = k.invocations.create(app_name=APP, action_name="crash", version="latest")
    assert crash.status == "failed"
    assert crash.status_reason == "Worker crashed (exited with code 3)"
    assert json.loads(crash.output or "")["error"] == "worker_crashed"
    assert logs_of(runner, crash.id) == ["crashing"]
    again = k.invocations.create(app_name=APP, action_name="echo", version="latest",
                                 payload='{"text": "back"}')
    assert again.status == "succeeded"


def test_a_folder_entry_and_the_env_contract(start_runner, ts_app) -> None:
    entry = ts_app()
    folder = entry.parent
    (folder / ".env.example").write_text("MY_SECRET=\n")
    unset: RunnerProcess = start_runner(folder, cwd=folder)
    # Names in .env.example are checked before the code runs, as for a Python app.
    assert "MY_SECRET (listed in .env.example) is not set" in unset.output
    assert unset.stop() == 0
    (folder / ".env").write_text("MY_SECRET=s3cret\n")
    runner: RunnerProcess = start_runner(folder, cwd=folder)
    k = sdk_client(runner)
    env = k.invocations.create(app_name=APP, action_name="env", version="latest")
    assert json.loads(env.output or "") == {"secret": "s3cret", "relpath": "index.ts"}


def test_missing_node_modules_is_one_line(start_runner, ts_app) -> None:
    entry = ts_app(modules=False)
    runner: RunnerProcess = start_runner(entry, cwd=entry.parent)
    line = runner.wait_line("code failed to load")
    assert line.strip() == (f"code failed to load: node_modules is missing in {entry.parent}: "
                            "run `npm install` there")
    with runner.client() as c:
        r = c.post("/invocations", json={"app_name": APP, "action_name": "echo"})
        assert r.status_code == 404


def test_python_and_typescript_apps_side_by_side(start_runner, ts_app, app_copy,
                                                 tmp_path: Path) -> None:
    """One runner: a Python app live, a TypeScript app packaged and deployed to it. The
    deployment's dependencies resolve from a node_modules above the runner's data dir, so
    nothing is installed from the registry."""
    served = tmp_path / "served"
    served.mkdir()
    (served / "node_modules").symlink_to(NODE_MODULES, target_is_directory=True)
    py_entry = app_copy("sdk_app.py")
    runner: RunnerProcess = start_runner(py_entry, cwd=py_entry.parent,
                                         data_dir=served / "data")
    entry = ts_app()
    from kernel_actions.tooling.packaging import build_bundle

    report = build_bundle(entry, tmp_path / "ts-app.zip")
    assert report.entrypoint_rel_path == "index.ts"
    assert report.dependency_file == "package.json"
    assert "index.ts" in report.files and "lib/label.ts" in report.files
    assert not any(f.startswith("node_modules") for f in report.files)
    assert [a["name"] for a in report.manifest["apps"]] == [APP]
    assert runner.url is not None
    with httpx.Client(base_url=runner.url, timeout=60) as c:
        r = c.post("/deployments", files={"file": ("ts-app.zip", report.path.read_bytes(),
                                                   "application/zip")},
                   data={"entrypoint_rel_path": "index.ts", "version": "latest"})
        assert r.status_code == 201, r.text
        dep_id = r.json()["id"]
        found = poll(lambda: (d := c.get(f"/deployments/{dep_id}").json())["status"]
                     in ("running", "failed") and d, timeout=60)
    assert isinstance(found, dict) and found["status"] == "running", found
    k = sdk_client(runner)
    ts = k.invocations.create(app_name=APP, action_name="echo", version="latest",
                              payload='{"text": "ts"}')
    py = k.invocations.create(app_name="sdk-app", action_name="nothing", version="latest")
    assert json.loads(ts.output or "")["text"] == "ts"
    assert json.loads(py.output or "") == {"got": None}
    assert {a.app_name for a in k.apps.list()} == {APP, "sdk-app"}
