"""Scheduler faults: a worker crash with work queued, time spent queued, poisoned text."""

from __future__ import annotations

import json
import os
import random
import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from .helpers import RunnerProcess, all_invocations, poll


def post(c: httpx.Client, action: str, payload: str | None = None, **extra: object) -> dict:
    body: dict = {"app_name": "conformance", "action_name": action, **extra}
    if payload is not None:
        body["payload"] = payload
    r = c.post("/invocations", json=body)
    assert r.status_code in (200, 202), r.text
    return r.json()


def status_of(c: httpx.Client, inv_id: str) -> dict:
    r = c.get(f"/invocations/{inv_id}", params={"detail": 1})
    assert r.status_code == 200, r.text
    return r.json()


def test_worker_crash_with_work_queued_fails_only_what_ran_and_runs_the_rest(
        start_runner: Callable[..., RunnerProcess], app_copy: Callable[[str], Path]) -> None:
    entry = app_copy("conformance_app.py")
    runner = start_runner(entry, "--max-concurrency", "2", cwd=entry.parent)
    with runner.client() as c:
        sleeps = [post(c, "sleep", "30", **{"async": True})["id"] for _ in range(2)]
        poll(lambda: all(status_of(c, i)["status"] == "running" for i in sleeps))
        echoes = [post(c, "echo", json.dumps(n), **{"async": True})["id"] for n in range(3)]
        assert all(status_of(c, i)["status"] == "queued" for i in echoes)
        pid = c.get("/_runner/status").json()["live"]["pid"]
        os.kill(pid, signal.SIGKILL)
        # The two that ran in the dead worker fail, at once, with the reason.
        poll(lambda: all(status_of(c, i)["status"] == "failed" for i in sleeps), timeout=15)
        for i in sleeps:
            assert status_of(c, i)["status_reason"] == "Worker crashed (killed by SIGKILL)"
        # Every queued one runs on the replacement (not on the dead worker, not dropped).
        poll(lambda: all(status_of(c, i)["status"] == "succeeded" for i in echoes), timeout=30)
        assert [status_of(c, i)["output"] for i in echoes] == ["0", "1", "2"]
        assert {status_of(c, i)["code_generation"] for i in echoes} == {2}
        # Nothing holds a slot: two new sync calls run side by side.
        with ThreadPoolExecutor(2) as pool:
            done = list(pool.map(lambda n: post(c, "echo", json.dumps(n)), range(2)))
        assert [d["status"] for d in done] == ["succeeded", "succeeded"]
        assert c.get("/_runner/status").json()["running"] == 0


def test_sync_timeout_spent_queued_says_so(
        start_runner: Callable[..., RunnerProcess], app_copy: Callable[[str], Path]) -> None:
    entry = app_copy("conformance_app.py")
    runner = start_runner(entry, "--max-concurrency", "1", "--sync-timeout", "2",
                          cwd=entry.parent)
    with runner.client() as c:
        busy = post(c, "sleep", "30", **{"async": True})
        poll(lambda: status_of(c, busy["id"])["status"] == "running")
        waited = post(c, "echo", '"never ran"')
        assert waited["status"] == "failed"
        assert waited["status_reason"] == (
            "Invocation timed out while queued after 2 s (all 1 concurrency slots were busy)")
        assert json.loads(waited["output"])["error"] == "timed_out"
        detail = status_of(c, waited["id"])
        assert detail["running_at"] is None and detail["code_generation"] is None
        # One that ran out of time while running still says plainly that it timed out.
        c.patch(f"/invocations/{busy['id']}", json={"status": "succeeded", "output": "1"})
        ran = post(c, "sleep", "30")
        assert ran["status_reason"] == "Invocation timed out after 2 s"


# A JSON body whose payload text holds a lone surrogate (decoded: "\ud800" in the str).
RAW_SURROGATE = (b'{"app_name": "conformance", "action_name": "echo", "async": %s, '
                 b'"payload": "\\"\\ud800\\""}')
