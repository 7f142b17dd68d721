"""One local browser (:class:`LocalBrowser`): the Chromium process, what it was created
with, and the session object the hosted API answers for it (:meth:`LocalBrowser.to_wire`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...timeutil import format_ns
from ..supervisor import Child, new_owner
from .cdp import CdpMux
from .cdp_route import cdp_path, new_token
from .display import Display
from .launch_options import LaunchOptions
from .profiles import ProfileUse
from .screen import Screen

__all__ = ["LocalBrowser"]


@dataclass(eq=False)
class LocalBrowser:
    """One Chromium process and what it was created with."""

    id: str
    folder: Path
    created_ns: int
    headless: bool
    timeout_s: int
    viewport: dict[str, int]
    invocation_id: str | None = None
    start_url: str | None = None
    name: str | None = None
    tags: dict[str, str] | None = None
    region: str = "us-east"
    proc: Child | None = None
    #: The token every process of this browser carries (Xvfb, Chromium, executors, the
    #: process API's): what closing it kills (see :mod:`..supervisor`).
    owner: str = field(default_factory=lambda: new_owner("browser"), repr=False)
    #: The DevTools pipe, shared by every client of ``cdp_ws_url`` (set once it answers).
    cdp: CdpMux | None = None
    #: The secret part of ``cdp_ws_url``.
    cdp_token: str = field(default_factory=new_token, repr=False)
    #: ``ws://host:port`` of the runner that serves ``cdp_ws_url``.
    cdp_base: str = "ws://127.0.0.1"
    #: ``time.monotonic()`` of the last CDP activity seen (or of the start).
    last_active: float = 0.0
    #: Why it is being closed, once it is.
    closing: str | None = None
    #: The saved profile it started from, if any (see :mod:`.profiles`).
    profile_use: ProfileUse | None = None
    close_task: asyncio.Task[None] | None = field(default=None, repr=False)
    kiosk: bool = False
    #: Its virtual screen and the computer controls on it (``None`` when it runs headless).
    display: Display | None = field(default=None, repr=False)
    screen: Screen | None = field(default=None, repr=False)
    live_view_url: str | None = None
    #: A warm spare not handed out yet (see :mod:`.spare`): no session, listed nowhere.
    spare: bool = False
    #: Set once its start ended, however it ended (``None`` until it begins).
    launch_done: asyncio.Event | None = field(default=None, repr=False)
    #: Its proxy and extensions (see :mod:`.launch_options`).
    launch: LaunchOptions = field(default_factory=LaunchOptions, repr=False)

    @property
    def profile(self) -> Path:
        return self.folder / "profile"

    @property
    def log_path(self) -> Path:
        return self.folder / "chromium.log"

    @property
    def ready(self) -> bool:
        return self.cdp is not None and self.closing is None

    @property
    def cdp_ws_url(self) -> str:
        return self.cdp_base + cdp_path(self.id, self.cdp_token)

    def alive(self) -> bool:
        """Whether its Chromium runs and its DevTools pipe is open."""
        return (self.proc is not None and self.proc.poll() is None and self.cdp is not None
                and not self.cdp.closed.is_set())

    def to_wire(self) -> dict[str, Any]:
        """The hosted API's browser session object."""
        body: dict[str, Any] = {
            "session_id": self.id,
            "cdp_ws_url": self.cdp_ws_url,
            # No WebDriver BiDi endpoint locally (Chromium offers BiDi through chromedriver).
            "webdriver_ws_url": "",
            "created_at": format_ns(self.created_ns),
            "headless": self.headless,
            "stealth": False,
            "timeout_seconds": self.timeout_s,
            "memory": "1GiB" if self.headless else "8GiB",
            "region": self.region,
            # Kernel offers a live view of headful browsers only.
            "browser_live_view_url": None if self.headless else self.live_view_url,
            "kiosk_mode": self.kiosk,
            "gpu": False,
            "viewport": dict(self.viewport),
            **self.launch.wire(),
        }
        if self.name is not None:
            body["name"] = self.name
        if self.tags is not None:
            body["tags"] = dict(self.tags)
        if self.start_url is not None:
            body["start_url"] = self.start_url
        return body
