"""What a client is told is committed first: the database file holds a sync answer's,
a PATCH answer's and a followed stream's final state before the client has it, with no
lazy commit and no read through the API in between; every read then agrees."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from kernel_actions.runner.engine import store as store_module

from .helpers import runner_in_process


def stored(db: Path, inv_id: str) -> tuple[str, str | None] | None:
    """The row as another process would read it from the file (not through the runner)."""
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT status, output FROM invocations WHERE id=?",
                           (inv_id,)).fetchone()
    return (row[0], row[1]) if row else None


def test_every_answer_is_in_the_database_before_the_client_has_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        app_copy: Callable[[str], Path]) -> None:
    # No lazy commit comes by itself during this test.
    monkeypatch.setattr(store_module, "LAZY_COMMIT_S", 3600.0)
    with runner_in_process(tmp_path, app_copy("conformance_app.py")) as runner, \
            httpx.Client(base_url=f"http://127.0.0.1:{runner.port}", timeout=60) as c:
        db = runner.config.db_path
        body = {"app_name": "conformance", "action_name": "echo", "payload": '{"n": 1}'}
        for read in ("list", "get", "events"):
            answered = c.post("/invocations", json=body)
            assert answered.status_code == 200, answered.text
            inv = answered.json()
            assert inv["status"] == "succeeded"
            assert stored(db, inv["id"]) == ("succeeded", inv["output"])
            if read == "list":
                ids = [i["id"] for i in c.get("/invocations", params={"limit": 100}).json()]
                assert inv["id"] in ids
            elif read == "get":
                got = c.get(f"/invocations/{inv['id']}").json()
                assert (got["status"], got["output"]) == ("succeeded", inv["output"])
            else:
                events = c.get(f"/invocations/{inv['id']}/events").text
                assert '"status":"succeeded"' in events.replace(" ", ""), events

        # An async invocation: its 202 after its insert, its PATCH answer after the update.
        queued = c.post("/invocations", json={**body, "action_name": "sleep",
                                              "payload": "30", "async": True})
        assert queued.status_code == 202, queued.text
        inv_id = queued.json()["id"]
        assert stored(db, inv_id) is not None
        with c.stream("GET", f"/invocations/{inv_id}/events") as events:
            patched = c.patch(f"/invocations/{inv_id}",
                              json={"status": "failed", "output": '{"error": "stop"}'})
            assert patched.status_code == 200, patched.text
            assert stored(db, inv_id) == ("failed", '{"error": "stop"}')
            seen = ""
            for chunk in events.iter_text():
                seen += chunk
                if '"failed"' in seen:
                    break
        assert stored(db, inv_id) == ("failed", '{"error": "stop"}')
