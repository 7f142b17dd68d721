"""X11 key names as DevTools key events, for the emulated computer controls.

The computer controls take keys by their X11 keysym names (``Return``, ``BackSpace``,
``ctrl+shift+Tab``, ``minus``, as :func:`.computer.normalize_key` spells them). Without a
display server, a key is sent to the page with ``Input.dispatchKeyEvent``, which wants
what a DOM ``KeyboardEvent`` carries: ``key``, ``code``, the Windows virtual key code and,
for keys that type something, ``text``. This module turns one into the other for a US
keyboard, as Kernel's browsers have.
"""

from __future__ import annotations

import ctypes
import functools
from dataclasses import dataclass
from typing import Any

__all__ = ["KeyEvent", "MODIFIER_BITS", "key_event", "modifier_of", "char_event"]

#: DevTools' modifier bits by the modifier names :func:`.computer.normalize_key` writes.
MODIFIER_BITS = {"alt": 1, "ctrl": 2, "meta": 4, "super": 4, "shift": 8}

#: Modifier keysyms (as held keys are often named) to the modifier they are.
_MODIFIER_KEYSYMS = {
    "ctrl": "ctrl", "control_l": "ctrl", "control_r": "ctrl", "shift": "shift",
    "shift_l": "shift", "shift_r": "shift", "alt": "alt", "alt_l": "alt", "alt_r": "alt",
    "meta": "meta", "meta_l": "meta", "meta_r": "meta", "super": "super", "super_l": "super",
    "super_r": "super", "iso_level3_shift": "alt",
}


@dataclass(frozen=True)
class KeyEvent:
    """What ``Input.dispatchKeyEvent`` needs for one key."""

    key: str
    code: str
    key_code: int
    #: What the key types without Shift, and with it ("" for keys that type nothing).
    text: str = ""
    shifted_text: str = ""
    location: int = 0

    def params(self, modifiers: int) -> dict[str, Any]:
        """The ``keyDown`` parameters under ``modifiers`` (DevTools bits)."""
        shift = bool(modifiers & MODIFIER_BITS["shift"])
        text = self.shifted_text if shift and self.shifted_text else self.text
        key = text if len(text) == 1 and text.isprintable() else self.key
        out: dict[str, Any] = {"key": key, "code": self.code,
                               "windowsVirtualKeyCode": self.key_code,
                               "modifiers": modifiers,
                               "location": self.location}
        # With Ctrl, Alt or Meta a key is a shortcut: it types nothing.
        if text and not modifiers & (MODIFIER_BITS["ctrl"] | MODIFIER_BITS["alt"]
                                     | MODIFIER_BITS["meta"]):
            out["text"] = out["unmodifiedText"] = text
        return out


def _build() -> tuple[dict[str, KeyEvent], dict[str, tuple[KeyEvent, bool]]]:
    keys: dict[str, KeyEvent] = {}
    chars: dict[str, tuple[KeyEvent, bool]] = {}

    def add(names: tuple[str, ...], event: KeyEvent) -> None:
        for name in names:
            keys[name] = event
        if event.text:
            chars.setdefault(event.text, (event, False))
        if event.shifted_text:
            chars.setdefault(event.shifted_text, (event, True))

    for c in "abcdefghijklmnopqrstuvwxyz":
        add((c,), KeyEvent(c, f"Key{c.upper()}", ord(c.upper()), c, c.upper()))
    for d, shifted in zip("0123456789", ")!@#$%^&*(", strict=True):
        add((d,), KeyEvent(d, f"Digit{d}", ord(d), d, shifted))
    punctuation = [
        ("minus", "underscore", "-", "_", "Minus", 189),
        ("equal", "plus", "=", "+", "Equal", 187),
        ("bracketleft", "braceleft", "[", "{", "BracketLeft", 219),
        ("bracketright", "braceright", "]", "}", "BracketRight", 221),
        ("backslash", "bar", "\\", "|", "Backslash", 220),
        ("semicolon", "colon", ";", ":", "Semicolon", 186),
        ("apostrophe", "quotedbl", "'", '"', "Quote", 222),
        ("comma", "less", ",", "<", "Comma", 188),
        ("period", "greater", ".", ">", "Period", 190),
        ("slash", "question", "/", "?", "Slash", 191),
        ("grave", "asciitilde", "`", "~", "Backquote", 192),
    ]
    for name, shifted_name, text, shifted, code, key_code in punctuation:
        event = KeyEvent(text, code, key_code, text, shifted)
        add((name, text), event)
        keys[shifted_name] = keys[shifted] = event
    for name, digit in zip(("parenright", "exclam", "at", "numbersign", "dollar", "percent",
                            "asciicircum", "ampersand", "asterisk", "parenleft"), "0123456789",
                           strict=True):
        keys[name] = keys[digit]
    add(("space", " "), KeyEvent(" ", "Space", 32, " "))
    add(("Return",), KeyEvent("Enter", "Enter", 13, "\r"))
    add(("KP_Enter",), KeyEvent("Enter", "NumpadEnter", 13, "\r", location=3))
    named = [
        (("Tab", "ISO_Left_Tab"), "Tab", "Tab", 9), (("BackSpace",), "Backspace", "Backspace", 8),
        (("Escape",), "Escape", "Escape", 27), (("Delete",), "Delete", "Delete", 46),
        (("Insert",), "Insert", "Insert", 45), (("Home",), "Home", "Home", 36),
        (("End",), "End", "End", 35), (("Page_Up", "Prior"), "PageUp", "PageUp", 33),
        (("Page_Down", "Next"), "PageDown", "PageDown", 34),
        (("Left",), "ArrowLeft", "ArrowLeft", 37), (("Up",), "ArrowUp", "ArrowUp", 38),
        (("Right",), "ArrowRight", "ArrowRight", 39), (("Down",), "ArrowDown", "ArrowDown", 40),
        (("Caps_Lock",), "CapsLock", "CapsLock", 20), (("Num_Lock",), "NumLock", "NumLock", 144),
        (("Scroll_Lock",), "ScrollLock", "ScrollLock", 145), (("Pause",), "Pause", "Pause", 19),
        (("Print",), "PrintScreen", "PrintScreen", 44), (("Menu",), "ContextMenu",
                                                         "ContextMenu", 93),
    ]
    for names, key, code, key_code in named:
        add(names, KeyEvent(key, code, key_code))
    for n in range(1, 25):
        add((f"F{n}",), KeyEvent(f"F{n}", f"F{n}", 111 + n))
    for n in range(10):
        add((f"KP_{n}",), KeyEvent(str(n), f"Numpad{n}", 96 + n, str(n), location=3))
    for name, text, code, key_code in (("KP_Add", "+", "NumpadAdd", 107),
                                       ("KP_Subtract", "-", "NumpadSubtract", 109),
                                       ("KP_Multiply", "*", "NumpadMultiply", 106),
                                       ("KP_Divide", "/", "NumpadDivide", 111),
                                       ("KP_Decimal", ".", "NumpadDecimal", 110)):
        keys[name] = KeyEvent(text, code, key_code, text, location=3)
    modifiers = [("ctrl", "Control", "ControlLeft", 17, 1), ("Control_R", "Control",
                                                             "ControlRight", 17, 2),
                 ("shift", "Shift", "ShiftLeft", 16, 1), ("Shift_R", "Shift", "ShiftRight", 16, 2),
                 ("alt", "Alt", "AltLeft", 18, 1), ("Alt_R", "Alt", "AltRight", 18, 2),
                 ("super", "Meta", "MetaLeft", 91, 1), ("Super_R", "Meta", "MetaRight", 92, 2),
                 ("meta", "Meta", "MetaLeft", 91, 1), ("Meta_R", "Meta", "MetaRight", 92, 2)]
    for name, key, code, key_code, location in modifiers:
        keys[name] = KeyEvent(key, code, key_code, location=location)
    for left, right in (("Control_L", "ctrl"), ("Shift_L", "shift"), ("Alt_L", "alt"),
                        ("Super_L", "super"), ("Meta_L", "meta")):
        keys[left] = keys[right]
    for upper in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        keys[upper] = keys[upper.lower()]
    return keys, chars


