"""Who may talk to the runner: the Host, Origin and content-type rules.

Every web page the developer opens can reach a runner on loopback, so the
runner refuses a request unless:

- its ``Host`` names the address the runner is bound to (``127.0.0.1:PORT``,
  ``localhost:PORT``, ``[::1]:PORT``, the bound address itself, or an
  ``--allowed-host``): a page that re-points its own DNS name at 127.0.0.1
  (DNS rebinding) sends its own name as ``Host`` and is refused;
- its ``Origin``, when present, is the runner's own, and the browser does not
  mark it ``Sec-Fetch-Site: cross-site`` (or ``same-site``: another port of the
  same host): no-cors ``fetch`` and form posts from other pages always carry one
  of these;
- a request with a body sends ``application/json`` (``multipart/form-data`` on
  ``POST`` to an upload route only), so a cross-site JSON request would need a CORS preflight,
  and no CORS is ever granted (``OPTIONS`` is refused). A form-encoded body (what
  ``curl -d`` sends) is read as JSON too, but only from a client that sends no ``Origin``
  and no ``Sec-Fetch-*`` header: browsers send them on every post a page makes, so a
  page's form still can't post.

Server-side clients (the SDKs, the CLI, curl) send no ``Origin`` and pass; the
dashboard is served from the runner's own origin and passes too. Refusals are
JSON 403/415 answers that say why and how to allow the request on purpose.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from starlette.types import Scope

from ..hostnames import split_host
from .common import PathPatterns

if TYPE_CHECKING:
    from ..config import Config

__all__ = ["HostPolicy", "RequestRules", "UPLOAD_CONTENT_TYPES", "request_rules", "split_host"]

#: Content types a request body may have on an upload route (``POST /deployments``).
UPLOAD_CONTENT_TYPES = frozenset({"multipart/form-data", "application/octet-stream"})
#: What ``curl -d`` sends: taken (as JSON) from clients that are not browsers.
CURL_CONTENT_TYPE = "application/x-www-form-urlencoded"
_JSON_TYPES = frozenset({"application/json"})
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
_WILDCARDS = ("0.0.0.0", "::", "")


def _is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class HostPolicy:
    """The ``Host`` values (and so the origins) that name this runner.

    ``port`` is a callable because ``--port 0`` picks the port when the socket is
    bound, after the app is built. ``allowed`` holds the ``--allowed-host`` values:
    ``name`` (any port), ``name:port``, or ``*`` (any host: the check is off).
    """

    bound_host: str
    port: Callable[[], int]
    allowed: tuple[str, ...] = ()

    def _allowed_entries(self) -> Iterable[tuple[str, int | None]]:
        for value in self.allowed:
            parsed = split_host(value)
            if parsed is not None:
                yield parsed

    def allows(self, host: str, port: int | None) -> bool:
        """Whether ``host:port`` (from a ``Host`` header or an ``Origin``) names this runner."""
        if "*" in self.allowed:
            return True
        own_port = self.port()
        for name, allowed_port in self._allowed_entries():
            if name == host and (allowed_port is None or allowed_port == (port or 80)):
                return True
        if (port if port is not None else 80) != own_port:
            return False
        if host in _LOOPBACK_NAMES:
            return True
        bound = self.bound_host.strip("[]").lower()
        if bound in _WILDCARDS:
            # Listening on every address: any address of the machine may be used, but
            # only as an IP literal; a DNS name could be a rebinding attack.
            return _is_ip_literal(host)
        return host == bound

    def own_origin(self) -> str:
        bound = self.bound_host.strip("[]")
        host = "127.0.0.1" if bound in _WILDCARDS else bound
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port()}"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def _media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


class RequestRules:
    """Refuse requests that a web page, rather than the developer's own tools, sent.

    Checked once per request by :class:`~.front_door.FrontDoor`, before any route; the
    headers are read in one pass and the verdict on each ``Host`` value is remembered.
    """

    #: Distinct ``Host`` values whose verdict is remembered (a client can send any).
    HOST_MEMORY = 256

    def __init__(self, policy: HostPolicy, upload_paths: Collection[str] = ()) -> None:
        self.policy = policy
        self.upload_paths = PathPatterns(dict.fromkeys(upload_paths, 1))
        self._hosts: dict[tuple[bytes, int], bool] = {}

    def _how(self) -> str:
        return ("Browse to the runner at its own address "
                f"({self.policy.own_origin()}), or start it with --allowed-host NAME to "
                "accept another name on purpose.")

    def _host_allowed(self, raw: bytes) -> bool:
        key = (raw, self.policy.port())
        known = self._hosts.get(key)
        if known is None:
            parsed = split_host(raw.decode("latin-1"))
            known = parsed is not None and self.policy.allows(*parsed)
            if len(self._hosts) >= self.HOST_MEMORY:
                self._hosts.clear()
            self._hosts[key] = known
        return known

    def check(self, scope: Scope) -> tuple[int, str, str] | None:
        """``(status, code, message)`` of the refusal, or ``None`` when the request may pass."""
        host = origin = site = length = chunked = content_type = None
        browser = False  # it sent a Sec-Fetch-* header (browsers send them, tools don't)
        for key, value in scope["headers"]:
            if key == b"host":
                if host is None:
                    host = value
            elif key == b"origin":
                if origin is None:
                    origin = value.decode("latin-1")
            elif key == b"sec-fetch-site":
                browser = True
                if site is None:
                    site = value
            elif key.startswith(b"sec-fetch-"):
                browser = True
            elif key == b"content-length":
                if length is None:
                    length = value
            elif key == b"transfer-encoding":
                if chunked is None:
                    chunked = value
            elif key == b"content-type":
                if content_type is None:
                    content_type = value.decode("latin-1")
        if host is not None and not self._host_allowed(host):
            return (403, "forbidden",
                    f"Host {host.decode('latin-1')!r} does not name this runner (a web page "
                    f"using DNS rebinding would send its own name). {self._how()}")
        if origin is not None and not self._own_origin(origin):
            return (403, "forbidden",
                    f"cross-origin request refused: Origin {origin!r} is not this runner's "
                    f"own, and web pages may not drive the runner. Server-side clients send "
                    f"no Origin. {self._how()}")
        method = scope.get("method")
        if site is not None and origin is None:
            fetch_site = site.decode("latin-1").strip().lower()
            if fetch_site in ("cross-site", "same-site"):
                mode = (_header(scope, b"sec-fetch-mode") or "").strip().lower()
                dest = (_header(scope, b"sec-fetch-dest") or "").strip().lower()
                # A link followed to the dashboard is a top-level navigation: the page that
                # had the link can't read the answer, so it is let through (GET only).
                if not (method in ("GET", "HEAD") and mode == "navigate"
                        and dest == "document"):
                    return (403, "forbidden",
                            f"cross-site request refused (Sec-Fetch-Site: {fetch_site}): web "
                            f"pages on other sites or ports may not drive the runner. "
                            f"{self._how()}")
        if method == "OPTIONS":
            return (403, "forbidden",
                    "the runner grants no cross-origin access (CORS): call it from a "
                    "server-side client or from its own dashboard")
        if chunked is not None or (length is not None and length.strip() not in (b"", b"0")):
            kind = _media_type(content_type or "")
            if kind == "application/json" or (
                    kind == CURL_CONTENT_TYPE and origin is None and not browser):
                return None
            upload = method in ("POST", "PUT") and scope["path"] in self.upload_paths
            accepted = _JSON_TYPES | (UPLOAD_CONTENT_TYPES if upload else frozenset())
            if kind not in accepted:
                want = " or ".join(sorted(accepted))
                got = f"Content-Type {content_type!r}" if content_type else "no Content-Type"
                return (415, "unsupported_media_type",
                        f"request bodies must be sent as {want}; got {got}")
        return None

    def _own_origin(self, origin: str) -> bool:
        try:
            parts = urlsplit(origin.strip())
            port = parts.port
        except ValueError:
            return False
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return False
        if parts.path not in ("", "/") or parts.query or parts.username is not None:
            return False
        if port is None:
            port = 443 if parts.scheme == "https" else 80
        return self.policy.allows(parts.hostname.rstrip("."), port)


def request_rules(config: Config, port: Callable[[], int],
                  upload_paths: Collection[str]) -> RequestRules:
    """The Host, Origin and content-type rules of a runner with this configuration."""
    return RequestRules(HostPolicy(config.host, port, tuple(config.allowed_hosts)),
                        upload_paths)
