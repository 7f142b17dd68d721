"""The ``/browsers/{id_or_name}/replays`` endpoints, and the dashboard's replay player.

A browser's recordings stop with it, but their videos stay: an app that records a run,
deletes its browser and returns the ``replay_view_url`` (as Kernel's computer-use templates
do) hands out a link that still plays. The videos of the last :data:`KEPT_BROWSERS` closed
browsers are kept, in the runner's data folder, until the runner stops.
"""

from __future__ import annotations

import asyncio
import html
import shutil
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from ...ids import new_id
from ..engine import background
from ..errors import ApiError, not_found
from ..http.common import guard, json_response, read_json_body
from .replays import Recording, check_replay_support, parse_start

if TYPE_CHECKING:
    from .handles import BrowserList, RunningBrowser

__all__ = ["ReplaysApi", "PLAYER_PREFIX"]

#: Where the dashboard plays a replay (a dashboard path: the dashboard's key cookie opens it).
PLAYER_PREFIX = "/_dashboard/replays"
#: Recordings running at once on one browser.
MAX_ACTIVE = 4
#: Closed browsers whose replays are kept (the oldest go first, files and all).
KEPT_BROWSERS = 50
_NO_RETRY = {"x-should-retry": "false"}


class ReplaysApi:
    """Recordings by browser id; a browser's recordings stop with the browser."""

    def __init__(self, browsers: BrowserList, root: Path) -> None:
        self.browsers = browsers
        #: Where the videos are written: ``root/<browser id>/<replay id>.mp4``. What a
        #: previous run left there is gone: replays don't outlive the runner.
        self.root = root
        shutil.rmtree(root, ignore_errors=True)
        self.recordings: dict[str, dict[str, Recording]] = {}
        #: Closed browsers with replays, oldest first.
        self.closed: OrderedDict[str, None] = OrderedDict()
        browsers.close_listeners.append(self.browser_closed)

    @staticmethod
    def view_url(request: Request, recording: Recording) -> str:
        """The player's address, on the host the client reached the runner by."""
        base = str(request.base_url).rstrip("/")
        return f"{base}{PLAYER_PREFIX}/{recording.browser_id}/{recording.id}"

    def browser_closed(self, browser: RunningBrowser) -> None:
        mine = self.recordings.get(browser.id)
        if not mine:
            self.recordings.pop(browser.id, None)
            return
        for recording in mine.values():
            if recording.recording:
                background.start(recording.stop(), name=f"stop replay {recording.id}")
        self.closed[browser.id] = None
        while len(self.closed) > KEPT_BROWSERS:
            oldest, _ = self.closed.popitem(last=False)
            self.recordings.pop(oldest, None)
            shutil.rmtree(self.root / oldest, ignore_errors=True)

    def _browser_id(self, request: Request) -> str:
        """The browser a replay request names: a running one, or a closed one whose replays
        are kept (by id)."""
        key = request.path_params["id"]
        try:
            return self.browsers.find(key).id
        except ApiError as exc:
            if exc.status == 404 and key in self.closed:
                return key
            raise

    def _find(self, browser_id: str, replay_id: str) -> Recording:
        recording = self.recordings.get(browser_id, {}).get(replay_id)
        if recording is None:
            raise not_found(f"replay {replay_id!r} not found on browser {browser_id}")
        return recording

    async def start(self, browser: RunningBrowser, body: dict[str, object]) -> Recording:
        options = parse_start(body)
        check_replay_support()
        mine = self.recordings.setdefault(browser.id, {})
        active = [r for r in mine.values() if r.recording]
        if len(active) >= MAX_ACTIVE:
            raise ApiError(409, "conflict", f"this browser already records {MAX_ACTIVE} replays "
                           "at once: stop one first", headers=dict(_NO_RETRY))
        replay_id = new_id()
        recording = Recording(replay_id, browser.id, self.root / browser.id /
                              f"{replay_id}.mp4", options, dict(browser.viewport))
        mine[replay_id] = recording
        try:
            await recording.start(browser.cdp_ws_url, browser.display)
        except BaseException:
            mine.pop(replay_id, None)
            raise
        if browser.closing is not None:  # closed while the screencast started
            await recording.stop()
            raise ApiError(409, "conflict", f"the browser was closed: {browser.closing}",
                           headers=dict(_NO_RETRY))
        return recording

    def _finished_file(self, browser_id: str, replay_id: str) -> Recording:
        recording = self._find(browser_id, replay_id)
        if recording.recording:
            raise ApiError(409, "conflict", f"replay {replay_id} is still recording: stop it "
                           "first", headers=dict(_NO_RETRY))
        if not recording.path.is_file():
            raise ApiError(409, "conflict", f"replay {replay_id} has no video: "
                           f"{recording.error or 'nothing was recorded'}",
                           headers=dict(_NO_RETRY))
        return recording

    def routes(self) -> list[BaseRoute]:
        async def start(request: Request) -> Response:
            browser = self.browsers.find(request.path_params["id"])
            body = await read_json_body(request) if (await request.body()).strip() else {}
            recording = await self.start(browser, body)
            return json_response(recording.to_wire(self.view_url(request, recording)))

        async def list_(request: Request) -> Response:
            browser_id = self._browser_id(request)
            return json_response([r.to_wire(self.view_url(request, r))
                                  for r in self.recordings.get(browser_id, {}).values()])

        async def stop(request: Request) -> Response:
            recording = self._find(self._browser_id(request), request.path_params["replay_id"])
            await asyncio.shield(recording.stop())
            return Response(status_code=204)

        async def download(request: Request) -> Response:
            recording = self._finished_file(self._browser_id(request),
                                            request.path_params["replay_id"])
            return FileResponse(recording.path, media_type="video/mp4",
                                filename=f"replay-{recording.id}.mp4")

        async def player(request: Request) -> Response:
            browser_id = self._browser_id(request)
            recording = self._find(browser_id, request.path_params["replay_id"])
            video = f"{PLAYER_PREFIX}/{browser_id}/{recording.id}/video"
            state = ("still recording: stop it to watch it" if recording.recording
                     else recording.error or "")
            body = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Replay {html.escape(recording.id)}</title>
<style>body{{font:15px system-ui,sans-serif;margin:24px;color:#1d1d22;background:#f6f6f8}}
video{{max-width:100%;background:#000}}</style></head><body>
<h1>Replay {html.escape(recording.id)}</h1>
<p>Browser {html.escape(browser_id)}, started {html.escape(recording.to_wire("")["started_at"])}.
{html.escape(state)}</p>
{"" if recording.recording else f'<video controls autoplay muted src="{html.escape(video)}">'
                                 '</video>'}
</body></html>"""
            return HTMLResponse(body, headers={
                "Cache-Control": "no-cache",
                "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                                           "media-src 'self'; frame-ancestors 'none'",
                "X-Content-Type-Options": "nosniff",
            })

        async def video(request: Request) -> Response:
            recording = self._finished_file(self._browser_id(request),
                                            request.path_params["replay_id"])
            return FileResponse(recording.path, media_type="video/mp4")

        base = "/browsers/{id}/replays"
        return [
            Route(base, guard(start), methods=["POST"]),
            Route(base, guard(list_), methods=["GET"]),
            Route(f"{base}/{{replay_id}}/stop", guard(stop), methods=["POST"]),
            Route(f"{base}/{{replay_id}}", guard(download), methods=["GET"]),
            Route(f"{PLAYER_PREFIX}/{{id}}/{{replay_id}}", guard(player), methods=["GET"]),
            Route(f"{PLAYER_PREFIX}/{{id}}/{{replay_id}}/video", guard(video), methods=["GET"]),
        ]
