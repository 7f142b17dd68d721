"""Replays: videos of what a browser showed, recorded from its screen or its screencast.

A browser with its own virtual display is recorded from the display (see
:mod:`.display_capture`): the whole screen, browser UI and pointer included. Otherwise a
recording connects to the browser's ``cdp_ws_url`` (and nothing else of the
browser), attaches to its page, and asks for ``Page.startScreencast`` frames.
Chromium sends a JPEG whenever the page repaints; an encoder thread samples the
latest one at the recording's frame rate and encodes H.264 into an MP4 with
PyAV, so a still page still makes a video of the right length. When the page
it follows closes, the recording moves to another open page.

Recordings live in the browser's folder under the runner's data directory and
go with it: stopping the browser stops its recordings, and deleting it deletes
their files, as on Kernel where replays end with the browser.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from ...timeutil import format_ns, now_ns
from ..errors import ApiError, bad_request
from .display_capture import DisplayGrabber, ScreenSource, x11grab_available

__all__ = ["DEFAULT_FRAMERATE", "MAX_FRAMERATE", "Recording", "ReplayOptions",
           "check_replay_support", "parse_start"]

DEFAULT_FRAMERATE = 10
#: Kernel takes more than 20 fps only on GPU browsers; local browsers have no GPU.
MAX_FRAMERATE = 20
#: A recording without ``max_duration_in_seconds`` stops after this long.
DEFAULT_MAX_DURATION_S = 3600
MAX_DURATION_S = 4 * 3600
#: How long the screencast may take to start.
START_DEADLINE_S = 15.0
_NO_RETRY = {"x-should-retry": "false"}


def check_replay_support() -> None:
    """A 503 naming what to install when the encoder or the CDP client is missing."""
    missing = [name for name in ("av", "websockets") if importlib.util.find_spec(name) is None]
    if missing:
        raise ApiError(503, "replays_unavailable", (
            f"replays need the Python package(s) {', '.join(missing)}: "
            f"pip install {' '.join(missing)} (kernel-actions depends on them)"),
        headers=dict(_NO_RETRY))


@dataclass(frozen=True)
class ReplayOptions:
    framerate: int = DEFAULT_FRAMERATE
    max_duration_s: int = DEFAULT_MAX_DURATION_S


def parse_start(body: dict[str, Any]) -> ReplayOptions:
    """The options of ``POST /browsers/{id}/replays``, or a 400 that says what is wrong."""
    framerate = body.get("framerate")
    if framerate is None:
        framerate = DEFAULT_FRAMERATE
    if isinstance(framerate, bool) or not isinstance(framerate, int) or not (
            1 <= framerate <= MAX_FRAMERATE):
        raise bad_request(f"'framerate' must be an integer between 1 and {MAX_FRAMERATE} "
                          f"(local browsers have no GPU), got {framerate!r}")
    duration = body.get("max_duration_in_seconds")
    if duration is None:
        duration = DEFAULT_MAX_DURATION_S
    if isinstance(duration, bool) or not isinstance(duration, int) or not (
            1 <= duration <= MAX_DURATION_S):
        raise bad_request(f"'max_duration_in_seconds' must be an integer between 1 and "
                          f"{MAX_DURATION_S}, got {duration!r}")
    audio = body.get("record_audio")
    if audio not in (None, False, True):
        raise bad_request(f"'record_audio' must be a boolean, got {audio!r}")
    return ReplayOptions(framerate, duration)


# -- the encoder -----------------------------------------------------------------------------


class Encoder(threading.Thread):
    """Samples the latest screencast JPEG ``framerate`` times a second into an H.264 MP4.

    ``width`` and ``height`` (the browser's viewport) bound the frames; the video takes the
    size of the first frame."""

    def __init__(self, path: Path, framerate: int, width: int, height: int) -> None:
        super().__init__(name=f"replay encoder {path.stem}", daemon=True)
        self.path = path
        self.framerate = framerate
        self.width = width - width % 2
        self.height = height - height % 2
        self.frames = 0
        self.error: str | None = None
        self._latest: bytes | None = None
        self._latest_frame: Any = None
        self._lock = threading.Lock()
        self._finishing = threading.Event()

    def offer(self, jpeg: bytes) -> None:
        with self._lock:
            self._latest = jpeg

    def offer_frame(self, frame: Any) -> None:
        """A decoded frame (of the display), used as it is."""
        with self._lock:
            self._latest_frame = frame

    def finish(self) -> None:
        self._finishing.set()

    def _take(self) -> tuple[bytes | None, Any]:
        with self._lock:
            jpeg, self._latest = self._latest, None
            frame, self._latest_frame = self._latest_frame, None
        return jpeg, frame

    def run(self) -> None:
        import av  # the encoder is imported only where replays are used

        try:
            container = av.open(str(self.path), "w", format="mp4",
                                options={"movflags": "+faststart"})
        except Exception as exc:  # noqa: BLE001 - reported on the replay
            self.error = f"cannot create the video file: {exc}"
            return
        try:
            stream: Any = None
            decoder = av.CodecContext.create("mjpeg", "r")
            current: Any = None
            started = time.monotonic()
            last_pts = -1

            def open_stream(width: int, height: int) -> Any:
                # The video takes the size of the first frame: the page's, which on a
                # browser with its own window is smaller than the window.
                self.width, self.height = max(2, width - width % 2), max(2, height - height % 2)
                video = container.add_stream("libx264", rate=self.framerate)
                video.width, video.height = self.width, self.height
                video.pix_fmt = "yuv420p"
                video.codec_context.time_base = Fraction(1, self.framerate)
                video.options = {"preset": "ultrafast", "crf": "28"}
                return video

            while True:
                stopping = self._finishing.is_set()
                jpeg, raw = self._take()
                if raw is not None:
                    current = raw
                if jpeg is not None:
                    with contextlib.suppress(av.FFmpegError, ValueError):
                        for decoded in decoder.decode(av.Packet(jpeg)):
                            current = decoded
                pts = int((time.monotonic() - started) * self.framerate)
                if current is not None and pts > last_pts:
                    if stream is None:
                        stream = open_stream(current.width, current.height)
                    frame = current.reformat(self.width, self.height, "yuv420p")
                    frame.pts = pts if last_pts >= 0 or pts == 0 else 0
                    frame.time_base = Fraction(1, self.framerate)
                    for packet in stream.encode(frame):
                        container.mux(packet)
                    last_pts = frame.pts
                    self.frames += 1
                if stopping:
                    break
                next_tick = (started + (last_pts + 1) / self.framerate if current is not None
                             else time.monotonic() + 1 / self.framerate)
                self._finishing.wait(max(0.0, min(next_tick - time.monotonic(), 0.5)))
            if stream is None:  # nothing was shown: one black frame keeps the file playable
                stream = open_stream(self.width, self.height)
                black = av.VideoFrame(self.width, self.height, "yuv420p")
                for plane, value in zip(black.planes, (16, 128, 128), strict=True):
                    plane.update(bytes([value]) * plane.buffer_size)
                black.pts = 0
                for packet in stream.encode(black):
                    container.mux(packet)
                self.frames = 1
            for packet in stream.encode(None):
                container.mux(packet)
        except Exception as exc:  # noqa: BLE001 - reported on the replay
            self.error = f"encoding failed: {exc}"
        finally:
            with contextlib.suppress(Exception):
                container.close()


# -- the screencast ----------------------------------------------------------------------------


class CdpClient:
    """Commands and events over one DevTools websocket (flattened sessions)."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    async def pump(self) -> None:
        try:
            async for raw in self.ws:
                message = json.loads(raw)
                future = self._waiting.pop(message.get("id", -1), None)
                if future is not None:
                    if not future.done():
                        future.set_result(message)
                elif "method" in message:
                    self.events.put_nowait(message)
        finally:
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(ConnectionError("the DevTools connection closed"))
            self.events.put_nowait(None)

    async def send(self, method: str, params: dict[str, Any] | None = None,
                   session: str | None = None, wait: bool = True) -> dict[str, Any]:
        message_id = next(self._ids)
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        future: asyncio.Future[dict[str, Any]] | None = None
        if wait:
            future = asyncio.get_running_loop().create_future()
            self._waiting[message_id] = future
        await self.ws.send(json.dumps(message))
        if future is None:
            return {}
        reply = await asyncio.wait_for(future, 10)
        if "error" in reply:
            raise ConnectionError(f"{method}: {reply['error'].get('message')}")
        return reply.get("result", {})


@dataclass(eq=False)
class Recording:
    """One replay of one browser."""

    id: str
    browser_id: str
    path: Path
    options: ReplayOptions
    viewport: dict[str, int]
    started_ns: int = field(default_factory=now_ns)
    finished_ns: int | None = None
    error: str | None = None
    encoder: Encoder | None = field(default=None, repr=False)
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    _finishing: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    _started: asyncio.Future[None] | None = field(default=None, repr=False)

    @property
    def recording(self) -> bool:
        return self.finished_ns is None

    def to_wire(self, view_url: str) -> dict[str, Any]:
        return {
            "replay_id": self.id,
            "started_at": format_ns(self.started_ns),
            "finished_at": format_ns(self.finished_ns) if self.finished_ns else None,
            "replay_view_url": view_url,
        }

    async def start(self, cdp_ws_url: str, display: ScreenSource | None = None) -> None:
        """Start recording ``display`` (when given and readable), else the screencast;
        returns once frames come (or raises a 503)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.encoder = Encoder(self.path, self.options.framerate, self.viewport["width"],
                               self.viewport["height"])
        self._started = asyncio.get_running_loop().create_future()
        work = (self._record_display(display) if display is not None and x11grab_available()
                else self._record(cdp_ws_url))
        self.task = asyncio.create_task(work, name=f"replay {self.id}")
        try:
            await asyncio.wait_for(asyncio.shield(self._started), START_DEADLINE_S)
        except (TimeoutError, ConnectionError, OSError) as exc:
            await self.stop()
            raise ApiError(503, "replay_failed", f"the screencast did not start: "
                           f"{exc or 'no answer in time'}", headers=dict(_NO_RETRY)) from None

    async def stop(self) -> None:
        """Stop recording and wait until the file is complete."""
        self._finishing.set()
        if self.task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.shield(self.task)

    async def _record(self, cdp_ws_url: str) -> None:
        from websockets.asyncio.client import connect

        assert self.encoder is not None and self._started is not None
        encoder_started = False
        try:
            async with connect(cdp_ws_url, max_size=None, ping_interval=None,
                               open_timeout=10) as ws:
                cdp = CdpClient(ws)
                pump = asyncio.create_task(cdp.pump())
                try:
                    session = await self._attach(cdp)
                    self.encoder.start()
                    encoder_started = True
                    if not self._started.done():
                        self._started.set_result(None)
                    await self._follow(cdp, session)
                finally:
                    pump.cancel()
        except Exception as exc:  # noqa: BLE001 - the recording ends; the reason is kept
            if not self._started.done():
                self._started.set_exception(ConnectionError(str(exc) or type(exc).__name__))
            else:
                self.error = f"the screencast stopped: {exc}"
        finally:
            if encoder_started:
                self.encoder.finish()
                await asyncio.to_thread(self.encoder.join)
                self.error = self.error or self.encoder.error
            self.finished_ns = now_ns()

    async def _record_display(self, display: ScreenSource) -> None:
        assert self.encoder is not None and self._started is not None
        grabber = DisplayGrabber(display, self.options.framerate, self.encoder.offer_frame)
        grabber.start()
        try:
            await asyncio.to_thread(grabber.started_reading.wait, START_DEADLINE_S)
            if grabber.error is not None:
                self._started.set_exception(ConnectionError(grabber.error))
                return
            self.encoder.start()
            self._started.set_result(None)
            stopped = asyncio.create_task(self._finishing.wait())
            ended = asyncio.create_task(asyncio.to_thread(grabber.join))
            try:
                await asyncio.wait({stopped, ended}, timeout=self.options.max_duration_s,
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopped.cancel()
            grabber.stop()
            await ended
            self.error = grabber.error
            self.encoder.finish()
            await asyncio.to_thread(self.encoder.join)
            self.error = self.error or self.encoder.error
        finally:
            grabber.stop()
            if not self._started.done():
                self._started.set_exception(ConnectionError("the display was not read"))
            self.finished_ns = now_ns()

    async def _attach(self, cdp: CdpClient) -> str:
        """Attach to an open page and start its screencast; the session id."""
        targets = (await cdp.send("Target.getTargets"))["targetInfos"]
        pages = [t for t in targets if t.get("type") == "page"
                 and not str(t.get("url", "")).startswith("devtools://")]
        if not pages:
            created = await cdp.send("Target.createTarget", {"url": "about:blank"})
            pages = [{"targetId": created["targetId"]}]
        attached = await cdp.send("Target.attachToTarget",
                                  {"targetId": pages[0]["targetId"], "flatten": True})
        session = attached["sessionId"]
        await cdp.send("Page.enable", session=session)
        await cdp.send("Page.startScreencast", {
            "format": "jpeg", "quality": 80, "everyNthFrame": 1,
            "maxWidth": self.viewport["width"], "maxHeight": self.viewport["height"],
        }, session=session)
        return session

    async def _follow(self, cdp: CdpClient, session: str) -> None:
        import base64

        assert self.encoder is not None
        deadline = asyncio.get_running_loop().time() + self.options.max_duration_s
        stop = asyncio.create_task(self._finishing.wait())
        try:
            while True:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0 or self._finishing.is_set():
                    return
                get = asyncio.create_task(cdp.events.get())
                done, _ = await asyncio.wait({get, stop}, timeout=remaining,
                                             return_when=asyncio.FIRST_COMPLETED)
                if get not in done:
                    get.cancel()
                    continue
                event = get.result()
                if event is None:
                    return  # the browser went away
                method = event.get("method")
                params = event.get("params", {})
                if method == "Page.screencastFrame" and event.get("sessionId") == session:
                    self.encoder.offer(base64.b64decode(params["data"]))
                    await cdp.send("Page.screencastFrameAck",
                                   {"sessionId": params["sessionId"]}, session=session,
                                   wait=False)
                elif method == "Target.detachedFromTarget" and params.get(
                        "sessionId") == session:
                    session = await self._attach(cdp)  # its page closed: follow another
        finally:
            stop.cancel()
