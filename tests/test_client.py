"""The API client, against canned answers: URLs and keys, errors and exit codes, SSE, paging."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from kernel_actions.tooling.client import (
    CANCEL_OUTPUT,
    ApiFailure,
    BadAnswer,
    BadRequest,
    RunnerClient,
    Unreachable,
)

Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler, **kwargs: str) -> RunnerClient:
    return RunnerClient(kwargs.pop("base_url", "http://api.test"),
                        transport=httpx.MockTransport(handler), **kwargs)


def test_base_url_and_key_come_from_the_argument_then_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KERNEL_BASE_URL", raising=False)
    monkeypatch.delenv("KERNEL_API_KEY", raising=False)
    local = RunnerClient()
    assert local.base_url == "http://127.0.0.1:8484" and local.is_local
    assert "Authorization" not in local.http.headers
    monkeypatch.setenv("KERNEL_BASE_URL", "https://api.example.com/")
    monkeypatch.setenv("KERNEL_API_KEY", "sk_env")
    remote = RunnerClient()
    assert remote.base_url == "https://api.example.com" and not remote.is_local
    assert remote.http.headers["Authorization"] == "Bearer sk_env"
    given = RunnerClient("http://localhost:9000", api_key="sk_arg")
    assert given.base_url == "http://localhost:9000"
    assert given.http.headers["Authorization"] == "Bearer sk_arg"
    with pytest.raises(BadRequest) as bad:
        RunnerClient("localhost:9000")
    assert bad.value.exit_code == 2


def test_requests_have_the_sdk_shapes() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "POST":
            return httpx.Response(202, json={"id": "i1", "action_name": "a", "status": "queued"})
        return httpx.Response(200, json={"id": "i1", "status": "failed"})

    c = client(handler, api_key="k")
    c.create_invocation("app", "a", payload='{"x": 1}', is_async=True, async_timeout=60)
    c.create_invocation("app", "a", version="2")
    c.cancel_invocation("i1")
    c.get_invocation("i1", detail=True)
    bodies = [json.loads(r.content) if r.content else None for r in seen]
    assert bodies[0] == {"app_name": "app", "action_name": "a", "version": "latest",
                         "payload": '{"x": 1}', "async": True, "async_timeout_seconds": 60}
    assert bodies[1] == {"app_name": "app", "action_name": "a", "version": "2"}
    assert seen[2].method == "PATCH" and bodies[2] == {"status": "failed",
                                                       "output": CANCEL_OUTPUT}
    assert json.loads(CANCEL_OUTPUT) == {"error": "Invocation cancelled by user"}
    assert seen[3].url.params["detail"] == "1"
    assert all(r.headers["Authorization"] == "Bearer k" for r in seen)


@pytest.mark.parametrize("status, body, message, code", [
    (404, {"code": "not_found", "message": "app 'x' not found"}, "not_found: app 'x' not found",
     4),
    (409, {"code": "conflict", "message": "final"}, "conflict: final", 4),
    (401, {"code": "unauthorized", "message": "missing API key"},
     "unauthorized: missing API key", 4),
    (500, {"code": "internal_error", "message": "boom"}, "internal_error: boom", 5),
    (502, "<html>bad gateway</html>", "bad_gateway: <html>bad gateway</html>", 5),
])
def test_error_answers_map_to_code_message_and_exit_code(
        status: int, body: object, message: str, code: int) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        return httpx.Response(status, json=body)

    with pytest.raises(ApiFailure) as failure:
        client(handler).get_invocation("x")
    assert failure.value.message == message
    assert failure.value.exit_code == code and failure.value.status == status


def test_rate_limits_say_when_to_retry() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, json={"code": "rate_limited", "message": "slow down"},
                              headers={"Retry-After": "3"})

    with pytest.raises(ApiFailure) as failure:
        client(handler).list_invocations()
    assert failure.value.message == "rate_limited: slow down (retry after 3 s)"


def test_an_answer_that_is_not_the_api_is_exit_5() -> None:
    with pytest.raises(BadAnswer) as bad:
        client(lambda r: httpx.Response(200, text="<html>hello</html>")).get_invocation("x")
    assert bad.value.exit_code == 5 and "did not answer JSON" in bad.value.message
    with pytest.raises(BadAnswer):
        client(lambda r: httpx.Response(200, json={"not": "a list"})).list_invocations()


def test_connection_refused_names_the_url_and_the_way_out() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    with pytest.raises(Unreachable) as local:
        client(refuse, base_url="http://127.0.0.1:8484").list_apps()
    assert local.value.exit_code == 3
    assert "cannot reach http://127.0.0.1:8484" in local.value.message
    assert "kernel-actions dev main.py" in local.value.message
    with pytest.raises(Unreachable) as remote:
        client(refuse, base_url="https://api.example.com").list_apps()
    assert "check KERNEL_BASE_URL or --api-url" in remote.value.message


def test_sse_events_are_the_data_lines_decoded() -> None:
    stream = (
        b": a comment\n\n"
        b'data: {"event":"invocation_state","invocation":{"status":"running"}}\n\n'
        b'data: {"event":"log",\ndata: "message":"two lines"}\n\n'
        b"event: ignored-field\n"
        b'data:{"event":"sse_heartbeat"}\n\n'
        b'data: {"event":"log","message":"last, no blank line"}'
    )

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/invocations/i1/events"
        assert request.url.params["since"] == "5m"
        return httpx.Response(200, content=stream,
                              headers={"Content-Type": "text/event-stream"})

    events = list(client(handler).follow("i1", since="5m"))
    assert [e["event"] for e in events] == ["invocation_state", "log", "sse_heartbeat", "log"]
    assert events[1]["message"] == "two lines"
    assert events[3]["message"] == "last, no blank line"


def test_a_stream_error_is_an_api_failure() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"code": "not_found", "message": "no invocation"})

    with pytest.raises(ApiFailure) as failure:
        list(client(handler).follow("nope"))
    assert failure.value.message == "not_found: no invocation"


def test_a_stream_that_is_not_json_is_a_bad_answer() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"data: <not json>\n\n")

    with pytest.raises(BadAnswer):
        list(client(handler).follow("i1"))


def test_paging_follows_the_headers() -> None:
    pages = {0: (["a", "b"], "true", "2"), 2: (["c", "d"], "true", "4"), 4: (["e"], "false", "0")}
    asked: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        asked.append(params)
        ids, more, nxt = pages[int(params.get("offset", "0"))]
        return httpx.Response(200, json=[{"id": i} for i in ids],
                              headers={"X-Has-More": more, "X-Next-Offset": nxt})

    c = client(handler)
    assert [i["id"] for i in c.iter_invocations(app_name="x", limit=2)] == list("abcde")
    assert all(p["app_name"] == "x" and p["limit"] == "2" for p in asked)
    page = c.list_invocations(offset=2, status=None)
    assert [i["id"] for i in page.items] == ["c", "d"] and page.has_more
    assert page.next_offset == 4 and "status" not in asked[-1]
    assert [a["id"] for a in c.list_apps()] == list("abcde")
