"""The parts of Chromium's window a headless browser lacks: its address bar and tab strip.

Kernel's computer-use agents drive the browser's own UI from the keyboard: ``Ctrl+L``,
type a URL, ``Return``; ``Ctrl+T`` for a new tab, ``Ctrl+Tab`` to switch. A headless
browser has no such UI, so the emulated computer controls (:mod:`.emulated`) keep it
here: what is typed into the address bar, what it turns into when ``Return`` is pressed,
and which tabs are open, in what order, and which one is shown.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import quote_plus

__all__ = ["AddressBar", "Tabs", "SEARCH_URL", "resolve_typed"]

#: Where text that is no address goes, as in a fresh Chrome (its default search engine).
SEARCH_URL = "https://www.google.com/search?q="
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
#: Schemes written without ``//`` that Chrome's address bar opens as they are.
_BARE_SCHEMES = ("about:", "data:", "chrome:", "view-source:", "mailto:")
_LOCAL_HOSTS = ("localhost",)


def _host_of(text: str) -> str:
    host = re.split(r"[/?#]", text, maxsplit=1)[0]
    if host.startswith("["):  # [::1]:8080
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def resolve_typed(text: str) -> str:
    """What Chrome's address bar opens for ``text``: a URL with a scheme as it is; a host
    name (with a dot, or ``localhost``, or an IP address, optionally with a port and path)
    with ``https://`` in front (``http://`` for local addresses and IPs); anything else (words,
    spaces) a search for it."""
    typed = text.strip()
    if not typed:
        return "about:blank"
    if _SCHEME.match(typed) or typed.lower().startswith(_BARE_SCHEMES):
        return typed
    if not any(c.isspace() for c in typed):
        host = _host_of(typed).lower()
        if host in _LOCAL_HOSTS or _is_ip(host):
            return "http://" + typed
        labels = host.split(".")
        if len(labels) >= 2 and all(labels) and re.fullmatch(r"[a-z0-9.-]+", host) \
                and not labels[-1].isdigit():
            return "https://" + typed
    return SEARCH_URL + quote_plus(typed)


@dataclass
class AddressBar:
    """The address bar's text while it has the keyboard (``focused``); as in Chrome,
    focusing it selects the whole address, so typing replaces it."""

    focused: bool = False
    text: str = ""
    selected: bool = False

    def focus(self, current_url: str, *, select: bool = True) -> None:
        self.focused = True
        self.text = "" if current_url == "about:blank" else current_url
        self.selected = select and bool(self.text)

    def leave(self) -> None:
        self.focused = False
        self.text = ""
        self.selected = False

    def type(self, text: str) -> None:
        if self.selected:
            self.text = ""
            self.selected = False
        self.text += text

    def delete(self) -> None:
        """BackSpace (or Delete): the selection, else the last character."""
        self.text = "" if self.selected else self.text[:-1]
        self.selected = False

    def select_all(self) -> None:
        self.selected = bool(self.text)

    def selection(self) -> str:
        return self.text if self.selected else ""

    def submit(self) -> str:
        """``Return``: the URL to open; the bar gives the keyboard back to the page."""
        url = resolve_typed(self.text)
        self.leave()
        return url


@dataclass
class Tabs:
    """The browser's tabs (page targets) in the order they were opened, and the one shown."""

    order: list[str] = field(default_factory=list)
    urls: dict[str, str] = field(default_factory=dict)
    active: str | None = None

    def opened(self, target_id: str, url: str, *, show: bool = True) -> bool:
        """A new tab; whether it was new. A tab opened while the browser runs is shown, as
        Chrome shows a tab a page or a script opens."""
        self.urls[target_id] = url
        if target_id in self.order:
            return False
        self.order.append(target_id)
        if show or self.active is None:
            self.active = target_id
        return True

    def closed(self, target_id: str) -> None:
        """A tab went; if it was shown, the one to its right is (else the new last one)."""
        if target_id not in self.order:
            return
        index = self.order.index(target_id)
        self.order.remove(target_id)
        self.urls.pop(target_id, None)
        if self.active == target_id:
            self.active = self.order[min(index, len(self.order) - 1)] if self.order else None

    def step(self, by: int) -> str | None:
        """Show the tab ``by`` places to the right (wrapping around); the one now shown."""
        if self.active is None or not self.order:
            return self.active
        index = self.order.index(self.active) if self.active in self.order else 0
        self.active = self.order[(index + by) % len(self.order)]
        return self.active

    def show(self, number: int) -> str | None:
        """``Ctrl+1`` … ``Ctrl+8`` show that tab (if there is one); ``Ctrl+9`` the last."""
        if not self.order:
            return None
        if number == 9:
            self.active = self.order[-1]
        elif number <= len(self.order):
            self.active = self.order[number - 1]
        return self.active

    @property
    def url(self) -> str:
        return self.urls.get(self.active or "", "about:blank")
