"""Hostile actions and hostile input: the runner stays up, bounded and truthful."""

from __future__ import annotations

import functools
import json

from .helpers import APPS, RunnerProcess, poll, send_invocation


def start(start_runner, tmp_path) -> RunnerProcess:
    folder = tmp_path / "hostile"
    folder.mkdir()
    entry = folder / "main.py"
    entry.write_text((APPS / "hostile_app.py").read_text())
    return start_runner(entry, "--sync-timeout", "2", cwd=folder)


post = functools.partial(send_invocation, app="hostile")


def test_a_million_lines_are_capped_and_the_runner_stays_responsive(start_runner, tmp_path):
    runner = start(start_runner, tmp_path)
    with runner.client() as c:
        inv = post(c, "flood", **{"async": True}).json()
        # While it floods, the API answers: health checks come back with the flood still
        # running. (How fast they come back is measured in benchmarks/bench_responsiveness.py.)
        answered_during_flood = 0
        while c.get(f"/invocations/{inv['id']}").json()["status"] in ("queued", "running"):
            assert c.get("/health").status_code == 200
            if c.get(f"/invocations/{inv['id']}").json()["status"] == "running":
                answered_during_flood += 1
        assert answered_during_flood > 0
        final = c.get(f"/invocations/{inv['id']}").json()
        assert final["status"] == "succeeded" and final["output"] == "1000000"
        with c.stream("GET", f"/invocations/{inv['id']}/events") as r:
            logs = [json.loads(ln[6:])["message"] for ln in r.iter_lines()
                    if ln.startswith("data: ") and '"event":"log"' in ln]
    assert len(logs) == 10_001
    assert logs[:2] == ["line 0", "line 1"] and logs[9_999] == "line 9999"
    assert logs[-1].startswith("[log truncated: more than 10000 lines")


def finished(c, action: str, payload: str | None = None) -> dict:
    """Run an action asynchronously (no sync timeout to race on a busy machine) to its end."""
    inv = post(c, action, payload, **{"async": True}).json()
    return poll(lambda: (r := c.get(f"/invocations/{inv['id']}").json())["status"]
                not in ("queued", "running") and r, timeout=60)  # type: ignore[return-value]


def test_huge_output_fails_with_a_clear_reason(start_runner, tmp_path):
    runner = start(start_runner, tmp_path)
    with runner.client() as c:
        inv = finished(c, "huge")
        assert inv["status"] == "failed"
        assert inv["status_reason"].startswith("Output too large (47.7 MB")
        assert finished(c, "huge", "1000")["status"] == "succeeded"


def test_deep_output_and_deep_payload(start_runner, tmp_path):
    runner = start(start_runner, tmp_path)
    with runner.client() as c:
        inv = finished(c, "deep")
        assert inv["status"] == "failed" and "not JSON-serialisable" in inv["status_reason"]
        r = post(c, "ok", "[" * 100_000 + "]" * 100_000)
        assert r.status_code == 400 and r.json()["code"] == "bad_request"
        assert post(c, "ok").json()["output"] == '"ok"'


def test_never_returning_action_times_out_and_the_next_one_runs(start_runner, tmp_path):
    runner = start(start_runner, tmp_path)
    with runner.client() as c:
        inv = post(c, "forever").json()
        assert inv["status"] == "failed"
        assert inv["status_reason"] == "Invocation timed out after 2 s"
        # The stuck thread can't be cancelled: its worker is replaced, new work runs.
        runner.wait_line("did not stop a cancelled action; replacing it", timeout=10)
        assert post(c, "ok").json()["status"] == "succeeded"
        poll(lambda: c.get("/apps").json()[0]["code_generation"] == 2)


def test_bad_requests_are_json_errors_never_5xx(start_runner, tmp_path):
    runner = start(start_runner, tmp_path)
    with runner.client() as c:
        cases = [
            ("POST", "/invocations", b"not json"),
            ("POST", "/invocations", b"[]"),
            ("POST", "/invocations", b""),
            ("POST", "/invocations", json.dumps({"app_name": 5, "action_name": "ok"}).encode()),
            ("POST", "/invocations", json.dumps({"app_name": "hostile"}).encode()),
            ("POST", "/invocations", json.dumps({"app_name": "hostile", "action_name": "ok",
                                                 "payload": {"not": "a string"}}).encode()),
            ("POST", "/invocations", json.dumps({"app_name": "hostile", "action_name": "ok",
                                                 "async": "yes"}).encode()),
            ("PATCH", "/invocations/nope", json.dumps({"status": "done"}).encode()),
            ("PATCH", "/invocations/nope", json.dumps({"status": "failed",
                                                       "output": "{bad"}).encode()),
            ("GET", "/invocations?limit=abc", b""),
            ("GET", "/invocations?offset=-1", b""),
            ("GET", "/invocations?status=weird", b""),
            ("GET", "/invocations/does-not-exist/events", b""),
            ("DELETE", "/invocations", b""),
            ("GET", "/no/such/route", b""),
        ]
        for method, path, body in cases:
            r = c.request(method, path, content=body)
            assert 400 <= r.status_code < 500, (method, path, r.status_code, r.text)
            assert set(r.json()) >= {"code", "message"}, (method, path, r.text)
