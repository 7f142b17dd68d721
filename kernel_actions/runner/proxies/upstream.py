"""Talking to an upstream proxy: opening a connection to it (TLS for an ``https`` proxy),
the ``Proxy-Authorization`` header it wants, and reading HTTP heads with bounds.

Shared by the local forwarder browsers use (:mod:`.forwarder`) and the health check
(:mod:`.check`).
"""

from __future__ import annotations

import asyncio
import base64
import ssl

from .store import ProxyTarget

__all__ = ["HeadError", "MAX_HEAD_BYTES", "auth_header", "open_upstream", "read_head",
           "split_head"]

#: The largest request or response head taken (Chromium's own limit is 256 KiB).
MAX_HEAD_BYTES = 256 * 1024


class HeadError(Exception):
    """A head that is too large, malformed, or cut short."""


def auth_header(target: ProxyTarget) -> bytes | None:
    """``Proxy-Authorization: Basic ...`` for the target's credentials (``None``: none)."""
    if not target.has_credentials:
        return None
    pair = f"{target.username or ''}:{target.password or ''}".encode()
    return b"Proxy-Authorization: Basic " + base64.b64encode(pair)


async def open_upstream(target: ProxyTarget, timeout: float
                        ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to the upstream proxy itself (TLS when its protocol is ``https``)."""
    context = ssl.create_default_context() if target.protocol == "https" else None
    return await asyncio.wait_for(
        asyncio.open_connection(target.host, target.port, ssl=context,
                                server_hostname=target.host if context else None,
                                limit=MAX_HEAD_BYTES), timeout)


async def read_head(reader: asyncio.StreamReader) -> bytes:
    """An HTTP head up to and with its blank line; :class:`HeadError` if there is none."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        raise HeadError("the connection closed before a whole head arrived") from exc
    except asyncio.LimitOverrunError as exc:
        raise HeadError(f"a head over {MAX_HEAD_BYTES} bytes") from exc
    return head


def split_head(head: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The first line and the header fields (name, value) of a head."""
    lines = head.rstrip(b"\r\n").split(b"\r\n")
    fields = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise HeadError(f"a malformed header line: {line[:80]!r}")
        fields.append((name, value.strip()))
    return lines[0], fields
