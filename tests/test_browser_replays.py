"""Replays through the official Python SDK: a real Chromium's virtual screen (or, without
one, its screencast), encoded to an MP4 that PyAV decodes into the frames it showed."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import av
import httpx
import pytest
from kernel import ConflictError, Kernel, NotFoundError

from kernel_actions.runner.browsers.replays import parse_start
from kernel_actions.runner.errors import ApiError

from .conftest import RunnerProcess, poll

# A fresh browser shows the New Tab page (a chrome:// page, where Trusted Types refuse
# setContent's document.write): each script starts from a blank page of its own.
BLANK = "await page.goto('about:blank');"
PAINT = (BLANK + "await page.setContent('<body style=\"margin:0;background:rgb(230,20,20)\"></body>');"
         "await new Promise(r => setTimeout(r, 800));"
         "await page.evaluate(() => document.body.style.background = 'rgb(20,20,230)');"
         "await new Promise(r => setTimeout(r, 800)); return 1")


@pytest.fixture
def runner(start_runner: Callable[..., RunnerProcess]) -> RunnerProcess:
    return start_runner(None, command="serve")


def sdk(runner: RunnerProcess) -> Kernel:
    return Kernel(base_url=runner.url, api_key="local", max_retries=0, timeout=120)


def colour(frame: av.VideoFrame) -> str:
    """'red', 'blue' or 'other': the colour low on the frame's left, inside the page and
    away from the pointer (which starts in the middle of a virtual screen)."""
    plane = frame.reformat(format="rgb24").planes[0]
    at = (frame.height * 3 // 4) * plane.line_size + (frame.width // 4) * 3
    r, g, b = bytes(plane)[at:at + 3]
    if r > 150 and b < 100 and g < 100:
        return "red"
    if b > 150 and r < 100 and g < 100:
        return "blue"
    return "other"


def test_a_replay_is_a_video_of_what_the_page_showed(runner: RunnerProcess,
                                                     tmp_path: Path) -> None:
    k = sdk(runner)
    bid = k.browsers.create(viewport={"width": 640, "height": 480}).session_id
    replay = k.browsers.replays.start(bid, framerate=10)
    assert replay.started_at is not None and replay.finished_at is None
    assert replay.replay_view_url == f"{runner.url}/_dashboard/replays/{bid}/{replay.replay_id}"
    painted = k.browsers.playwright.execute(bid, code=PAINT)
    assert painted.success, painted.error
    k.browsers.replays.stop(replay.replay_id, id_or_name=bid)

    [listed] = k.browsers.replays.list(bid)
    assert listed.replay_id == replay.replay_id and listed.finished_at is not None
    # Proxy headers from a loopback client change nothing: no proxy stands before a runner.
    proxied = httpx.get(f"{runner.url}/browsers/{bid}/replays",
                        headers={"X-Forwarded-Proto": "https",
                                 "X-Forwarded-For": "203.0.113.9"})
    assert proxied.status_code == 200
    assert [r["replay_view_url"] for r in proxied.json()] == [listed.replay_view_url]
    data = k.browsers.replays.download(replay.replay_id, id_or_name=bid).read()
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        frames = list(container.decode(stream))
    # The page area, as the page itself measures it (the window is 640×480).
    inner = k.browsers.playwright.execute(
        bid, code="return await page.evaluate(() => [innerWidth, innerHeight])").result
    assert isinstance(inner, list) and inner[0] == 640 and 0 < inner[1] <= 480
    display = httpx.get(f"{runner.url}/_runner/status").json()["browsers"]["display"]
    if display == "xvfb":  # the whole screen, the browser's tabs and address bar included
        assert (frames[0].width, frames[0].height) == (640, 480)
        assert inner[1] < 480
    else:  # the page, from the screencast
        assert (frames[0].width, frames[0].height) == (inner[0], inner[1] - inner[1] % 2)
    colours = [colour(f) for f in frames]
    assert len(frames) >= 10, colours  # 1.6 s of painting at 10 fps, at least
    assert "red" in colours and "blue" in colours, colours
    assert colours.index("red") < len(colours) - 1 - colours[::-1].index("blue")
    assert colours[-1] == "blue"

    # The dashboard plays it.
    page = httpx.get(listed.replay_view_url or "")
    assert page.status_code == 200 and "<video" in page.text
    video = httpx.get(f"{listed.replay_view_url}/video")
    assert video.status_code == 200 and video.content == data

    # A second recording with a short limit stops by itself; both are listed.
    short = k.browsers.replays.start(bid, max_duration_in_seconds=1, framerate=2)
    poll(lambda: all(r.finished_at for r in k.browsers.replays.list(bid)), timeout=20)
    assert [r.replay_id for r in k.browsers.replays.list(bid)] == [
        replay.replay_id, short.replay_id]
    short_video = k.browsers.replays.download(short.replay_id, id_or_name=bid).read()
    with av.open(io.BytesIO(short_video)) as container:
        assert len(list(container.decode(video=0))) >= 1

    # Recordings stop with their browser; the videos stay, so a replay_view_url an app
    # returns after deleting its browser still plays (as Kernel's templates do).
    folder = tmp_path / "data" / "replays" / bid
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"{replay.replay_id}.mp4", f"{short.replay_id}.mp4"])
    running = k.browsers.replays.start(bid)
    k.browsers.delete_by_id(bid)
    poll(lambda: all(r.finished_at for r in k.browsers.replays.list(bid)), timeout=30)
    assert [r.replay_id for r in k.browsers.replays.list(bid)] == [
        replay.replay_id, short.replay_id, running.replay_id]
    assert k.browsers.replays.download(replay.replay_id, id_or_name=bid).read() == data
    after = k.browsers.replays.download(running.replay_id, id_or_name=bid).read()
    with av.open(io.BytesIO(after)) as container:
        assert len(list(container.decode(video=0))) >= 1
    assert httpx.get(listed.replay_view_url or "").status_code == 200
    with pytest.raises(NotFoundError):
        k.browsers.replays.list("no-such-browser")

def test_replay_requests_that_cannot_work(start_runner: Callable[..., RunnerProcess]) -> None:
    runner = start_runner(None, "--api-key", "sekret", command="serve")
    k = Kernel(base_url=runner.url, api_key="sekret", max_retries=0, timeout=120)
    bid = k.browsers.create().session_id
    base = f"{runner.url}/browsers/{bid}/replays"
    auth = {"Authorization": "Bearer sekret"}
    for body, needle in [
        ({"framerate": 0}, "'framerate'"), ({"framerate": 21}, "no GPU"),
        ({"framerate": "10"}, "'framerate'"), ({"max_duration_in_seconds": 0}, "'max_duration"),
        ({"record_audio": "yes"}, "'record_audio'"),
    ]:
        r = httpx.post(base, json=body, headers=auth)
        assert r.status_code == 400 and needle in r.json()["message"], (body, r.text)
    assert httpx.post(base, content=b"[1]", headers={**auth, "Content-Type": "application/json"}).status_code == 400

    replay = k.browsers.replays.start(bid)
    # No key, or a wrong one: nothing is started, listed, stopped or shown.
    for method, url in [("POST", base), ("GET", base), ("POST", f"{base}/{replay.replay_id}/stop"),
                        ("GET", f"{base}/{replay.replay_id}"),
                        ("GET", replay.replay_view_url or ""),
                        ("GET", f"{replay.replay_view_url}/video")]:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            r = httpx.request(method, url, headers=headers)
            assert r.status_code == 401, (method, url, r.status_code)
    assert len(k.browsers.replays.list(bid)) == 1

    with pytest.raises(ConflictError, match="still recording"):
        k.browsers.replays.download(replay.replay_id, id_or_name=bid)
    with pytest.raises(NotFoundError):
        k.browsers.replays.download("nope", id_or_name=bid)
    with pytest.raises(NotFoundError):
        k.browsers.replays.stop("nope", id_or_name=bid)
    with pytest.raises(NotFoundError):
        k.browsers.replays.start("no-such-browser")
    k.browsers.replays.stop(replay.replay_id, id_or_name=bid)
    k.browsers.replays.stop(replay.replay_id, id_or_name=bid)  # stopping twice is fine
    assert k.browsers.replays.download(replay.replay_id, id_or_name=bid).read()[4:8] == b"ftyp"
    # The player opens with the dashboard's key.
    page = httpx.get(f"{replay.replay_view_url}?key=sekret")
    assert page.status_code == 200 and "<video" in page.text


def test_start_options() -> None:
    assert parse_start({}).framerate == 10
    assert parse_start({"framerate": 20, "max_duration_in_seconds": 5}).max_duration_s == 5
    with pytest.raises(ApiError):
        parse_start({"framerate": True})


def test_a_replay_follows_another_tab_when_its_own_closes(runner: RunnerProcess) -> None:
    k = sdk(runner)
    bid = k.browsers.create(viewport={"width": 320, "height": 240}).session_id
    red = k.browsers.playwright.execute(bid, code=(
        BLANK + "await page.setContent('<body style=\"margin:0;background:rgb(230,20,20)\"></body>');"
        "return 1"))
    assert red.success, red.error
    replay = k.browsers.replays.start(bid, framerate=10)
    switched = k.browsers.playwright.execute(bid, code=(
        "await new Promise(r => setTimeout(r, 600));"
        "const other = await context.newPage();"
        "await other.setContent('<body style=\"margin:0;background:rgb(20,20,230)\"></body>');"
        "await page.close(); await new Promise(r => setTimeout(r, 1500)); return 1"))
    assert switched.success, switched.error
    k.browsers.replays.stop(replay.replay_id, id_or_name=bid)
    data = k.browsers.replays.download(replay.replay_id, id_or_name=bid).read()
    with av.open(io.BytesIO(data)) as container:
        colours = [colour(f) for f in container.decode(video=0)]
    assert colours[0] == "red" and colours[-1] == "blue", colours
    k.browsers.delete_by_id(bid)
