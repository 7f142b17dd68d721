"""The computer tool: the model's actions, carried out with Kernel's computer controls.

Every action becomes a call to ``kernel.browsers.computer.*`` on the session's browser
(the mouse and keyboard of its screen), and answers with a fresh screenshot so the model
sees what its action did.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

#: The model names keys the xdotool way ("ctrl+l"); Kernel takes X11 keysyms ("Ctrl+l").
_MODIFIERS = {"ctrl": "Ctrl", "control": "Ctrl", "shift": "Shift", "alt": "Alt",
              "super": "Super", "cmd": "Super", "meta": "Super"}
_KEYS = {"enter": "Return", "return": "Return", "esc": "Escape", "escape": "Escape",
         "backspace": "BackSpace", "tab": "Tab", "space": "space", "delete": "Delete",
         "up": "Up", "down": "Down", "left": "Left", "right": "Right",
         "pageup": "Page_Up", "pagedown": "Page_Down", "home": "Home", "end": "End",
         "-": "minus", "+": "plus"}
_CLICKS = {"left_click": ("left", 1), "right_click": ("right", 1),
           "middle_click": ("middle", 1), "double_click": ("left", 2),
           "triple_click": ("left", 3)}
_SCROLL = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0)}


def keysym(combo: str) -> str:
    """``"ctrl+shift+tab"`` → ``"Ctrl+Shift+Tab"``; ``"enter"`` → ``"Return"``."""
    parts = [p for p in combo.replace(" ", "").split("+") if p] or ["plus"]
    named = []
    for part in parts:
        low = part.lower()
        named.append(_MODIFIERS.get(low) or _KEYS.get(low)
                     or (part if len(part) == 1 else part[:1].upper() + part[1:]))
    return "+".join(named)


class ToolError(Exception):
    """An action the model asked for that can't be done; the model is told why."""


class Computer:
    """The browser's screen, as the model's ``computer`` tool."""

    def __init__(self, computer: Any, session_id: str) -> None:
        #: ``kernel.browsers.computer`` of an ``AsyncKernel`` (or anything with its methods).
        self.computer = computer
        self.session_id = session_id

    async def screenshot(self) -> str:
        """A PNG of the screen, base64-encoded for the model."""
        response = await self.computer.capture_screenshot(self.session_id)
        return base64.b64encode(await response.read()).decode()

    async def run(self, action: dict[str, Any]) -> str:
        """Carry out one tool call; the screenshot that follows it."""
        name = action.get("action")
        sid = self.session_id
        c = self.computer
        if name in _CLICKS:
            button, clicks = _CLICKS[name]
            x, y = self._point(action)
            await c.click_mouse(sid, x=x, y=y, button=button, num_clicks=clicks)
        elif name == "mouse_move":
            x, y = self._point(action)
            await c.move_mouse(sid, x=x, y=y)
        elif name == "left_click_drag":
            start = self._point({"coordinate": action.get("start_coordinate")})
            end = self._point(action)
            await c.drag_mouse(sid, path=[list(start), list(end)])
        elif name == "type":
            await c.type_text(sid, text=str(action.get("text", "")))
        elif name == "key":
            await c.press_key(sid, keys=[keysym(str(action.get("text", "")))])
        elif name == "scroll":
            x, y = self._point(action)
            dx, dy = _SCROLL.get(str(action.get("scroll_direction")), (0, 1))
            amount = int(action.get("scroll_amount") or 3)
            await c.scroll(sid, x=x, y=y, delta_x=dx * amount, delta_y=dy * amount)
        elif name == "wait":
            await asyncio.sleep(min(float(action.get("duration") or 1), 10))
        elif name != "screenshot":
            raise ToolError(f"unsupported action {name!r}")
        return await self.screenshot()

    @staticmethod
    def _point(action: dict[str, Any]) -> tuple[int, int]:
        point = action.get("coordinate")
        if (not isinstance(point, list | tuple) or len(point) != 2
                or not all(isinstance(v, int | float) for v in point)):
            raise ToolError(f"{action.get('action')!r} needs a coordinate [x, y], got {point!r}")
        return int(point[0]), int(point[1])
