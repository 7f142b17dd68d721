"""What the computer controls act on: a browser's screen, real or emulated.

Two kinds of screen serve ``/browsers/{id}/computer/*`` alike: :class:`.computer.XScreen`
(``xvfb``: the browser headful on its own virtual display, driven at the OS level) and
:class:`.emulated.EmulatedScreen` (``emulated``: a headless browser driven over DevTools,
its address bar and tabs emulated). Each browser gets one or the other when it starts.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from typing import Any, Protocol

from .computer import Fields

__all__ = ["Screen", "DISPLAY_HEADER"]

#: The response header of the computer endpoints that names the display mode in use.
DISPLAY_HEADER = "x-kernel-actions-display"


class Screen(Protocol):
    """One browser's computer controls."""

    #: ``xvfb`` or ``emulated``.
    mode: str
    #: Input actions run one at a time, so a batch is never interleaved with another.
    input_lock: asyncio.Lock

    @property
    def width(self) -> int: ...

    @property
    def height(self) -> int: ...

    async def click_mouse(self, f: Fields) -> None: ...
    async def move_mouse(self, f: Fields) -> None: ...
    async def drag_mouse(self, f: Fields) -> None: ...
    async def scroll(self, f: Fields) -> None: ...
    async def type_text(self, f: Fields) -> None: ...
    async def press_key(self, f: Fields) -> None: ...
    async def set_cursor(self, f: Fields) -> None: ...
    async def sleep(self, f: Fields) -> None: ...
    async def batch(self, body: Fields) -> None: ...
    async def write_clipboard(self, f: Fields) -> None: ...
    async def read_clipboard(self) -> str: ...
    async def mouse_position(self) -> tuple[int, int]: ...
    async def screenshot(self, body: Fields) -> bytes: ...

    async def wait_for_window(self, timeout: float, mux: Any = None) -> bool:
        """Once the browser answers on DevTools (``mux``): wait until its first window is
        ready for input; whether it is."""
        ...

    def close(self) -> Future[None]:
        """Take no more actions; the returned future is done once what the screen holds
        is released."""
        ...
