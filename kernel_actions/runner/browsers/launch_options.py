"""What a browser is started with beyond the defaults: a proxy and extensions.

``POST /browsers`` takes ``proxy_id`` (or ``proxy: {id | name | mode}``) and
``extensions: [{id | name}, ...]``; :func:`launch_options` checks and looks them up (400,
404) before anything starts, and :meth:`LaunchOptions.prepare` readies them in the new
browser's folder: each extension copied in (loaded with ``--load-extension``, which
Debian's Chromium still honours) and, for a proxy that wants credentials, a forwarder
started for this browser (see :mod:`..proxies.forwarder`), which goes when the browser
does (:meth:`LaunchOptions.release`). A proxy without credentials is given to Chromium
as it is. A browser with either never comes from a warm spare (a spare was started
without them).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import bad_request
from ..proxies.forwarder import ProxyForwarder
from ..proxies.store import Proxies, ProxyTarget
from .extensions import Extensions, chromium_switches

__all__ = ["LaunchOptions", "launch_options"]


@dataclass
class LaunchOptions:
    """A browser's proxy and extensions (none by default)."""

    proxy: ProxyTarget | None = None
    #: ``{"id", "name"}`` of the proxy, as the browser object names it.
    proxy_ref: dict[str, Any] | None = None
    extensions: list[dict[str, Any]] = field(default_factory=list)
    #: Chromium switches, once :meth:`prepare` ran.
    switches: list[str] = field(default_factory=list)
    forwarder: ProxyForwarder | None = field(default=None, repr=False)

    @property
    def empty(self) -> bool:
        return self.proxy is None and not self.extensions

    async def prepare(self, folder: Path, store: Extensions,
                      log: Callable[[str], None]) -> None:
        """Copy the extensions into ``folder``, start the proxy's forwarder if it needs
        one, and say which switches Chromium gets."""
        switches: list[str] = []
        if self.extensions:
            paths = await store.copy_into(self.extensions, folder / "extensions")
            switches += chromium_switches(paths)
        if self.proxy is not None:
            address = self.proxy.address
            if self.proxy.has_credentials:
                self.forwarder = ProxyForwarder(self.proxy, log)
                await self.forwarder.start()
                address = self.forwarder.address
            switches.append(f"--proxy-server={address}")
            if self.proxy.bypass_hosts:
                switches.append(f"--proxy-bypass-list={';'.join(self.proxy.bypass_hosts)}")
        self.switches = switches

    async def release(self) -> None:
        """Stop what :meth:`prepare` started (the browser is gone)."""
        if self.forwarder is not None:
            with contextlib.suppress(Exception):
                await self.forwarder.close()
            self.forwarder = None

    def wire(self) -> dict[str, Any]:
        """What the browser object says of its proxy."""
        if self.proxy_ref is None:
            return {"proxy_id": None}
        return {"proxy_id": self.proxy_ref["id"], "proxy": dict(self.proxy_ref)}


def _proxy_key(body: dict[str, Any]) -> str | None:
    """The proxy ``body`` selects (id or name), ``None`` for direct egress."""
    proxy_id, proxy = body.get("proxy_id"), body.get("proxy")
    if proxy_id not in (None, "") and proxy is not None:
        raise bad_request("'proxy' and 'proxy_id' can't be combined: use 'proxy'")
    if proxy_id not in (None, ""):
        if not isinstance(proxy_id, str):
            raise bad_request("'proxy_id' must be a string")
        return proxy_id
    if proxy is None:
        return None
    if not isinstance(proxy, dict):
        raise bad_request("'proxy' must be an object with one of 'mode', 'id' or 'name'")
    given = [k for k in ("mode", "id", "name") if proxy.get(k) not in (None, "")]
    if len(given) != 1:
        raise bad_request("'proxy' needs exactly one of 'mode', 'id' or 'name'")
    if given[0] == "mode":
        if proxy["mode"] not in ("direct", "default"):
            raise bad_request(f"'proxy.mode' must be direct or default, got {proxy['mode']!r}")
        return None  # no stealth proxy locally: the default is direct egress
    key = proxy[given[0]]
    if not isinstance(key, str):
        raise bad_request(f"'proxy.{given[0]}' must be a string")
    return key


def launch_options(body: dict[str, Any], proxies: Proxies,
                   extensions: Extensions) -> LaunchOptions:
    """The proxy and extensions ``body`` (a ``POST /browsers`` body) asks for, looked up."""
    options = LaunchOptions(extensions=extensions.resolve(body.get("extensions")))
    key = _proxy_key(body)
    if key is not None:
        record = proxies.find(key)
        options.proxy = proxies.target(record["id"])
        options.proxy_ref = {"id": record["id"], "name": record.get("name")}
    return options
