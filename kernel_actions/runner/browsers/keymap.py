"""Characters the display's keyboard map lacks (``ö``, ``é``, ``✓``), given keys that stay.

``xdotool type`` types a character the keymap lacks by remapping a spare key, pressing it
and restoring the map at once. Chromium looks the key up when it gets to the event, often
after the restore, and the character is lost (and a busy machine makes this common). So
before typing, the characters a text needs are put on the display's spare keycodes and
left there: xdotool then finds them in the map and never remaps. A display has about
twenty spare keycodes; a text needing more is typed in parts, with a pause for Chromium to
take in each new map.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Keymap", "keysym_of"]

#: Spare keycodes left for xdotool's own use.
KEEP_FREE = 2


def keysym_of(char: str) -> int:
    """The X11 keysym of a character (Latin-1 as is, the rest as Unicode keysyms)."""
    code = ord(char)
    if 0x20 <= code <= 0x7E or 0xA0 <= code <= 0xFF:
        return code
    return 0x01000000 + code


@functools.cache
def _x11() -> Any:
    name = ctypes.util.find_library("X11")
    if name is None:
        return None
    lib = ctypes.CDLL(name)
    lib.XOpenDisplay.restype = ctypes.c_void_p
    lib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    lib.XCloseDisplay.argtypes = [ctypes.c_void_p]
    lib.XDisplayKeycodes.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int),
                                     ctypes.POINTER(ctypes.c_int)]
    lib.XGetKeyboardMapping.restype = ctypes.POINTER(ctypes.c_ulong)
    lib.XGetKeyboardMapping.argtypes = [ctypes.c_void_p, ctypes.c_ubyte, ctypes.c_int,
                                        ctypes.POINTER(ctypes.c_int)]
    lib.XChangeKeyboardMapping.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                                           ctypes.POINTER(ctypes.c_ulong), ctypes.c_int]
    lib.XFree.argtypes = [ctypes.c_void_p]
    lib.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
    return lib


@dataclass
class Keymap:
    """What one display's keyboard map can type, and the spare keys this process gave out."""

    display: str
    #: Keysyms the map had from the start (on levels xdotool reaches with Shift).
    base: set[int] = field(default_factory=set)
    #: Spare keycodes, and the keysym each holds now (0: none yet).
    spare: dict[int, int] = field(default_factory=dict)
    loaded: bool = False

    def _load(self, lib: Any, dpy: int) -> None:
        lo, hi, per = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
        lib.XDisplayKeycodes(dpy, ctypes.byref(lo), ctypes.byref(hi))
        count = hi.value - lo.value + 1
        table = lib.XGetKeyboardMapping(dpy, lo.value, count, ctypes.byref(per))
        try:
            free = []
            for i in range(count):
                syms = [table[i * per.value + j] for j in range(per.value)]
                if not any(syms):
                    free.append(lo.value + i)
                self.base.update(s for s in syms[:2] if s)
        finally:
            lib.XFree(table)
        self.spare = dict.fromkeys(free[:max(0, len(free) - KEEP_FREE)], 0)
        self.loaded = True

    def parts(self, text: str) -> list[tuple[str, list[int]]]:
        """``text`` cut where the characters it needs beyond the base map exceed the spare
        keys: each part with the keysyms to put on spare keys before typing it. Runs off
        the event loop (it reads the map the first time)."""
        if not self.loaded:
            self._with_display(lambda lib, dpy: None)
        out: list[tuple[str, list[int]]] = []
        current, needed = "", []
        for char in text:
            sym = keysym_of(char)
            if char not in "\n\t" and sym not in self.base and sym not in needed:
                if len(needed) >= max(1, len(self.spare)):
                    out.append((current, needed))
                    current, needed = "", []
                needed.append(sym)
            current += char
        if current:
            out.append((current, needed))
        return out

    def ensure(self, keysyms: list[int]) -> bool:
        """Put ``keysyms`` on spare keys (keeping those already there); whether the map
        changed. Runs off the event loop: it opens its own X connection."""
        if not keysyms:
            return False
        return bool(self._with_display(lambda lib, dpy: self._assign(lib, dpy, keysyms)))

    def _with_display(self, work: Any) -> Any:
        lib = _x11()
        if lib is None:
            self.loaded = True
            return None
        dpy = lib.XOpenDisplay(self.display.encode())
        if not dpy:
            return None
        try:
            if not self.loaded:
                self._load(lib, dpy)
            return work(lib, dpy)
        finally:
            lib.XCloseDisplay(dpy)

    def _assign(self, lib: Any, dpy: int, keysyms: list[int]) -> bool:
        missing = [s for s in keysyms if s not in self.spare.values()]
        if not missing:
            return False
        keep = set(keysyms)
        free = [code for code, sym in self.spare.items() if sym not in keep]
        for code, sym in zip(free, missing, strict=False):
            one = (ctypes.c_ulong * 1)(sym)
            lib.XChangeKeyboardMapping(dpy, code, 1, one, 1)
            self.spare[code] = sym
        lib.XSync(dpy, 0)
        return True
