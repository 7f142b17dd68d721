"""Host header values, parsed: shared by the configuration (``--allowed-host``) and the
HTTP layer's Host and Origin checks."""

from __future__ import annotations

__all__ = ["split_host"]


def split_host(value: str) -> tuple[str, int | None] | None:
    """``(hostname, port)`` of a ``Host`` header value, lower-cased; ``None`` if malformed.

    IPv6 literals lose their brackets (``[::1]:80`` → ``("::1", 80)``).
    """
    value = value.strip().lower()
    if not value or any(c in value for c in "/@?# \t"):
        return None
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        name, rest = value[1:end], value[end + 1:]
        if rest and not rest.startswith(":"):
            return None
        port_text = rest[1:] if rest else None
    elif value.count(":") > 1:
        return None  # an IPv6 literal must be bracketed in a Host header
    else:
        name, _, port_text = value.partition(":")
        if not _:
            port_text = None
    if not name:
        return None
    if port_text is None:
        return name.rstrip("."), None
    if not port_text.isdigit() or not 0 < int(port_text) <= 65535:
        return None
    return name.rstrip("."), int(port_text)
