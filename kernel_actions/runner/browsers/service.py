"""The runner's local browsers: their lifecycle, from launch to close.

``POST /browsers`` (see :mod:`.browser_routes`) starts a Chromium (found by
:mod:`.chromium`) with its own throwaway profile under the runner's data folder
(``<data>/browsers/<id>/profile``) and answers with the browser-level DevTools websocket
(``cdp_ws_url``) that Playwright's ``connect_over_cdp`` (or any CDP client) drives.
Chromium opens no DevTools port: it talks over a pipe only the runner holds, and the
runner serves the websocket at a URL carrying a random token (see :mod:`.cdp` and
:mod:`.cdp_route`). A browser is closed — its whole process group killed, reaped and its
folder deleted — when:

* it is deleted (``DELETE /browsers/{id}``, ``DELETE /invocations/{id}/browsers``);
* its timeout runs out: as on Kernel, ``timeout_seconds`` (default 60, up to 72 h) starts
  when the browser goes into standby, after :data:`STANDBY_AFTER_S` seconds with no CDP
  client (a connection to its ``cdp_ws_url``, counted every second), no live-view viewer
  and no computer control (the live view drives the computer controls' screenshots, so
  it counts as they do); the time before the first connection counts as standby too;
* Chromium exits on its own, or the runner stops.

It is *not* closed when the invocation that created it ends: Kernel's browsers outlive
their invocation (``GET /invocations/{id}/browsers`` lists those still open), and
``kernel-actions invoke`` deletes an invocation's browsers on Ctrl-C, as Kernel's CLI does.

Chromium is started by the supervisor (:mod:`..supervisor`) in a new session with
``PR_SET_PDEATHSIG`` (through ``setpriv`` when present), so even a runner killed with
``kill -9`` takes its browsers along; whatever a crashed runner still left behind is
killed and deleted when the next runner starts on the same data folder.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...ids import new_id
from ...timeutil import format_ns, now_ns
from ..engine import background
from ..engine.pool import describe_exit
from ..errors import ApiError, conflict, not_found
from ..proxies.store import Proxies
from ..supervisor import SpawnError, command_line, is_runner, kill_if_named, supervisor
from .browser import LocalBrowser
from .cdp import CdpError, CdpMux, PipeEnds
from .chromium import (
    NO_RETRY,
    chromium_command,
    find_chromium,
    output_tail,
    prepare_profile,
    unavailable,
)
from .create_request import DEFAULT_TIMEOUT_S, DEFAULT_VIEWPORT, CreateRequest, parse_create
from .display import START_DEADLINE_S as DISPLAY_START_DEADLINE_S
from .display import Display, DisplayError, display_support
from .extensions import Extensions
from .files import FileService, Sandbox
from .launch_options import launch_options
from .pools import Pools
from .processes import ProcessService
from .profiles import Profiles
from .spare import Shape, WarmSpares

if TYPE_CHECKING:
    from ..services import RunnerServices

__all__ = ["Browsers", "START_DEADLINE_S", "SWEEP_INTERVAL_S", "MAX_DELETED", "STANDBY_AFTER_S"]

#: How long Chromium may take to answer on its DevTools pipe.
START_DEADLINE_S = 20.0
#: How often idle browsers and browsers that exited by themselves are looked for.
SWEEP_INTERVAL_S = 1.0
#: Seconds without a CDP client, live-view viewer or computer control after which a browser
#: is in standby, where its ``timeout_seconds`` begins (Kernel's docs: "Standby").
STANDBY_AFTER_S = 5.0
#: Closed browsers remembered for ``GET /browsers?status=deleted``.
MAX_DELETED = 1000


class Browsers:
    """The runner's local browsers and the ``/browsers`` endpoints."""

    def __init__(self, runner: RunnerServices) -> None:
        self.runner = runner
        assert runner.config.data_dir is not None
        self.root = runner.config.data_dir / "browsers"
        #: Why browsers get no virtual display here (``None``: each gets its own Xvfb).
        self.no_display = display_support()
        #: Browsers starting or running (not those being closed).
        self.items: dict[str, LocalBrowser] = {}
        self._closing: set[LocalBrowser] = set()
        self._noticed: set[str] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._stopping = False
        self._pdeathsig = (shutil.which("setpriv") if sys.platform.startswith("linux")
                           else None)
        #: Called with each browser as it begins to close (the APIs built on a browser use it
        #: to stop what they run for it). A listener must not raise or block.
        self.close_listeners: list[Callable[[LocalBrowser], None]] = []
        #: Awaited with each browser and its DevTools pipe once the pipe answers, before the
        #: browser is served (telemetry and WebMCP follow its pages from there). A listener
        #: must not raise.
        self.ready_listeners: list[Callable[[LocalBrowser, CdpMux], Awaitable[None]]] = []
        self.files = FileService(self._folder_of)
        self.processes = ProcessService(
            runner.config.allow_process, self.files.sandbox,
            lambda browser_id: b.owner if (b := self.items.get(browser_id)) else None)
        #: Closed browsers, newest first, as ``GET /browsers?status=deleted`` lists them.
        self.deleted: collections.deque[dict[str, Any]] = collections.deque(maxlen=MAX_DELETED)
        self.profiles = Profiles(runner.config.data_dir / "profiles", self._saving_profiles)
        self.extensions = Extensions(runner.config.data_dir / "extensions")
        self.proxies = Proxies(runner.config.data_dir / "proxies")
        self.pools = Pools(self)
        self.spares: WarmSpares[LocalBrowser] = WarmSpares(
            self, runner.config.warm_browsers,
            Shape(DEFAULT_VIEWPORT["width"], DEFAULT_VIEWPORT["height"], kiosk=False))

    @property
    def max_browsers(self) -> int:
        return self.runner.config.max_browsers

    def log(self, message: str) -> None:
        """One line on the runner's output."""
        self.runner.log(message)

    def notice(self, key: str, message: str) -> None:
        """Tell the developer ``message`` once per ``key``."""
        if key not in self._noticed:
            self._noticed.add(key)
            self.runner.log(f"browsers: {message}")

    # -- lifecycle -------------------------------------------------------------------------

    async def startup(self) -> None:
        await self._clean_leftovers()
        self._sweeper = background.start(self._sweep(), name="browser sweep")
        self.spares.start()

    async def close_all(self, reason: str = "the runner is stopping") -> None:
        """Close every browser and wait until each is gone; take no new ones."""
        self._stopping = True
        self.pools.close_all()
        await self.spares.close_all()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for browser in list(self.items.values()):
            self._begin_close(browser, reason)
        tasks = [b.close_task for b in list(self._closing) if b.close_task is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _clean_leftovers(self) -> None:
        """Kill and delete the browsers a runner that died without closing them left behind."""
        if not self.root.is_dir():
            return
        folders = []
        for folder in self.root.iterdir():
            if not folder.is_dir():
                continue
            owner = _read_pid(folder / "runner.pid")
            if owner is not None and owner != os.getpid() and is_runner(owner):
                continue  # another runner on the same data folder still uses it
            folders.append(folder)
        if not folders:
            return
        # Their processes were killed when the runner attached to the data folder (the
        # supervisor's record names each, and the owner token each carries); a Chromium
        # whose pid a folder kept (a runner from before the record) is killed here.
        killed = [pid for folder in folders if (pid := _read_pid(folder / "pid")) is not None
                  and kill_if_named(pid, str(folder) + os.sep)]
        deadline = time.monotonic() + 5
        while any(command_line(pid) for pid in killed) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for folder in folders:
            await asyncio.to_thread(shutil.rmtree, folder, ignore_errors=True)
        self.runner.log(f"browsers: removed {len(folders)} browser folder(s) a previous run left")

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            try:
                self._sweep_once()
            except Exception as exc:  # keep sweeping
                self.runner.log(f"browsers: idle check failed: {exc!r}")

    def _sweep_once(self) -> None:
        self.spares.check()
        ready = [b for b in self.items.values() if b.ready]
        if not ready:
            return
        now = time.monotonic()
        for browser in ready:
            assert browser.proc is not None
            code = browser.proc.poll()
            if code is not None:
                self._begin_close(browser, f"Chromium exited on its own ({describe_exit(code)})")
                continue
            assert browser.cdp is not None
            if browser.cdp.external_clients:  # connections to its cdp_ws_url
                browser.last_active = now
            elif now - browser.last_active >= STANDBY_AFTER_S + browser.timeout_s:
                self._begin_close(browser, f"timed out after {browser.timeout_s} s in standby")

    def _running(self, invocation_id: str) -> bool:
        return self.runner.scheduler.is_running(invocation_id)

    # -- creating ----------------------------------------------------------------------------

    def _parse(self, body: dict[str, Any]) -> CreateRequest:
        return parse_create(body, self.notice)

    async def create(self, body: dict[str, Any], *, warm: bool = True) -> LocalBrowser:
        """Start a browser for ``body`` (``POST /browsers``), from a warm spare when one fits
        (see :mod:`.spare`); ``warm=False`` neither takes a spare nor keeps one for later
        (browser pools keep their own)."""
        return await self._create(body, take_spare=warm, keep_spares=warm)

    async def _create(self, body: dict[str, Any], *, take_spare: bool, keep_spares: bool
                      ) -> LocalBrowser:
        if self._stopping:
            raise ApiError(503, "unavailable", "the runner is shutting down",
                           headers={"Retry-After": "1"})
        req = self._parse(body)
        profile_use = self.profiles.parse_use(body.get("profile"))
        launch = launch_options(body, self.proxies, self.extensions)
        executable = find_chromium(self.runner.config.browser_path)
        if req.invocation_id is not None and not self._running(req.invocation_id):
            inv = await self.runner.scheduler.get(req.invocation_id)
            if inv is None:  # a finished one may have browsers: they outlive it
                raise not_found(f"invocation {req.invocation_id!r} not found")
        # From here to the launch, nothing awaits: the checks hold when the browser is counted.
        if self._stopping:
            raise ApiError(503, "unavailable", "the runner is shutting down",
                           headers={"Retry-After": "1"})
        if req.name is not None and self.name_taken(req.name):
            raise conflict(f"a browser named {req.name!r} is already running")
        if len(self.items) >= self.max_browsers:  # spares give way: they are not sessions
            raise ApiError(429, "rate_limited", (
                f"the local runner runs at most {self.max_browsers} browsers at once; delete one "
                "or raise --max-browsers"))
        shape = Shape(req.viewport["width"], req.viewport["height"], req.kiosk)
        spare = (self.spares.claim(shape) if take_spare and profile_use is None and launch.empty
                 else None)
        if spare is not None:
            browser = spare.browser
            self._adapt(browser, req)
            self.items[browser.id] = browser
            try:
                ready = await self.spares.wait(spare)
            except BaseException:  # the request went away: so does its browser
                self._begin_close(browser, "its create was cancelled")
                raise
            if ready and browser.closing is None:
                try:
                    if req.start_url:
                        await self._navigate(browser, req.start_url)
                except CdpError as exc:
                    self.runner.log(f"browser {browser.id}: the spare did not open "
                                    f"its start URL: {exc}")
                else:
                    self._started(browser, shape, warm=True)
                    return browser
            closed_by = browser.closing
            await asyncio.shield(self._begin_close(browser, closed_by or "it failed to start"))
            if closed_by is not None:  # by the runner stopping, or deleted while it started
                self._check_still_wanted(browser, closed_by)
            # A cold start, which says what goes wrong if anything does.
            return await self._create(body, take_spare=False, keep_spares=keep_spares)
        room = None
        if len(self.items) + self.spares.count >= self.max_browsers:
            room = self.spares.make_room()
        browser_id = new_id()
        browser = LocalBrowser(
            id=browser_id, folder=self.root / browser_id, created_ns=now_ns(),
            headless=req.headless, timeout_s=req.timeout_s, viewport=req.viewport,
            invocation_id=req.invocation_id, start_url=req.start_url, name=req.name,
            tags=req.tags, region=req.region, profile_use=profile_use, kiosk=req.kiosk,
            launch=launch,
        )
        self.items[browser.id] = browser
        try:
            if room is not None:  # the spare's Chromium is gone before this one starts
                await asyncio.shield(room)
            if profile_use is not None:
                await self.profiles.load_into(profile_use, browser.profile)
            await launch.prepare(browser.folder, self.extensions, self.log)
            await self._launch(browser, executable)
        except BaseException:
            task = self._begin_close(browser, "it failed to start")
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(task)
            raise
        if browser.closing is not None:  # closed while it started
            await asyncio.shield(self._begin_close(browser, browser.closing))
            self._check_still_wanted(browser, browser.closing)
        self._started(browser, shape, warm=False if keep_spares else None)
        return browser

    def _check_still_wanted(self, browser: LocalBrowser, closed_by: str) -> None:
        """Raise what ``create`` answers when its browser was closed while it started."""
        if self._stopping:
            raise ApiError(503, "unavailable", "the runner is shutting down",
                           headers={"Retry-After": "1"})
        raise ApiError(409, "conflict", f"the browser was closed while starting: {closed_by}",
                       headers=dict(NO_RETRY))

    def _started(self, browser: LocalBrowser, shape: Shape, *, warm: bool | None) -> None:
        """The browser is handed out; ``warm``: from a spare (``None``: keep no spares for
        it, as for a pool's)."""
        browser.last_active = time.monotonic()  # its idle timeout starts now
        tied = f" for invocation {browser.invocation_id}" if browser.invocation_id else ""
        served = " (warm spare)" if warm else ""
        mode = browser.screen.mode if browser.screen is not None else "none"
        # Not the cdp_ws_url: its token is a credential, and terminals get copied around.
        self.runner.log(f"browser {browser.id} started{tied} (display: {mode}){served}")
        if warm is not None:
            self.spares.handed_out(shape, warm=warm)

    def _adapt(self, browser: LocalBrowser, req: CreateRequest) -> None:
        """Make a spare the browser ``req`` asks for (what can change without a restart)."""
        browser.spare = False
        browser.created_ns = now_ns()
        browser.headless, browser.timeout_s = req.headless, req.timeout_s
        browser.viewport = dict(req.viewport)  # the same size; a refresh rate, maybe
        browser.invocation_id, browser.start_url = req.invocation_id, req.start_url
        browser.name, browser.tags, browser.region = req.name, req.tags, req.region

    async def _navigate(self, browser: LocalBrowser, url: str) -> None:
        """Begin opening ``url`` in the browser's first tab, as Chromium does with a start URL
        given on its command line: the navigation is under way, not done, when this returns
        (a page in another process can take as long as a cold start)."""
        assert browser.cdp is not None
        cdp = browser.cdp
        targets = (await cdp.call("Target.getTargets")).get("targetInfos") or []
        page = next((t for t in targets if t.get("type") == "page"), None)
        if page is None:
            await cdp.call("Target.createTarget", {"url": url})
            return
        attached = await cdp.call("Target.attachToTarget",
                                  {"targetId": page["targetId"], "flatten": True})
        session = attached.get("sessionId")
        if not isinstance(session, str):
            raise CdpError("Chromium gave no page session")

        async def navigate() -> None:
            try:
                await cdp.call("Page.navigate", {"url": url}, session_id=session)
                await cdp.call("Target.detachFromTarget", {"sessionId": session})
            except CdpError as exc:
                if not cdp.closed.is_set():
                    self.runner.log(f"browser {browser.id}: its start URL did not open: {exc}")

        background.start(navigate(), name=f"browser {browser.id} start URL")

    # -- spares (what :class:`.spare.WarmSpares` needs) -----------------------------------

    def sessions(self) -> int:
        """Browsers handed out or starting for a request (not spares)."""
        return len(self.items)

    def new_spare(self, shape: Shape) -> LocalBrowser:
        browser_id = new_id()
        return LocalBrowser(
            id=browser_id, folder=self.root / browser_id, created_ns=now_ns(), headless=False,
            timeout_s=DEFAULT_TIMEOUT_S, viewport={"width": shape.width, "height": shape.height},
            kiosk=shape.kiosk, spare=True)

    async def launch_spare(self, browser: LocalBrowser) -> bool:
        try:
            await self._launch(browser, find_chromium(self.runner.config.browser_path))
        except (ApiError, CdpError, OSError) as exc:  # a start failure is logged already
            if not isinstance(exc, ApiError):
                self.runner.log(f"browsers: a warm spare did not start: {exc}")
            return False
        return browser.cdp is not None and browser.closing is None

    async def _launch(self, browser: LocalBrowser, executable: str) -> None:
        browser.launch_done = asyncio.Event()
        try:
            await self._start_browser(browser, executable)
        finally:
            browser.launch_done.set()

    async def _start_browser(self, browser: LocalBrowser, executable: str) -> None:
        browser.profile.mkdir(parents=True, exist_ok=True)  # a saved profile may be there
        prepare_profile(browser.profile)  # its New Tab page stays local
        (browser.folder / "runner.pid").write_text(str(os.getpid()))
        browser.cdp_base = "ws" + self._api_url().removeprefix("http")
        # Chromium's crash reporter keeps its database there instead of in $HOME, so every
        # process of this browser names its folder (and is found by it).
        env = {**os.environ, "CHROME_CONFIG_HOME": str(browser.folder / "config")}
        await self._start_display(browser)
        if browser.closing is not None:  # closed while its screen started
            return
        if browser.display is not None:
            env.update(browser.display.env)
            env.pop("WAYLAND_DISPLAY", None)
        pipe = PipeEnds()
        try:
            with open(browser.log_path, "wb") as log:
                try:
                    browser.proc = await supervisor.start(
                        chromium_command(browser, executable, self._pdeathsig), name="chromium", env=env,
                        stdout=log, owner=browser.owner,
                        # The DevTools pipe on fds 3 and 4, and no other fd of the runner.
                        fd_map=pipe.fd_map())
                except OSError as exc:
                    why = str(exc) if isinstance(exc, SpawnError) else exc.strerror or exc
                    raise unavailable(f"cannot start {executable}: {why}") from None
            pipe.close_child_ends()
            mux = CdpMux()
            await mux.open(pipe)
        except BaseException:
            pipe.close()
            raise
        (browser.folder / "pid").write_text(str(browser.proc.pid))
        answered = asyncio.ensure_future(mux.call("Browser.getVersion"))
        deadline = time.monotonic() + START_DEADLINE_S
        try:
            while not answered.done():
                await asyncio.wait([answered], timeout=0.05)
                if browser.closing is not None:
                    answered.cancel()
                    mux.close()
                    return
                code = browser.proc.poll()
                if code is not None and not answered.done():
                    raise self._start_failed(browser, executable, f"it {describe_exit(code)}")
                if time.monotonic() > deadline and not answered.done():
                    raise self._start_failed(browser, executable, "it did not answer on its "
                                             f"DevTools pipe within {START_DEADLINE_S:g} s")
            try:
                answered.result()
            except CdpError as exc:
                why = str(exc)
                with contextlib.suppress(subprocess.TimeoutExpired):  # the pipe closed as it exited
                    why = f"it {describe_exit(await asyncio.to_thread(browser.proc.wait, 2))}"
                raise self._start_failed(browser, executable, why) from None
        except BaseException:
            answered.cancel()
            mux.close()
            raise
        if browser.screen is not None:  # ready when its window is on the screen
            window = asyncio.ensure_future(
                browser.screen.wait_for_window(max(1.0, deadline - time.monotonic()), mux))
            while not window.done():
                await asyncio.wait([window], timeout=0.05)
                if browser.closing is not None:  # killed: its window will never show
                    window.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await window
                    mux.close()
                    return
        mux.rewrite = self.files.download_paths(browser.folder)
        try:
            await self.files.route_downloads(mux, browser.folder)
        except CdpError as exc:
            if browser.closing is not None:  # deleted while it started: create says so
                mux.close()
                return
            raise self._start_failed(browser, executable, str(exc)) from None
        for listener in self.ready_listeners:
            await listener(browser, mux)
        # Ready (listed, served) only now that nothing of its start is left to do.
        browser.cdp = mux
        browser.last_active = time.monotonic()
        browser.live_view_url = f"{self._api_url()}/_dashboard/live.html#{browser.id}"

    async def _start_display(self, browser: LocalBrowser) -> None:
        """Give the browser its own Xvfb screen of its viewport's size, with computer controls
        on it. A browser asked to be ``headless`` gets one too (and is reported as headless):
        computer controls need a screen. Without Xvfb it runs headless, with computer
        controls emulated over DevTools (see :mod:`.emulated`). The screens' modules are
        imported with the first browser, not while the runner starts."""
        from .computer import XScreen
        from .emulated import EmulatedScreen

        if self.no_display is not None:
            self.notice("no-display", f"no virtual display ({self.no_display}): browsers run "
                                       "headless, with emulated computer controls")
            browser.screen = EmulatedScreen(browser.viewport["width"], browser.viewport["height"])
            return
        try:
            browser.display = await Display.start(browser.viewport["width"],
                                                  browser.viewport["height"], browser.folder,
                                                  owner=browser.owner)
        except DisplayError as exc:
            self.notice("display-failed", f"{exc}: browsers run headless, with emulated "
                                           "computer controls")
            browser.screen = EmulatedScreen(browser.viewport["width"], browser.viewport["height"])
            return
        browser.screen = XScreen(browser.display)

    def status(self) -> dict[str, Any]:
        """What ``GET /_runner/status`` says of the browsers: how many, their display
        mode (``xvfb``: a virtual screen each; ``emulated``: headless, computer controls
        emulated over DevTools), and the warm spares
        (``ready``, ``starting``, ``wanted``, and how many creates they ``served``)."""
        return {"running": sum(1 for b in self.items.values() if b.ready),
                "max": self.max_browsers,
                "display": "xvfb" if self.no_display is None else "emulated",
                "display_note": self.no_display,
                "warm": self.spares.status()}

    def _start_failed(self, browser: LocalBrowser, executable: str, why: str) -> ApiError:
        tail = output_tail(browser.log_path)
        message = f"Chromium ({executable}) did not start: {why}"
        if tail:
            message += f"; its last output:\n{tail}"
        self.runner.log(f"browser {browser.id}: {message}")
        return ApiError(503, "browser_unavailable", message, headers=dict(NO_RETRY))

    # -- closing ---------------------------------------------------------------------------------

    def _begin_close(self, browser: LocalBrowser, reason: str) -> asyncio.Task[None]:
        """Forget the browser and kill its processes now; reap and delete in the background."""
        if browser.close_task is not None:
            return browser.close_task
        browser.closing = reason
        self.items.pop(browser.id, None)
        if browser.cdp is not None and not browser.spare:  # handed out: list it as deleted
            self.deleted.appendleft({**browser.to_wire(), "deleted_at": format_ns(now_ns())})
        self.files.forget(browser.id)
        self.processes.forget(browser.id)
        for listener in self.close_listeners:
            listener(browser)
        self._closing.add(browser)
        released = browser.screen.close() if browser.screen is not None else None
        # A browser that saves into its profile is asked to close first (in _finish_close),
        # so that Chromium writes its cookies and storage out.
        graceful = (browser.profile_use is not None and browser.profile_use.save_changes
                    and browser.cdp is not None and browser.proc is not None
                    and browser.proc.poll() is None)
        if browser.cdp is not None and not graceful:
            browser.cdp.close()
        if browser.proc is not None and not graceful:
            browser.proc.kill()
        browser.close_task = background.start(self._finish_close(browser, released),
                                              name=f"close browser {browser.id}")
        return browser.close_task

    async def _finish_close(self, browser: LocalBrowser,
                            released: concurrent.futures.Future[None] | None = None) -> None:
        try:
            if browser.launch_done is not None and not browser.launch_done.is_set():
                # Closed while it started: what the start still makes is closed here.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(browser.launch_done.wait(),
                                           START_DEADLINE_S + DISPLAY_START_DEADLINE_S + 5)
                if browser.screen is not None and released is None:
                    released = browser.screen.close()
                if browser.proc is not None:
                    browser.proc.kill()
            if browser.cdp is not None and not browser.cdp.closed.is_set():
                await self._ask_to_close(browser)
            if browser.proc is not None:
                interval = 0.005
                deadline = time.monotonic() + 10
                while browser.proc.poll() is None and time.monotonic() < deadline:
                    await asyncio.sleep(interval)
                    interval = min(interval * 2, 0.1)
                if browser.proc.returncode is not None:  # anything that outlived its leader
                    await asyncio.to_thread(supervisor.kill_owner, browser.owner)
            if browser.display is not None:  # after Chromium, so it never sees its screen go
                if released is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(asyncio.wrap_future(released), 5)
                await asyncio.to_thread(browser.display.stop)
            if browser.profile_use is not None and browser.cdp is not None:
                try:
                    await self.profiles.save_from(browser.profile_use, browser.profile)
                except OSError as exc:
                    self.runner.log(f"browser {browser.id}: its profile was not saved: {exc}")
            await browser.launch.release()
            await asyncio.to_thread(shutil.rmtree, browser.folder, ignore_errors=True)
            if browser.cdp is not None and not browser.spare:
                self.runner.log(f"browser {browser.id} closed: {browser.closing}")
        finally:
            self._closing.discard(browser)
            if not self._stopping:
                self.spares.returned()  # its slot is free

    async def _ask_to_close(self, browser: LocalBrowser) -> None:
        """``Browser.close`` over DevTools, a few seconds to exit, then the kill."""
        assert browser.cdp is not None and browser.proc is not None
        with contextlib.suppress(CdpError, TimeoutError):
            await asyncio.wait_for(browser.cdp.call("Browser.close"), 5)
        deadline = time.monotonic() + 10
        while browser.proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        browser.cdp.close()
        browser.proc.kill()

    def _api_url(self) -> str:
        """Where this runner's API listens, as it tells its own workers (the port is only
        known once bound, so it is asked for, not kept)."""
        return self.runner.worker_env(dotenv=False)["KERNEL_BASE_URL"]

    def close(self, browser: LocalBrowser, reason: str) -> asyncio.Task[None]:
        """Close a browser (in the background; the task ends once it is gone)."""
        return self._begin_close(browser, reason)

    def check_settings(self, body: dict[str, Any]) -> None:
        """Raise the 400 that ``POST /browsers`` with ``body`` would, without starting one."""
        self._parse(body)
        self.profiles.parse_use(body.get("profile"))
        launch_options(body, self.proxies, self.extensions)

    def _saving_profiles(self) -> set[str]:
        """Profiles a running or closing browser will save into."""
        return {b.profile_use.profile_id for b in [*self.items.values(), *self._closing]
                if b.profile_use is not None and b.profile_use.save_changes}

    # -- views -------------------------------------------------------------------------------

    def find(self, id_or_name: str) -> LocalBrowser:
        browser = self.items.get(id_or_name)
        if browser is None or not browser.ready:
            browser = next((b for b in self.items.values()
                            if b.ready and b.name == id_or_name), None)
        if browser is None:
            raise not_found(f"browser {id_or_name!r} not found")
        return browser

    def cdp_of(self, id_or_name: str) -> CdpMux:
        browser = self.find(id_or_name)
        assert browser.cdp is not None  # found means ready
        return browser.cdp

    def logs_of(self, id_or_name: str) -> tuple[Path, Sandbox]:
        browser = self.find(id_or_name)
        return browser.log_path, self.files.sandbox(browser.id)[1]

    def devtools(self, browser_id: str) -> tuple[str, CdpMux] | None:
        """The token and DevTools pipe of a ready browser, for its ``cdp_ws_url``."""
        browser = self.items.get(browser_id)
        if browser is None or not browser.ready or browser.cdp is None:
            return None
        return browser.cdp_token, browser.cdp

    def name_taken(self, name: str) -> bool:
        """Whether a browser already goes by ``name``."""
        return any(b.name == name for b in self.items.values())

    def is_known(self, key: str) -> bool:
        """Whether ``key`` is the id or name of a browser starting or running."""
        return key in self.items or self.name_taken(key)

    def _folder_of(self, id_or_name: str) -> tuple[str, Path]:
        browser = self.find(id_or_name)
        return browser.id, browser.folder

    async def check_invocation(self, invocation_id: str) -> None:
        """Raise 404 unless ``invocation_id`` names an invocation."""
        if await self.runner.scheduler.get(invocation_id) is None:
            raise not_found(f"invocation {invocation_id!r} not found")


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
