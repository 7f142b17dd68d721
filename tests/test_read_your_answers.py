"""A client reads what it was answered, though the answer did not wait for the commit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from kernel_actions.runner.engine import store as store_module

from .helpers import runner_in_process


def test_every_read_after_a_sync_answer_sees_it_before_the_lazy_commit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        app_copy: Callable[[str], Path]) -> None:
    # No commit comes by itself during this test: only reads can make one.
    monkeypatch.setattr(store_module, "LAZY_COMMIT_S", 3600.0)
    with runner_in_process(tmp_path, app_copy("conformance_app.py")) as runner, \
            httpx.Client(base_url=f"http://127.0.0.1:{runner.port}", timeout=60) as c:
        body = {"app_name": "conformance", "action_name": "echo", "payload": '{"n": 1}'}
        for read in ("list", "get", "events"):
            answered = c.post("/invocations", json=body)
            assert answered.status_code == 200, answered.text
            inv = answered.json()
            assert inv["status"] == "succeeded"
            if read == "list":
                ids = [i["id"] for i in c.get("/invocations", params={"limit": 100}).json()]
                assert inv["id"] in ids
            elif read == "get":
                got = c.get(f"/invocations/{inv['id']}").json()
                assert (got["status"], got["output"]) == ("succeeded", inv["output"])
            else:
                events = c.get(f"/invocations/{inv['id']}/events").text
                assert '"status":"succeeded"' in events.replace(" ", ""), events