# The payload is JSON text whose string escapes a lone surrogate.
ESCAPED_SURROGATE = {"app_name": "conformance", "action_name": "echo", "async": True,
                     "payload": '"\\udc00 alone"'}


def test_poisoned_text_among_valid_requests_fails_alone(
        start_runner: Callable[..., RunnerProcess], app_copy: Callable[[str], Path],
        tmp_path: Path) -> None:
    entry = app_copy("conformance_app.py")
    data = tmp_path / "poison-data"
    runner = start_runner(entry, "--max-concurrency", "20", cwd=entry.parent, data_dir=data)
    kinds = ["valid-async"] * 200 + ["valid-sync"] * 200 + ["raw"] * 15 + ["escaped"] * 15 + [
        "name"] * 5 + ["patch"] * 5
    random.Random(12).shuffle(kinds)
    headers = {"Content-Type": "application/json"}

    # One client for all threads (a client apiece costs more than the requests).
    shared = runner.client(limits=httpx.Limits(max_connections=16))

    def send(job: tuple[int, str]) -> tuple[str, int, dict]:
        n, kind = job
        c = shared
        if kind == "raw":
            r = c.post("/invocations", content=RAW_SURROGATE % b"true", headers=headers)
        elif kind == "escaped":
            r = c.post("/invocations", json=ESCAPED_SURROGATE)
        elif kind == "name":
            r = c.post("/invocations", headers=headers, content=(
                b'{"app_name": "conformance", "action_name": "echo\\udfff"}'))
        elif kind == "patch":
            target = post(c, "sleep", "60", **{"async": True})["id"]
            r = c.patch(f"/invocations/{target}", headers=headers,
                        content=b'{"status": "succeeded", "output": "\\"\\ud83d\\""}')
            assert status_of(c, target)["status"] in ("queued", "running")  # unchanged
            ok = c.patch(f"/invocations/{target}",
                         json={"status": "succeeded", "output": '"fine"'})
            assert ok.status_code == 200, ok.text
        else:
            r = c.post("/invocations", json={
                "app_name": "conformance", "action_name": "echo",
                "payload": json.dumps({"n": n}), "async": kind == "valid-async"})
        return kind, r.status_code, r.json()

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(send, enumerate(kinds)))
    shared.close()

    acknowledged: dict[str, int] = {}
    for n, (kind, code, body) in enumerate(results):
        if kind.startswith("valid"):
            assert code == (202 if kind == "valid-async" else 200), (kind, code, body)
            acknowledged[body["id"]] = n
            if kind == "valid-sync":
                assert body["status"] == "succeeded" and json.loads(body["output"]) == {"n": n}
        else:
            assert code == 400, (kind, code, body)
            assert body["code"] == "bad_request"
            field = {"raw": "'payload'", "escaped": "'payload'", "name": "'action_name'",
                     "patch": "'output'"}[kind]
            assert body["message"].startswith(field) and "lone surrogate" in body["message"]
    assert len(acknowledged) == 400

    with runner.client() as c:
        poll(lambda: not c.get("/invocations", params={"status": "running", "limit": 1}).json()
             and not c.get("/invocations", params={"status": "queued", "limit": 1}).json(),
             timeout=60, interval=0.1)
        assert c.get("/_runner/status").json()["running"] == 0
    runner.kill()  # durable means it survives this

    again = start_runner(entry, cwd=entry.parent, data_dir=data)
    with again.client() as c:
        stored = {i["id"]: i for i in all_invocations(c)}
    for inv_id, n in acknowledged.items():
        assert stored[inv_id]["status"] == "succeeded", stored[inv_id]
        assert json.loads(stored[inv_id]["output"]) == {"n": n}
    # Nothing of the refused requests was kept; the patched sleeps were.
    assert len(stored) == len(acknowledged) + kinds.count("patch")