_KEYS, _CHARS = _build()


_X11_NAMES = ("libX11.so.6", "libX11.so", "/opt/X11/lib/libX11.6.dylib", "libX11.6.dylib")


@functools.cache
def libx11() -> Any:
    """Xlib through ctypes, for ``XStringToKeysym`` (``None`` where it isn't installed).

    Loaded by its soname, not through ``ctypes.util.find_library``, which runs
    ``ldconfig`` (a process the supervisor did not start) to look it up."""
    lib = None
    for name in _X11_NAMES:
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError:
            continue
    if lib is None:
        return None
    lib.XStringToKeysym.argtypes = [ctypes.c_char_p]
    lib.XStringToKeysym.restype = ctypes.c_ulong
    return lib


def _keysym_char(name: str) -> str | None:
    """The character an X11 keysym name types (``odiaeresis`` → ``ö``, ``U2713`` → ``✓``)."""
    if name.startswith("U") and len(name) > 1:
        try:
            return chr(int(name[1:], 16))
        except (ValueError, OverflowError):
            pass
    lib = libx11()
    if lib is None:
        return None
    try:
        sym = int(lib.XStringToKeysym(name.encode()))
    except UnicodeEncodeError:
        return None
    if 0x20 <= sym <= 0x7E or 0xA0 <= sym <= 0xFF:
        return chr(sym)
    if sym & 0xFF000000 == 0x01000000:
        return chr(sym & 0x00FFFFFF)
    return None


def modifier_of(name: str) -> str | None:
    """The modifier (``ctrl``, ``shift``, ``alt``, ``meta``, ``super``) a key name is, if any."""
    return _MODIFIER_KEYSYMS.get(name.lower())


def char_event(char: str) -> tuple[KeyEvent, bool] | None:
    """The US-keyboard key that types ``char``, and whether it needs Shift."""
    return _CHARS.get(char)


def key_event(name: str) -> tuple[KeyEvent, bool] | None:
    """The key event for one X11 key name, and whether Shift is implied (``A``,
    ``exclam``, ``?``); ``None`` for a name that is no key the emulation knows."""
    event = _KEYS.get(name)
    if event is not None:
        implied = (len(name) == 1 and name.isalpha() and name.isupper()) or \
            name in _SHIFTED_NAMES or (len(name) == 1 and name == event.shifted_text)
        return event, implied
    char = _keysym_char(name)
    if char is None:
        return None
    if char in _CHARS:
        return _CHARS[char]
    return KeyEvent(char, "", 0, char), False


#: Keysym names of characters typed with Shift on a US keyboard.
_SHIFTED_NAMES = frozenset({
    "underscore", "plus", "braceleft", "braceright", "bar", "colon", "quotedbl", "less",
    "greater", "question", "asciitilde", "parenright", "exclam", "at", "numbersign", "dollar",
    "percent", "asciicircum", "ampersand", "asterisk", "parenleft"})
