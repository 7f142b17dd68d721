"""Browser telemetry through the official SDK: a page load and a click on a real Chromium,
as ``browsers.telemetry.events`` (paged and filtered) and ``browsers.telemetry.stream``; and
the per-browser buffer's bounds."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from kernel import BadRequestError, Kernel, NotFoundError
from kernel.types.browsers import (
    BrowserAPICallEvent,
    BrowserCdpConnectEvent,
    BrowserConsoleLogEvent,
    BrowserInteractionClickEvent,
    BrowserNetworkRequestEvent,
    BrowserNetworkResponseEvent,
    BrowserPageLoadEvent,
)

from kernel_actions.runner.browsers.telemetry import MAX_STRING_BYTES, TelemetryLog

from .conftest import NEEDS_CHROMIUM, RunnerProcess, http_server, poll
from .helpers import sdk_client, serve_runner

PAGE = (b"<!doctype html><html><head><title>Telemetry</title><style>body{margin:0}"
        b"#go{position:fixed;left:0;top:100px;width:100%;height:260px;font-size:40px}</style>"
        b"</head><body><button id='go' onclick=\"console.log('clicked', 7)\">Press me</button>"
        b"</body></html>")
BUTTON_Y = 230


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with http_server(lambda path: (200, "text/html; charset=utf-8", PAGE)) as url:
        yield url


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunnerProcess]:
    with serve_runner(tmp_path_factory.mktemp("telemetry")) as proc:
        yield proc


@pytest.fixture(scope="module")
def k(runner: RunnerProcess) -> Kernel:
    return sdk_client(runner, timeout=120)


def events(k: Kernel, browser: str, **filters: Any) -> list[Any]:
    return list(k.browsers.telemetry.events(browser, limit=1000, **filters))


@pytest.fixture(scope="module")
def loaded_and_clicked(k: Kernel, site: str) -> Iterator[tuple[str, str]]:
    """A browser that loaded the page and whose button was clicked through computer
    controls; its id and the page's URL."""
    browser = k.browsers.create(timeout_seconds=600).session_id
    url = site + "/page"
    reply = k.browsers.playwright.execute(browser, code=(
        f"await page.goto({url!r}); "
        "return await page.evaluate(() => Math.max(0, screen.height - innerHeight))"))
    assert reply.success, reply.error
    top = int(reply.result)  # type: ignore[arg-type]

    def clicked() -> bool:
        # Chromium takes input once the page is painted: click until the page saw one.
        k.browsers.computer.click_mouse(browser, x=400, y=top + BUTTON_Y)
        try:
            return bool(poll(lambda: events(k, browser, type=["interaction_click"]), timeout=1))
        except AssertionError:
            return False

    poll(clicked, timeout=30)
    yield browser, url
    k.browsers.delete_by_id(browser)


@NEEDS_CHROMIUM
def test_a_page_load_and_a_click_are_telemetry_events(
        k: Kernel, loaded_and_clicked: tuple[str, str]) -> None:
    browser, url = loaded_and_clicked
    every = events(k, browser)
    seqs = [e.seq for e in every]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    # The load: the document's request and response, and the load event of the page.
    loads = [e.event for e in every if isinstance(e.event, BrowserPageLoadEvent)]
    assert any(ev.data and ev.data.url == url for ev in loads), loads
    requests = [e.event for e in every if isinstance(e.event, BrowserNetworkRequestEvent)]
    document = next(ev for ev in requests if ev.data and ev.data.url == url)
    assert document.data and document.data.method == "GET"
    assert document.data.resource_type == "Document" and document.source.kind == "cdp"
    responses = [e.event for e in every if isinstance(e.event, BrowserNetworkResponseEvent)]
    answered = next(ev for ev in responses
                    if ev.data and ev.data.request_id == document.data.request_id)
    assert answered.data and answered.data.status == 200
    assert answered.data.mime_type == "text/html"
    # The click: seen by the page, its console line, and the runner's own record of it.
    click = next(e.event for e in every if isinstance(e.event, BrowserInteractionClickEvent))
    assert click.data and click.data.tag == "BUTTON" and click.data.text == "Press me"
    assert click.data.selector and click.data.selector.endswith("#go")
    logs = [e.event for e in every if isinstance(e.event, BrowserConsoleLogEvent)]
    assert any(ev.data and ev.data.args == ["clicked", "7"] for ev in logs), logs
    calls = [e.event for e in every if isinstance(e.event, BrowserAPICallEvent)]
    clicks = [ev for ev in calls if ev.data and ev.data.operation_id == "ClickMouse"]
    assert clicks and all(ev.data and ev.data.status == 204 for ev in clicks)
    executed = next(ev for ev in calls if ev.data and ev.data.operation_id
                    == "ExecutePlaywrightCode")
    assert executed.data and executed.data.code and url in executed.data.code
    # The executor's DevTools connection (a client from outside, like a user's Playwright).
    assert any(isinstance(e.event, BrowserCdpConnectEvent) for e in every)


