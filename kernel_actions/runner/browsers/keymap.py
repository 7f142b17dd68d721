"""Which key types a keysym on one display, and keys given to characters the map lacks.

A keysym on the first two levels of the display's keyboard map is typed with its key (with
Shift on the second level), as xdotool does. A character the map lacks (``ö``, ``é``,
``✓``) needs a key of its own: xdotool remaps a spare keycode, presses it and restores the
map at once, but Chromium looks the key up when it gets to the event, often after the
restore, and the character is lost (a busy machine makes this common). So such a keysym is
put on one of the display's spare keycodes and left there; the next text that needs it finds
it in the map. Chromium takes in a new map a while after the X server has it (keys pressed
at once on a key just given a keysym type nothing), so keys on a changed key are pressed
:data:`REMAP_PAUSE_S` after the change, and the keysyms a text needs are put on keys all
at once first: a character the map lacks costs that pause the first time only. A display
has a dozen or more spare keycodes; when all hold keysyms, the one used longest ago is given
to the new keysym, after a pause if it was used within :data:`REMAP_PAUSE_S` (Chromium may
not have taken in the keys it typed yet).

This module only keeps the books; :mod:`.xinput` reads the map from the X server and makes
the changes this asks for, on the display's own thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

__all__ = ["Keymap", "KeyCode", "keysym_of", "REMAP_PAUSE_S", "KEEP_FREE"]

#: Spare keycodes left for other clients' own use.
KEEP_FREE = 2
#: How long Chromium is given to take in a changed map before a key on it is pressed, and
#: how long a spare key keeps its keysym after a key on it was pressed or it was given one,
#: before it may be given another.
REMAP_PAUSE_S = 0.2
#: The Shift level of a key (the second keysym of its group).
SHIFT_LEVEL = 1


def keysym_of(char: str) -> int:
    """The X11 keysym of a character (Latin-1 as is, ``\\n`` and ``\\t`` as Return and Tab,
    the rest as Unicode keysyms)."""
    if char == "\n":
        return 0xFF0D  # Return
    if char == "\t":
        return 0xFF09  # Tab
    code = ord(char)
    if 0x20 <= code <= 0x7E or 0xA0 <= code <= 0xFF:
        return code
    return 0x01000000 + code


@dataclass(frozen=True)
class KeyCode:
    """Where a keysym is: its keycode and whether Shift reaches it."""

    code: int
    shift: bool


@dataclass
class Keymap:
    """What one display's keyboard map can type, and the spare keys given out."""

    #: Keysyms of the map on the levels reached without and with Shift.
    base: dict[int, KeyCode] = field(default_factory=dict)
    #: Spare keycodes, and the keysym each holds now (0: none yet).
    spare: dict[int, int] = field(default_factory=dict)
    #: When a key on each spare keycode was last pressed (``time.monotonic()``).
    used: dict[int, float] = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic

    def load(self, first_keycode: int, table: list[list[int]]) -> None:
        """Read the map as ``GetKeyboardMapping`` answers it (one row of keysyms per keycode
        from ``first_keycode``). On the first read, keycodes with no keysym at all are the
        spare ones; a read after another client changed the map keeps those still ours. A
        keysym on several keys is typed with the first that has it without Shift, else the
        first that has it with Shift."""
        base: dict[int, KeyCode] = {}
        free: list[int] = []
        spare: dict[int, int] = {}
        for i, row in enumerate(table):
            code = first_keycode + i
            if code in self.spare and (not any(row) or row[0] == self.spare[code]):
                spare[code] = self.spare[code] if any(row) else 0  # still ours
                continue
            if not any(row):
                free.append(code)
                continue
            for level, sym in enumerate(row[:2]):
                if sym and (sym not in base or (base[sym].shift and not level)):
                    base[sym] = KeyCode(code, level == SHIFT_LEVEL)
        if not self.spare:  # the first read: all but a few free keys are ours to give
            spare = dict.fromkeys(free[:max(0, len(free) - KEEP_FREE)], 0)
        self.base = base
        self.spare = spare

    def find(self, keysym: int) -> KeyCode | None:
        """The key for ``keysym`` if the map has it (spare keys included)."""
        key = self.base.get(keysym)
        if key is not None:
            return key
        for code, sym in self.spare.items():
            if sym == keysym:
                return KeyCode(code, False)
        return None

    def place(self, keysym: int, taken: Collection[int] = ()) -> tuple[int, float]:
        """A spare keycode to put ``keysym`` on (one unused, else the one used longest ago;
        none of ``taken``), and how long to wait before changing it (0 unless a key on it
        was just pressed or given a keysym)."""
        free = [c for c in self.spare if c not in taken]
        if not free:
            raise LookupError("the display's keyboard map has no spare key")
        code = min(free, key=lambda c: (self.spare[c] != 0, self.used.get(c, 0.0)))
        last = self.used.get(code)
        wait = 0.0 if last is None else max(0.0, last + REMAP_PAUSE_S - self.clock())
        return code, wait

    def assign(self, code: int, keysym: int) -> None:
        """Record that ``code`` now holds ``keysym`` (kept a while, as if just pressed)."""
        self.spare[code] = keysym
        self.used[code] = self.clock()

    def pressed(self, code: int) -> None:
        """Record that the key ``code`` was pressed (a spare one is then kept a while)."""
        if code in self.spare:
            self.used[code] = self.clock()
