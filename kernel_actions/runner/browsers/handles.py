"""What the APIs built on a running browser (Playwright execution, replays) need of it and
of the browser list, as protocols: they depend on a browser's id, folder, viewport and
``cdp_ws_url``, never on how it was launched (``browser.LocalBrowser`` and ``service.Browsers``
provide them)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from .display_capture import ScreenSource

__all__ = ["BrowserList", "RunningBrowser"]


class RunningBrowser(Protocol):
    id: str
    folder: Path
    viewport: dict[str, int]
    #: Why it is being closed, once it is.
    closing: str | None
    #: ``time.monotonic()`` of its last activity (what its idle timeout counts from).
    last_active: float
    #: Its virtual screen, if it has one (replays record it).
    display: ScreenSource | None
    #: The owner token its processes carry (see :mod:`..supervisor`).
    owner: str

    @property
    def cdp_ws_url(self) -> str: ...


class BrowserList(Protocol):
    #: Called with each browser as it begins to close.
    close_listeners: list[Callable[[Any], None]]

    def find(self, id_or_name: str) -> RunningBrowser:
        """The running browser with this id or name, or a 404."""
        ...
