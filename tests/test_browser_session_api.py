"""The rest of a browser's session API through the official Python SDK: ``update``
(PATCH), listing deleted browsers, ``logs.stream`` and ``curl``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from kernel import BadRequestError, ConflictError, Kernel, NotFoundError

from kernel_actions.runner.browsers.service import find_chromium
from kernel_actions.runner.errors import ApiError

from .conftest import RunnerProcess, http_server

try:
    CHROMIUM: str | None = find_chromium()
except ApiError:
    CHROMIUM = None

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium or Chrome on this machine"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux"),
]


@pytest.fixture
def k(start_runner: Callable[..., RunnerProcess]) -> Kernel:
    runner = start_runner(None, command="serve")
    return Kernel(base_url=runner.url, api_key="local", max_retries=0)


def test_update_renames_retags_and_navigates(k: Kernel) -> None:
    from playwright.sync_api import sync_playwright

    one = k.browsers.create(name="one", tags={"team": "qa"}, timeout_seconds=60)
    k.browsers.create(name="two", timeout_seconds=60)
    updated = k.browsers.update(one.session_id, name="renamed", tags={"env": "dev"})
    assert updated.name == "renamed" and updated.tags == {"env": "dev"}
    assert k.browsers.retrieve("renamed").session_id == one.session_id
    with pytest.raises(NotFoundError):
        k.browsers.retrieve("one")
    assert [b.session_id for b in k.browsers.list(tags={"env": "dev"})] == [one.session_id]
    with pytest.raises(ConflictError):
        k.browsers.update(one.session_id, name="two")
    with pytest.raises(BadRequestError):
        k.browsers.update(one.session_id, tags={"n": 1})  # type: ignore[dict-item]
    with pytest.raises(BadRequestError):
        k.browsers.update(one.session_id, profile={"name": "p"})
    # A bad field changes nothing.
    assert k.browsers.retrieve(one.session_id).name == "renamed"
    # timeout_seconds (a local extra) and clearing name and tags.
    cleared = k.browsers.update(one.session_id, name="", tags={},
                                extra_body={"timeout_seconds": 120})
    assert cleared.name is None and cleared.tags is None and cleared.timeout_seconds == 120

    with http_server(lambda path: (200, "text/html", b"<title>Moved</title>")) as url:
        k.browsers.update(one.session_id, start_url=url + "/")
        with sync_playwright() as pw:
            chromium = pw.chromium.connect_over_cdp(one.cdp_ws_url)
            page = chromium.contexts[0].pages[0]
            page.wait_for_function("document.title === 'Moved'", timeout=20_000)
            chromium.close()


def test_deleted_browsers_are_listed_with_deleted_at(k: Kernel) -> None:
    gone = k.browsers.create(name="gone", timeout_seconds=60)
    kept = k.browsers.create(timeout_seconds=60)
    k.browsers.delete_by_id(gone.session_id)
    active = [b.session_id for b in k.browsers.list()]
    assert active == [kept.session_id]
    deleted = k.browsers.list(status="deleted").items
    assert [b.session_id for b in deleted] == [gone.session_id]
    assert deleted[0].deleted_at is not None and deleted[0].name == "gone"
    everything = k.browsers.list(include_deleted=True).items
    assert {b.session_id for b in everything} == {gone.session_id, kept.session_id}
    assert {b.session_id for b in k.browsers.list(status="all", query="gone")} == {
        gone.session_id}
    assert next(b for b in everything if b.session_id == kept.session_id).deleted_at is None


def test_logs_stream_reads_a_file_and_chromium_output(k: Kernel, tmp_path: Path) -> None:
    browser = k.browsers.create(timeout_seconds=60)
    bid = browser.session_id
    k.browsers.fs.write_file(bid, b"first line\nsecond line\nno newline", path="/var/app.log")
    lines = [e.message for e in k.browsers.logs.stream(bid, source="path", path="/var/app.log")]
    assert lines == ["first line", "second line", "no newline"]
    assert all(e.event == "log" for e in k.browsers.logs.stream(
        bid, source="supervisor", supervisor_process="chromium"))
    with pytest.raises(NotFoundError):
        list(k.browsers.logs.stream(bid, source="supervisor", supervisor_process="nginx"))
    with pytest.raises(NotFoundError):
        list(k.browsers.logs.stream(bid, source="path", path="/no/file"))
    with pytest.raises(BadRequestError):
        list(k.browsers.logs.stream(bid, source="bogus"))  # type: ignore[arg-type]

    # follow: lines appended later arrive on the open stream.
    seen: list[str] = []
    stream = k.browsers.logs.stream(bid, source="path", path="/var/app.log", follow=True)
    iterator = iter(stream)
    for _ in range(2):  # the unfinished last line waits for its end
        seen.append(next(iterator).message)
    assert seen == ["first line", "second line"]
    with open(tmp_path / "data" / "browsers" / bid / "fs" / "var" / "app.log", "ab") as f:
        f.write(b"\nappended\n")
    seen += [next(iterator).message, next(iterator).message]
    assert seen[2:] == ["no newline", "appended"]
    stream.response.close()
