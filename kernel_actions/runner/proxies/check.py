"""``POST /proxies/{id}/check``: try a connection through a proxy, as a browser would.

An ``https://`` URL is reached with ``CONNECT host:port`` (what Chromium sends for every
HTTPS site): the proxy is available when it answers 2xx, i.e. it took the credentials
and reached the site. An ``http://`` URL is asked for through the proxy (absolute-form
``GET``): available when an answer comes back that is neither ``407`` (credentials
refused) nor one of the gateway errors a proxy gives when it can't reach a site (502,
503, 504). Without a URL, ``https://example.com/`` is tried.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import bad_request
from .store import ProxyTarget
from .upstream import HeadError, auth_header, open_upstream, read_head, split_head

__all__ = ["CheckResult", "DEFAULT_CHECK_URL", "check_proxy", "check_url"]

DEFAULT_CHECK_URL = "https://example.com/"
CHECK_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class CheckResult:
    status: str  # "available" | "unavailable"
    ip_address: str | None
    error: str | None = None


def check_url(value: object) -> str | None:
    """The ``url`` of a check request: ``None`` or an http(s) URL with a host (else 400)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 8192:
        raise bad_request("'url' must be an http:// or https:// URL")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(
            c in value for c in "\r\n\0 "):
        raise bad_request(f"'url' must be an http:// or https:// URL, got {value!r}")
    return value


async def check_proxy(target: ProxyTarget, url: str | None) -> CheckResult:
    """Reach ``url`` (or the default) through ``target``; never raises."""
    parts = urlsplit(url or DEFAULT_CHECK_URL)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    authority = (f"[{host}]" if ":" in host else host) + f":{port}"
    if parts.scheme == "https":
        line = f"CONNECT {authority} HTTP/1.1".encode()
        fields = [b"Host: " + authority.encode()]
    else:
        line = f"GET {url or DEFAULT_CHECK_URL} HTTP/1.1".encode()
        fields = [b"Host: " + authority.encode(), b"Connection: close",
                  b"User-Agent: kernel-actions proxy check"]
    auth = auth_header(target)
    if auth is not None:
        fields.append(auth)
    ip = None
    try:
        reader, writer = await open_upstream(target, CHECK_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        return CheckResult("unavailable", None, f"cannot connect to the proxy "
                                                f"{target.host}:{target.port}: {exc or 'timed out'}")
    try:
        peer = writer.get_extra_info("peername")
        ip = peer[0] if isinstance(peer, tuple) else None
        writer.write(b"\r\n".join([line, *fields]) + b"\r\n\r\n")
        await writer.drain()
        status_line, _ = split_head(await asyncio.wait_for(read_head(reader), CHECK_TIMEOUT_S))
    except (OSError, TimeoutError, HeadError) as exc:
        return CheckResult("unavailable", ip, f"the proxy gave no answer: {exc or 'timed out'}")
    finally:
        writer.close()
    words = status_line.split()
    code = int(words[1]) if len(words) > 1 and words[1].isdigit() else 0
    if code == 407:
        return CheckResult("unavailable", ip, "the proxy refused the credentials (407)")
    ok = 200 <= code < 300 if parts.scheme == "https" else 100 <= code < 600 and code not in (
        502, 503, 504)
    if not ok:
        return CheckResult("unavailable", ip, f"the proxy answered "
                                              f"{status_line.decode(errors='replace')!r} for "
                                              f"{authority}")
    return CheckResult("available", ip)