@NEEDS_CHROMIUM
def test_events_page_filter_and_read_backwards(
        k: Kernel, loaded_and_clicked: tuple[str, str]) -> None:
    browser, _ = loaded_and_clicked
    every = [e.seq for e in events(k, browser)]
    assert len(every) > 6
    # The SDK's pager walks the cursor three at a time and gets every event once (the page
    # may still add events meanwhile: they come after those read before).
    forward = [e.seq for e in k.browsers.telemetry.events(browser, limit=3)]
    assert forward[:len(every)] == every and forward == sorted(set(forward))
    backwards = [e.seq for e in k.browsers.telemetry.events(browser, limit=3, order="desc")]
    assert backwards[len(backwards) - len(every):] == every[::-1]
    assert backwards == sorted(set(backwards), reverse=True)
    pages = k.browsers.telemetry.with_raw_response.events(browser, limit=2)
    assert pages.headers["X-Has-More"] == "true" and pages.headers["X-Next-Offset"] != "0"
    # Filters apply within the page.
    network = events(k, browser, category=["network"])
    assert network and all(e.event.category == "network" for e in network)
    typed = events(k, browser, category=["page"], type=["page_load"])
    assert typed and all(e.event.type == "page_load" for e in typed)
    assert events(k, browser, since="2000-01-01T00:00:00Z", until="2000-01-02T00:00:00Z") == []
    with pytest.raises(BadRequestError, match="order=desc"):
        events(k, browser, order="desc", since="5m")
    with pytest.raises(BadRequestError, match="category"):
        k.browsers.telemetry.with_raw_response.events(browser, category=["nope"])  # type: ignore[list-item]
    with pytest.raises(NotFoundError):
        events(k, "no-such-browser")


@NEEDS_CHROMIUM
def test_the_stream_replays_resumes_and_ends_with_the_browser(k: Kernel, site: str) -> None:
    browser = k.browsers.create(timeout_seconds=600).session_id
    seen: list[Any] = []
    ended = threading.Event()

    def follow() -> None:
        try:
            for envelope in k.browsers.telemetry.stream(browser, replay="all"):
                seen.append(envelope)
        finally:
            ended.set()

    threading.Thread(target=follow, daemon=True).start()
    k.browsers.playwright.execute(browser, code=f"await page.goto({site + '/streamed'!r})")
    poll(lambda: any(isinstance(e.event, BrowserPageLoadEvent) for e in seen), timeout=30)
    assert [e.seq for e in seen] == sorted(e.seq for e in seen)
    # Resuming after an event gives what came after it, and only that.
    middle = seen[len(seen) // 2].seq
    resumed = k.browsers.telemetry.with_streaming_response.stream(
        browser, last_event_id=str(middle), type=["page_load"])
    with resumed as response:
        lines = response.iter_lines()
        data = next(line for line in lines if line.startswith("data:"))
    assert '"type":"page_load"' in data
    assert int(data.split('"seq":')[1].rstrip("}")) > middle
    k.browsers.delete_by_id(browser)
    assert ended.wait(30), "the stream did not end when its browser closed"


def test_a_browsers_buffer_is_bounded_and_strings_are_capped() -> None:
    log = TelemetryLog(max_events=100, max_bytes=50_000)
    for i in range(1000):
        log.add("console", "console_log", {"kind": "cdp"}, {"text": f"line {i}"})
    assert len(log.records) == 100 and log.seq == 1000
    assert [r.seq for r in log.after(995)] == [996, 997, 998, 999, 1000]
    assert log.after(0)[0].seq == 901  # what was evicted is gone; the rest follows
    big = log.add("console", "console_log", {"kind": "cdp"}, {"text": "é" * 20_000})
    assert big is not None and '"truncated":true' in big.json
    assert big.json.count("é") * 2 < MAX_STRING_BYTES and "...[truncated]" in big.json
    for _ in range(200):
        log.add("network", "network_request", {"kind": "cdp"}, {"post_data": "x" * 5000})
    assert log.bytes <= 50_000 and sum(len(r.json) for r in log.records) == log.bytes
    log.enabled.discard("network")
    assert log.add("network", "network_idle", {"kind": "cdp"}) is None
    log.close()
    assert log.add("console", "console_log", {"kind": "cdp"}) is None

