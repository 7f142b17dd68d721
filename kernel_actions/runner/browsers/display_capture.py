"""Frames of a browser's whole virtual display, for replays of what its screen showed.

On a browser with its own Xvfb screen, a replay records the screen (tabs, address bar and
pointer included, as Kernel's replays do) rather than the page's DevTools screencast.
PyAV's FFmpeg reads the display with its ``x11grab`` device, paced at the recording's
frame rate, on a thread of its own; each frame goes to the encoder as it comes.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["DisplayGrabber", "ScreenSource", "x11grab_available"]


class ScreenSource(Protocol):
    """A display to record: its ``DISPLAY`` name and size."""

    @property
    def name(self) -> str: ...

    width: int
    height: int


@functools.cache
def x11grab_available() -> bool:
    """Whether PyAV's FFmpeg can read X11 displays (its wheels ship ``x11grab``)."""
    try:
        import av
    except ImportError:
        return False
    return "x11grab" in av.formats_available


class DisplayGrabber(threading.Thread):
    """Reads ``display`` at ``framerate`` and hands each frame to ``offer`` until stopped."""

    def __init__(self, display: ScreenSource, framerate: int,
                 offer: Callable[[Any], None]) -> None:
        super().__init__(name=f"display capture {display.name}", daemon=True)
        self.display = display
        self.framerate = framerate
        self.offer = offer
        self.error: str | None = None
        self.started_reading = threading.Event()
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        import av

        try:
            container = av.open(self.display.name, format="x11grab", options={
                "framerate": str(self.framerate),
                "video_size": f"{self.display.width}x{self.display.height}",
                "draw_mouse": "1"})
        except Exception as exc:  # noqa: BLE001 - reported on the replay
            self.error = f"cannot read the display {self.display.name}: {exc}"
            self.started_reading.set()
            return
        self.started_reading.set()
        try:
            for frame in container.decode(video=0):
                if self._stopping.is_set():
                    break
                self.offer(frame)
        except Exception as exc:  # noqa: BLE001 - the display went with its browser
            if not self._stopping.is_set():
                self.error = f"reading the display failed: {exc}"
        finally:
            container.close()
