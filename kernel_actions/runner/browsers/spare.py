"""Warm spares: browsers started ahead of the next ``POST /browsers``, so it answers at once.

Starting Chromium on its own Xvfb screen takes a quarter of a second or more; handing out a
browser that already runs takes a few milliseconds. So once a browser has been asked for (or
from the start, with ``--warm-browsers N``), the runner keeps spares (N, at least one) started
in the background, and ``POST /browsers`` hands one out when it can, then starts the next.

What a spare can become when it is handed out, for free: any name, tags, timeout,
invocation, region, refresh rate and ``headless`` flag (every local browser gets a screen;
``headless`` only changes what is reported), and any ``start_url`` (navigated to over
DevTools). What it can't become: a browser of another viewport size (its screen and its
window have its size), in kiosk mode or not (a Chromium switch), or one that loads a profile
(copied in before Chromium starts). Those get a cold start, and the spares take the *shape*
(viewport and kiosk mode) of the last browser asked for, so a run of same-shaped creates is
served warm after its first. A spare that is still starting is waited for rather than raced
with a second cold Chromium: it is further along.

A spare is not a session. It is not listed, found or counted in ``GET /browsers`` or the
runner's status of running browsers, and it has no idle timeout. It does count toward
``--max-browsers``: the runner never runs more Chromium than that, and a create that needs the
slot a spare holds gets it (the spare is closed first). Spares stop with the runner. A spare
that fails to start is not retried until a browser starts cold again, so a broken Chromium
costs one failed start, not a loop.

Browser pools (:mod:`.pools`) keep warm browsers too, but theirs are sessions a user made and
sees; the spares are the runner's own, so they are kept apart from the browser list.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from ..engine import background

__all__ = ["Shape", "SpareHost", "WarmSpares", "REFILL_DELAY_S"]

#: Seconds between handing a spare out (or a slot coming free) and starting the next.
REFILL_DELAY_S = 1.0


@dataclass(frozen=True)
class Shape:
    """What a browser can only be given when Chromium starts."""

    width: int
    height: int
    kiosk: bool


class SpareBrowser(Protocol):
    id: str

    @property
    def ready(self) -> bool: ...
    def alive(self) -> bool: ...


B = TypeVar("B", bound=SpareBrowser)


class SpareHost(Protocol[B]):
    """What the spares need of the browser list (``service.Browsers`` provides it)."""

    @property
    def max_browsers(self) -> int: ...
    def sessions(self) -> int:
        """Browsers handed out or starting for a request (not spares)."""
        ...
    def new_spare(self, shape: Shape) -> B: ...
    async def launch_spare(self, browser: B) -> bool:
        """Start it; whether it is ready (a failure is logged, never raised)."""
        ...
    def close(self, browser: B, reason: str) -> asyncio.Task[None]: ...


@dataclass(eq=False)
class Spare(Generic[B]):
    """One spare browser and its start."""

    browser: B
    shape: Shape
    started: asyncio.Task[bool]

    @property
    def usable(self) -> bool:
        """Started and still running, or still starting."""
        if not self.started.done():
            return True
        return (not self.started.cancelled() and self.started.exception() is None
                and self.started.result() and self.browser.ready and self.browser.alive())


class WarmSpares(Generic[B]):
    """The runner's spare browsers (see the module's documentation)."""

    def __init__(self, host: SpareHost[B], keep: int, shape: Shape) -> None:
        self.host = host
        #: ``--warm-browsers``: spares kept from the start (at least one once one was asked for).
        self.keep = keep
        self.wanted = keep
        self.shape = shape
        self.spares: list[Spare[B]] = []
        #: Creates served by a spare since the start.
        self.served = 0
        self._paused = False
        self._stopped = False
        self._filler: asyncio.Task[None] | None = None

    # -- what the browser list asks ---------------------------------------------------------

    @property
    def count(self) -> int:
        """Spares running or starting (each holds a ``--max-browsers`` slot)."""
        return len(self.spares)

    def status(self) -> dict[str, int]:
        ready = sum(1 for s in self.spares if s.started.done() and s.usable)
        return {"ready": ready, "starting": self.count - ready, "wanted": self.wanted,
                "served": self.served}

    def start(self) -> None:
        """Begin keeping ``--warm-browsers`` spares (none when it is 0)."""
        self._refill()

    def claim(self, shape: Shape) -> Spare[B] | None:
        """Take a spare of ``shape`` (ready ones first) away from the spares, or ``None``."""
        fits = [s for s in self.spares if s.shape == shape and s.usable]
        if not fits:
            return None
        spare = min(fits, key=lambda s: not s.started.done())
        self.spares.remove(spare)
        return spare

    @staticmethod
    async def wait(spare: Spare[B]) -> bool:
        """Whether a claimed spare finished starting and runs."""
        try:
            await asyncio.shield(spare.started)
        except asyncio.CancelledError:
            if not spare.started.cancelled():  # the waiter was cancelled, not the start
                raise
        return spare.usable

    def handed_out(self, shape: Shape, *, warm: bool) -> None:
        """A browser of ``shape`` was handed out (from a spare when ``warm``): keep spares of
        that shape from now on, and start the next one."""
        self.served += warm
        self.wanted = max(self.wanted, self.keep, 1)
        if not warm:
            self._paused = False
        if shape != self.shape:
            self.shape = shape
            for spare in [s for s in self.spares if s.shape != shape]:
                self._drop(spare, "the spares take a new shape")
        self._refill()

    def make_room(self) -> asyncio.Task[None] | None:
        """Close one spare so that a browser a spare can't serve may start within
        ``--max-browsers``; the task ends once it is gone (``None``: there was none)."""
        if not self.spares:
            return None
        spare = min(self.spares, key=lambda s: s.started.done())  # a starting one first
        return self._drop(spare, "its slot was needed")

    def returned(self) -> None:
        """A slot may have come free (a browser closed): refill."""
        self._refill()

    def check(self) -> None:
        """Drop spares whose Chromium exited on its own; start replacements."""
        for spare in list(self.spares):
            if not spare.usable:
                self._drop(spare, "it stopped")
        self._refill()

    async def close_all(self) -> list[asyncio.Task[None]]:
        """Keep no more spares; close every one (the tasks end once each is gone)."""
        self._stopped = True
        if self._filler is not None:
            self._filler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._filler
            self._filler = None
        return [self._drop(s, "the runner is stopping") for s in list(self.spares)]

    # -- keeping them ------------------------------------------------------------------------

    def _drop(self, spare: Spare[B], reason: str) -> asyncio.Task[None]:
        if spare in self.spares:
            self.spares.remove(spare)
        return self.host.close(spare.browser, reason)

    def _room(self) -> int:
        return self.host.max_browsers - self.host.sessions() - self.count

    def _short(self) -> bool:
        """Whether a spare should be started now."""
        return (not self._stopped and not self._paused and self.count < self.wanted
                and self._room() > 0)

    def _refill(self) -> None:
        if self._short() and (self._filler is None or self._filler.done()):
            self._filler = background.start(self._fill(), name="warm spare browsers")

    async def _fill(self) -> None:
        """Start spares one at a time (gentler on the machine than all at once) while fewer
        than wanted run and a slot is free. Each waits :data:`REFILL_DELAY_S` first, so that
        starting Chromium (its fork, then a second of CPU) does not slow the answer that
        handed the last spare out, nor the first steps taken with it (connecting and the
        first page load took a third longer with the next start right behind them)."""
        while self._short():
            await asyncio.sleep(REFILL_DELAY_S)
            if not self._short():
                return
            browser = self.host.new_spare(self.shape)
            spare = Spare(browser, self.shape, background.start(
                self.host.launch_spare(browser), name=f"spare browser {browser.id}"))
            self.spares.append(spare)
            ok = await asyncio.shield(spare.started)
            if not ok and spare in self.spares:
                self._paused = True  # no retry loop on a Chromium that does not start
                self._drop(spare, "it failed to start")
