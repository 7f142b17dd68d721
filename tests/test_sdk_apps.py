"""Apps written with the official ``kernel.App`` run unchanged on the runner."""

from __future__ import annotations

import json

from .helpers import RunnerProcess, sdk_client


def test_official_sdk_app_runs_unchanged(start_runner, app_copy) -> None:
    entry = app_copy("sdk_app.py")
    runner: RunnerProcess = start_runner(entry, cwd=entry.parent)
    k = sdk_client(runner)

    inv = k.invocations.create(app_name="sdk-app", action_name="get-page-title",
                               version="latest", payload='{"url": "http://example.test"}')
    assert inv.status == "succeeded"
    assert json.loads(inv.output or "") == {"title": "title of http://example.test"}
    logs = [e.message for e in k.invocations.follow(inv.id) if e.event == "log"]
    assert logs == ["fetching http://example.test"]

    who = k.invocations.create(app_name="sdk-app", action_name="whoami", version="latest")
    assert json.loads(who.output or "") == {"invocation_id": who.id,
                                            "context_type": "KernelContext",
                                            "relpath": "main.py"}

    # Kernel's templates rely on a missing payload arriving as None.
    none = k.invocations.create(app_name="sdk-app", action_name="nothing", version="latest")
    assert json.loads(none.output or "") == {"got": None}

    apps = list(k.apps.list())
    assert [a.app_name for a in apps] == ["sdk-app"]
    title = next(a for a in apps[0].actions if a.name == "get-page-title")
    assert title.input_schema and title.input_schema["required"] == ["url"]
