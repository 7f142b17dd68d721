"""The runner's proxies: ``custom`` ones (a proxy server the user runs or rents), kept in
``<data>/proxies`` (folder ``0700``, files ``0600``: they hold passwords).

Kernel also runs proxies of its own (``isp``, ``residential``, ``mobile``, ``datacenter``):
those need Kernel's cloud, and creating one here is refused with a 400 that says so. As
on Kernel, a proxy's password and CA bundle are never answered back (``has_password``,
``has_ca_bundle``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...ids import new_id
from ...timeutil import format_ns, now_ns
from ..errors import ApiError, bad_request, conflict, not_found
from ..private_records import PrivateRecords

__all__ = ["Proxies", "ProxyTarget", "CLOUD_TYPES"]

#: Proxy types only Kernel's cloud provides.
CLOUD_TYPES = ("isp", "residential", "mobile", "datacenter")
PROTOCOLS = ("http", "https")
MAX_NAME_CHARS = 255
MAX_BYPASS_HOSTS = 100
_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
_BYPASS = re.compile(r"[A-Za-z0-9*.:\[\]/-]{1,255}")


@dataclass(frozen=True)
class ProxyTarget:
    """Where a browser's traffic goes: the upstream proxy and how to log in to it."""

    host: str
    port: int
    protocol: str = "http"
    username: str | None = None
    password: str | None = None
    bypass_hosts: tuple[str, ...] = ()

    @property
    def has_credentials(self) -> bool:
        return self.username is not None or self.password is not None

    @property
    def address(self) -> str:
        """``scheme://host:port`` as Chromium's ``--proxy-server`` takes it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.protocol}://{host}:{self.port}"


def _cloud_only(kind: str) -> ApiError:
    return ApiError(400, "not_available_locally",
                    f"{kind!r} proxies are run by Kernel and need Kernel's cloud: the local "
                    "runner serves 'custom' proxies (your own proxy server: type 'custom' "
                    "with config {host, port, username?, password?})",
                    headers={"x-should-retry": "false"})


def _name(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > MAX_NAME_CHARS:
        raise bad_request(f"'name' must be 1-{MAX_NAME_CHARS} characters")
    if any(ord(c) < 32 for c in value):
        raise bad_request("'name' must not hold control characters")
    return value.strip()


def _host(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise bad_request("'config.host' must be a host name or an IP address")
    host = value.strip("[]")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not _HOST.fullmatch(host):
        raise bad_request(f"'config.host' must be a host name or an IP address, got {value!r}")
    return host.lower()


def _secret(config: dict[str, Any], key: str, limit: int) -> str | None:
    value = config.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise bad_request(f"'config.{key}' must be a string of at most {limit} characters")
    if key in ("username", "password") and any(c in value for c in "\r\n\0"):
        raise bad_request(f"'config.{key}' must not hold line breaks")
    return value


def _bypass(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_BYPASS_HOSTS or not all(
            isinstance(h, str) and _BYPASS.fullmatch(h) for h in value):
        raise bad_request(f"'bypass_hosts' must be a list of at most {MAX_BYPASS_HOSTS} host "
                          "names (letters, digits, '.', '-', '*', ':')")
    return list(value)


class Proxies:
    """Create, read, rename and delete proxies; what a browser needs to use one."""

    def __init__(self, folder: Path) -> None:
        self.records = PrivateRecords(folder)
        self._lock = asyncio.Lock()

    def find(self, id_or_name: str) -> dict[str, Any]:
        record = self.records.get(id_or_name)
        if record is not None:
            return record
        named = [r for r in self.records.all() if r.get("name") == id_or_name]
        if len(named) > 1:
            raise conflict(f"{len(named)} proxies are named {id_or_name!r}: use its id")
        if not named:
            raise not_found(f"proxy {id_or_name!r} not found")
        return named[0]

    def target(self, id_or_name: str) -> ProxyTarget:
        """What a browser created with ``proxy_id`` (or ``proxy: {id | name}``) goes through."""
        record = self.find(id_or_name)
        config = record["config"]
        return ProxyTarget(config["host"], config["port"], record["protocol"],
                           config.get("username"), config.get("password"),
                           tuple(record.get("bypass_hosts") or ()))

    def listed(self, *, name: str | None, query: str | None) -> list[dict[str, Any]]:
        needle = query.lower() if query else None
        return [self.to_wire(r) for r in self.records.all()
                if (name is None or (r.get("name") or "").lower() == name.lower())
                and (needle is None or r["id"] == query
                     or needle in (r.get("name") or "").lower()
                     or needle in r["config"]["host"]
                     or needle in (r.get("ip_address") or ""))]

    @staticmethod
    def to_wire(record: dict[str, Any]) -> dict[str, Any]:
        """The hosted API's proxy object, without the password or the CA bundle."""
        config = record["config"]
        return {
            "id": record["id"], "type": "custom", "name": record.get("name"),
            "protocol": record["protocol"], "bypass_hosts": record.get("bypass_hosts") or [],
            "config": {"host": config["host"], "port": config["port"],
                       "username": config.get("username"),
                       "has_password": config.get("password") is not None,
                       "has_ca_bundle": config.get("ca_bundle") is not None},
            "status": record.get("status"), "last_checked": record.get("last_checked"),
            "ip_address": record.get("ip_address"),
        }

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        kind = body.get("type")
        if kind in CLOUD_TYPES:
            raise _cloud_only(kind)
        if kind != "custom":
            raise bad_request(f"'type' must be 'custom' (or one of Kernel's own: "
                              f"{', '.join(CLOUD_TYPES)}), got {kind!r}")
        config = body.get("config")
        if not isinstance(config, dict):
            raise bad_request("a custom proxy needs 'config': {host, port, username?, "
                              "password?}")
        port = config.get("port")
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise bad_request(f"'config.port' must be a port number (1-65535), got {port!r}")
        protocol = body.get("protocol") or "http"
        if protocol not in PROTOCOLS:
            raise bad_request(f"'protocol' must be http or https, got {protocol!r}")
        record = {
            "id": new_id(), "created_at": format_ns(now_ns()), "name": _name(body.get("name")),
            "protocol": protocol, "bypass_hosts": _bypass(body.get("bypass_hosts")),
            "config": {"host": _host(config.get("host")), "port": port,
                       "username": _secret(config, "username", 1024),
                       "password": _secret(config, "password", 4096),
                       "ca_bundle": _secret(config, "ca_bundle", 1024 * 1024)},
            "status": None, "last_checked": None, "ip_address": None,
        }
        async with self._lock:
            await asyncio.to_thread(self.records.put, record)
        return self.to_wire(record)

    async def rename(self, id_or_name: str, body: dict[str, Any]) -> dict[str, Any]:
        if "name" not in body:
            raise bad_request("'name' is required")
        async with self._lock:
            record = self.find(id_or_name)
            record["name"] = _name(body["name"])
            await asyncio.to_thread(self.records.put, record)
        return self.to_wire(record)

    async def checked(self, record_id: str, status: str, ip_address: str | None) -> None:
        """Keep the outcome of a health check (one without a URL of its own)."""
        async with self._lock:
            record = self.records.get(record_id)
            if record is None:
                return  # deleted meanwhile
            record.update(status=status, last_checked=format_ns(now_ns()),
                          ip_address=ip_address or record.get("ip_address"))
            await asyncio.to_thread(self.records.put, record)

    async def delete(self, id_or_name: str) -> None:
        async with self._lock:
            record = self.find(id_or_name)
            await asyncio.to_thread(self.records.delete, record["id"])
