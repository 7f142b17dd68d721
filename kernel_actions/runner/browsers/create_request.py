"""Reading a ``POST /browsers`` body into a :class:`CreateRequest`, with the hosted API's
defaults and limits; every bad field is a 400 that names it.

Cloud-only settings (stealth, GPUs, ...) are accepted and ignored, with a one-time notice
each. ``proxy``/``proxy_id`` and ``extensions`` are read by :mod:`.launch_options`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import bad_request
from .viewports import check_viewport

__all__ = ["CreateRequest", "parse_create", "DEFAULT_TIMEOUT_S", "MAX_TIMEOUT_S",
           "KERNEL_MIN_TIMEOUT_S", "DEFAULT_VIEWPORT", "REGIONS", "CLOUD_ONLY"]

DEFAULT_TIMEOUT_S = 60
MAX_TIMEOUT_S = 259_200
#: The hosted API's smallest ``timeout_seconds``; smaller values work here, with a notice.
KERNEL_MIN_TIMEOUT_S = 10
DEFAULT_VIEWPORT = {"width": 1920, "height": 1080}
REGIONS = ("us-east", "us-west", "eu-west", "ap-southeast")
#: Settings of ``POST /browsers`` that exist only in Kernel's cloud.
CLOUD_ONLY = frozenset({
    "stealth", "persistence",
    "gpu", "memory", "video_memory", "location", "network", "chrome_policy", "telemetry",
    "vaults", "region",
})
_HONOURED = frozenset({"invocation_id", "headless", "start_url", "timeout_seconds", "viewport",
                       "name", "tags", "profile", "kiosk_mode", "proxy", "proxy_id",
                       "extensions"})
_ABSOLUTE_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S")


@dataclass
class CreateRequest:
    """What a ``POST /browsers`` body asks for, checked."""

    invocation_id: str | None
    headless: bool
    timeout_s: int
    viewport: dict[str, int]
    start_url: str | None
    name: str | None
    tags: dict[str, str] | None
    region: str
    kiosk: bool = False


def _positive_int(value: Any, name: str, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= hi:
        raise bad_request(f"{name!r} must be an integer between 1 and {hi}, got {value!r}")
    return value


def _optional_bool(body: dict[str, Any], name: str) -> bool:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise bad_request(f"{name!r} must be true or false")
    return bool(value)


def parse_create(body: dict[str, Any], notice: Callable[[str, str], None]) -> CreateRequest:
    """The request ``body`` makes, or the 400 it earns. ``notice(key, message)`` tells the
    developer (once per key) of settings that work here but not on Kernel, or not here."""
    inv_id = body.get("invocation_id")
    if inv_id is not None and (not isinstance(inv_id, str) or not inv_id.strip()):
        raise bad_request("'invocation_id' must be a non-empty string")
    headless = _optional_bool(body, "headless")
    kiosk = _optional_bool(body, "kiosk_mode")
    timeout = body.get("timeout_seconds")
    if timeout is None:
        timeout = DEFAULT_TIMEOUT_S
    timeout = _positive_int(timeout, "timeout_seconds", MAX_TIMEOUT_S)
    if timeout < KERNEL_MIN_TIMEOUT_S:
        notice("short-timeout", f"timeout_seconds {timeout} works here, but Kernel's "
                                f"cloud requires at least {KERNEL_MIN_TIMEOUT_S}")
    viewport = dict(DEFAULT_VIEWPORT)
    raw_viewport = body.get("viewport")
    if raw_viewport is not None:
        viewport = check_viewport(raw_viewport)  # Kernel's presets, and sizes within them
    start_url = body.get("start_url")
    if start_url is not None and not isinstance(start_url, str):
        raise bad_request("'start_url' must be a string")
    if start_url and not _ABSOLUTE_URL.match(start_url):
        # It is given to Chromium on its command line: never let it read as a switch.
        raise bad_request(f"'start_url' must be an absolute URL such as https://example.com, "
                          f"got {start_url!r}")
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise bad_request("'name' must be a non-empty string")
    tags = body.get("tags")
    if tags is not None and (not isinstance(tags, dict) or len(tags) > 50 or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in tags.items())):
        raise bad_request("'tags' must be an object of at most 50 string values")
    region = body.get("region")
    if region is not None and region not in REGIONS:
        raise bad_request(f"'region' must be one of {', '.join(REGIONS)}; got {region!r}")
    for key, value in body.items():
        if key in _HONOURED or value in (None, False, "", [], {}):
            continue
        if key in CLOUD_ONLY:
            notice(f"field:{key}", f"{key!r} is a Kernel cloud setting: the local "
                                   "Chromium ignores it")
        else:
            notice(f"field:{key}", f"ignoring {key!r}: the local runner doesn't support it")
    # Kernel's default is a headful browser; either way it gets a screen (see
    # Browsers.start_display).
    return CreateRequest(inv_id, headless, timeout, viewport, start_url or None, name, tags,
                         region or "us-east", kiosk)
