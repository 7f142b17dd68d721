"""``PATCH /browsers/{id}``: rename, retag, change the idle timeout, open a URL.

As on Kernel, an omitted field is left alone, ``name: ""`` clears the name, and ``tags``
replaces the whole set (``{}`` clears it). ``timeout_seconds`` is a local extra (Kernel
fixes it at creation). Cloud-only settings (proxies, network, location, telemetry) are
accepted and ignored with a notice; loading a profile into a running browser is refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Protocol

from ..errors import ApiError, bad_request, conflict
from .cdp import CdpError, CdpMux


class LocalBrowser(Protocol):
    """What an update changes of a browser (``browser.LocalBrowser`` provides it)."""

    name: str | None
    tags: dict[str, str] | None
    timeout_s: int
    cdp: CdpMux | None

__all__ = ["update_browser"]

_CLOUD_ONLY = ("disable_default_proxy", "location", "network", "proxy", "proxy_id",
               "telemetry")
_ABSOLUTE_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S")
MAX_TIMEOUT_S = 259_200


async def update_browser(browser: LocalBrowser, body: dict[str, Any], *,
                         name_taken: Callable[[str], bool],
                         notice: Callable[[str, str], None]) -> None:
    """Check every field first, then apply them (a bad field changes nothing)."""
    changes: dict[str, Any] = {}
    if "name" in body:
        name = body["name"]
        if name is not None and not isinstance(name, str):
            raise bad_request("'name' must be a string ('' clears it)")
        if name and name != browser.name and name_taken(name):
            raise conflict(f"a browser named {name!r} is already running")
        changes["name"] = name or None
    if "tags" in body and body["tags"] is not None:
        tags = body["tags"]
        if not isinstance(tags, dict) or len(tags) > 50 or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
            raise bad_request("'tags' must be an object of at most 50 string values")
        changes["tags"] = dict(tags) or None
    if body.get("timeout_seconds") is not None:
        timeout = body["timeout_seconds"]
        if isinstance(timeout, bool) or not isinstance(timeout, int) or not (
                1 <= timeout <= MAX_TIMEOUT_S):
            raise bad_request(f"'timeout_seconds' must be an integer between 1 and "
                              f"{MAX_TIMEOUT_S}, got {timeout!r}")
        changes["timeout_s"] = timeout
    start_url = body.get("start_url")
    if start_url:
        if not isinstance(start_url, str) or not _ABSOLUTE_URL.match(start_url):
            raise bad_request(f"'start_url' must be an absolute URL, got {start_url!r}")
    if body.get("profile") is not None:
        raise ApiError(400, "bad_request", "loading a profile into a running browser is not "
                       "available locally: pass 'profile' to browsers.create",
                       headers={"x-should-retry": "false"})
    for key in _CLOUD_ONLY:
        if body.get(key) not in (None, False, "", {}, []):
            notice(f"patch:{key}", f"{key!r} is a Kernel cloud setting: the local Chromium "
                                   "ignores it")
    for key, value in changes.items():
        setattr(browser, key, value)
    if start_url and browser.cdp is not None:
        await _open(browser, start_url)


async def _open(browser: LocalBrowser, url: str) -> None:
    """Navigate the browser's first tab (best effort, as on Kernel)."""
    assert browser.cdp is not None
    try:
        connection = await browser.cdp.connect()
    except CdpError:
        return
    try:
        targets = (await connection.send("Target.getTargets"))["targetInfos"]
        pages = [t for t in targets if t.get("type") == "page"]
        if not pages:
            await connection.send("Target.createTarget", {"url": url})
            return
        attached = await connection.send("Target.attachToTarget",
                                         {"targetId": pages[0]["targetId"], "flatten": True})
        await connection.send("Page.navigate", {"url": url}, attached["sessionId"])
    except (CdpError, KeyError):
        pass
    finally:
        connection.close()
