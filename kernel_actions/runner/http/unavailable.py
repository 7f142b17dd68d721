"""Every endpoint of Kernel's API that the local runner can't serve answers 501.

App code reads a 404 as "that browser (or invocation) is gone", and the SDKs retry 5xx
answers, so an endpoint that exists on Kernel but not here answers ``501`` with
``{"code": "not_available_locally", "message": ...}`` naming the resource, and the header
``x-should-retry: false``. The table below lists every method and path of the official
SDKs (``kernel`` 0.131 on PyPI, a superset of ``@onkernel/sdk`` 0.84); these routes are
added after every other route, so whatever the runner does serve is matched first, and
only the rest reach them: the 501 list is the table less what is served (credentials,
custom proxies, extensions and deleting deployments among them). :data:`WHY_CLOUD` says
why each remaining part needs Kernel's cloud, in the 501's message and in the README.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import URLPath
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, NoMatchFound, Route
from starlette.types import Receive, Scope, Send

from .common import json_response

__all__ = ["KERNEL_ENDPOINTS", "UnavailableRoutes", "WHY_CLOUD", "unavailable_routes",
           "resource_name", "why_cloud"]

#: ``(path, methods)`` of every endpoint of Kernel's API, as its SDKs call them.
KERNEL_ENDPOINTS: tuple[tuple[str, str], ...] = (
    ("/apps", "GET"),
    ("/audit-logs", "GET"),
    ("/audit-logs/export/chunk", "GET"),
    ("/audit-logs/export/destinations", "GET POST"),
    ("/audit-logs/export/destinations/{p1}", "DELETE GET PATCH"),
    ("/audit-logs/export/destinations/{p1}/test", "POST"),
    ("/auth/connections", "GET POST"),
    ("/auth/connections/{p1}", "DELETE GET PATCH"),
    ("/auth/connections/{p1}/events", "GET"),
    ("/auth/connections/{p1}/login", "POST"),
    ("/auth/connections/{p1}/submit", "POST"),
    ("/auth/connections/{p1}/timeline", "GET"),
    ("/auth/context", "GET"),
    ("/browser_pools", "GET POST"),
    ("/browser_pools/{p1}", "DELETE GET PATCH"),
    ("/browser_pools/{p1}/acquire", "POST"),
    ("/browser_pools/{p1}/flush", "POST"),
    ("/browser_pools/{p1}/release", "POST"),
    ("/browsers", "GET POST"),
    ("/browsers/{p1}", "DELETE GET PATCH"),
    ("/browsers/{p1}/computer/batch", "POST"),
    ("/browsers/{p1}/computer/click_mouse", "POST"),
    ("/browsers/{p1}/computer/clipboard/read", "POST"),
    ("/browsers/{p1}/computer/clipboard/write", "POST"),
    ("/browsers/{p1}/computer/cursor", "POST"),
    ("/browsers/{p1}/computer/drag_mouse", "POST"),
    ("/browsers/{p1}/computer/get_mouse_position", "POST"),
    ("/browsers/{p1}/computer/move_mouse", "POST"),
    ("/browsers/{p1}/computer/press_key", "POST"),
    ("/browsers/{p1}/computer/screenshot", "POST"),
    ("/browsers/{p1}/computer/scroll", "POST"),
    ("/browsers/{p1}/computer/type", "POST"),
    ("/browsers/{p1}/curl", "POST"),
    ("/browsers/{p1}/extensions", "POST"),
    ("/browsers/{p1}/fs/create_directory", "PUT"),
    ("/browsers/{p1}/fs/delete_directory", "PUT"),
    ("/browsers/{p1}/fs/delete_file", "PUT"),
    ("/browsers/{p1}/fs/download_dir_zip", "GET"),
    ("/browsers/{p1}/fs/file_info", "GET"),
    ("/browsers/{p1}/fs/list_files", "GET"),
    ("/browsers/{p1}/fs/move", "PUT"),
    ("/browsers/{p1}/fs/read_file", "GET"),
    ("/browsers/{p1}/fs/set_file_permissions", "PUT"),
    ("/browsers/{p1}/fs/upload", "POST"),
    ("/browsers/{p1}/fs/upload_zip", "POST"),
    ("/browsers/{p1}/fs/watch", "POST"),
    ("/browsers/{p1}/fs/watch/{p2}", "DELETE"),
    ("/browsers/{p1}/fs/watch/{p2}/events", "GET"),
    ("/browsers/{p1}/fs/write_file", "PUT"),
    ("/browsers/{p1}/logs/stream", "GET"),
    ("/browsers/{p1}/playwright/execute", "POST"),
    ("/browsers/{p1}/playwright/executors", "GET"),
    ("/browsers/{p1}/playwright/executors/{p2}", "DELETE"),
    ("/browsers/{p1}/process/exec", "POST"),
    ("/browsers/{p1}/process/spawn", "POST"),
    ("/browsers/{p1}/process/{p2}/kill", "POST"),
    ("/browsers/{p1}/process/{p2}/resize", "POST"),
    ("/browsers/{p1}/process/{p2}/status", "GET"),
    ("/browsers/{p1}/process/{p2}/stdin", "POST"),
    ("/browsers/{p1}/process/{p2}/stdout/stream", "GET"),
    ("/browsers/{p1}/repl", "POST"),
    ("/browsers/{p1}/replays", "GET POST"),
    ("/browsers/{p1}/replays/{p2}", "GET"),
    ("/browsers/{p1}/replays/{p2}/stop", "POST"),
    ("/browsers/{p1}/telemetry/events", "GET"),
    ("/browsers/{p1}/telemetry/stream", "GET"),
    ("/browsers/{p1}/webmcp/custom-tools", "GET POST"),
    ("/browsers/{p1}/webmcp/custom-tools/{p2}", "DELETE"),
    ("/browsers/{p1}/webmcp/invoke", "POST"),
    ("/browsers/{p1}/webmcp/tools", "GET"),
    ("/config-registry", "GET"),
    ("/config-registry/analyses", "GET"),
    ("/config-registry/analyses/{p1}", "GET"),
    ("/config-registry/analyses/{p1}/cancel", "POST"),
    ("/config-registry/lookup", "POST"),
    ("/config-registry/resolve", "POST"),
    ("/credentials", "GET POST"),
    ("/credentials/{p1}", "DELETE GET PATCH"),
    ("/credentials/{p1}/totp-code", "GET"),
    ("/deployments", "GET POST"),
    ("/deployments/{p1}", "DELETE GET"),
    ("/deployments/{p1}/events", "GET"),
    ("/extensions", "GET POST"),
    ("/extensions/from_chrome_store", "GET"),
    ("/extensions/{p1}", "DELETE GET"),
    ("/extensions/{p1}/metadata", "GET"),
    ("/invocations", "GET POST"),
    ("/invocations/{p1}", "GET PATCH"),
    ("/invocations/{p1}/browsers", "DELETE GET"),
    ("/invocations/{p1}/events", "GET"),
    ("/org/api_keys", "GET POST"),
    ("/org/api_keys/{p1}", "DELETE GET PATCH"),
    ("/org/api_keys/{p1}/rotate", "POST"),
    ("/org/credential_providers", "GET POST"),
    ("/org/credential_providers/{p1}", "DELETE GET PATCH"),
    ("/org/credential_providers/{p1}/items", "GET"),
    ("/org/credential_providers/{p1}/test", "POST"),
    ("/org/entitlements", "GET"),
    ("/org/limits", "GET PATCH"),
    ("/org/projects", "GET POST"),
    ("/org/projects/{p1}", "DELETE GET PATCH"),
    ("/org/projects/{p1}/limits", "GET PATCH"),
    ("/profiles", "GET POST"),
    ("/profiles/{p1}", "DELETE GET PATCH"),
    ("/profiles/{p1}/download", "GET"),
    ("/proxies", "GET POST"),
    ("/proxies/{p1}", "DELETE GET PATCH"),
    ("/proxies/{p1}/check", "POST"),
    ("/search", "POST"),
    ("/search/providers", "GET"),
    ("/search/{p1}", "GET"),
    ("/search/{p1}/contents", "POST"),
    ("/telemetry/destinations", "GET POST"),
    ("/telemetry/destinations/{p1}", "DELETE GET PATCH"),
    ("/vault-provider-configs", "GET POST"),
    ("/vault-provider-configs/{p1}", "DELETE GET PATCH"),
    ("/vaults", "GET POST"),
    ("/vaults/{p1}", "DELETE GET"),
    ("/vaults/{p1}/encryption_key", "GET"),
    ("/vaults/{p1}/items", "GET"),
    ("/vaults/{p1}/items/{p2}", "DELETE GET PATCH PUT"),
    ("/vaults/{p1}/items/{p2}/events", "GET"),
)

#: What each part of the API is, for the message (longest prefix wins).
_NAMES: tuple[tuple[str, str], ...] = (
    ("/browsers/{p1}/computer", "computer controls (browsers.computer)"),
    ("/browsers/{p1}/playwright", "Playwright execution (browsers.playwright)"),
    ("/browsers/{p1}/replays", "replays (browsers.replays)"),
    ("/browsers/{p1}/fs", "the browser file system (browsers.fs)"),
    ("/browsers/{p1}/process", "processes (browsers.process)"),
    ("/browsers/{p1}/logs", "browser logs (browsers.logs)"),
    ("/browsers/{p1}/curl", "requests from the page (browsers.curl)"),
    ("/browsers/{p1}/extensions", "browser extensions (browsers.load_extensions)"),
    ("/browsers/{p1}/repl", "the browser REPL (browsers.repl)"),
    ("/browsers/{p1}/telemetry", "browser telemetry (browsers.telemetry)"),
    ("/browsers/{p1}/webmcp", "WebMCP tools (browsers.webmcp)"),
    ("/browser_pools", "browser pools (browser_pools)"),
    ("/browsers", "browsers"),
    ("/profiles", "profiles"),
    ("/proxies", "proxies"),
    ("/extensions", "extensions"),
    ("/credentials", "credentials"),
    ("/auth", "auth connections (auth)"),
    ("/org/api_keys", "API keys (api_keys)"),
    ("/org/credential_providers", "credential providers (credential_providers)"),
    ("/org/projects", "projects"),
    ("/org", "organization settings (organization)"),
    ("/audit-logs", "audit logs (audit_logs)"),
    ("/config-registry", "the config registry (config_registry)"),
    ("/search", "search"),
    ("/telemetry", "telemetry destinations (telemetry)"),
    ("/vault-provider-configs", "vault provider configs (vault_provider_configs)"),
    ("/vaults", "vaults"),
    ("/deployments", "deployments"),
    ("/invocations", "invocations"),
    ("/apps", "apps"),
)


#: Why each part of the API that answers 501 needs Kernel's cloud (longest prefix wins):
#: what the 501 says, and what the README lists.
WHY_CLOUD: tuple[tuple[str, str], ...] = (
    ("/auth", "managed auth logs in on Kernel's hosted login flows, with its vault"),
    ("/org/api_keys", "an organization's API keys are Kernel accounts (the runner has one key, "
                      "--api-key)"),
    ("/org/credential_providers", "1Password and other providers connect to Kernel's cloud"),
    ("/org/projects", "projects and their limits are Kernel's accounting"),
    ("/org", "organization settings, limits and entitlements are Kernel's accounting"),
    ("/audit-logs", "the audit log records the organization's use of Kernel's cloud"),
    ("/config-registry", "the config registry and its analyses run in Kernel's cloud"),
    ("/search", "search is Kernel's hosted web-search service"),
    ("/telemetry", "telemetry destinations export from Kernel's cloud (a browser's own "
                   "telemetry is served)"),
    ("/vault-provider-configs", "vault providers are configured in Kernel's cloud"),
    ("/vaults", "vaults keep secrets under keys held by Kernel's cloud (local secrets: "
                "/credentials)"),
    ("/extensions/from_chrome_store", "Kernel's cloud fetches and repackages Chrome Web Store "
                                      "extensions (upload the extension's folder as a zip)"),
)


def why_cloud(path: str) -> str | None:
    """Why ``path`` (a template of the table) needs Kernel's cloud, if the table says."""
    found = [(prefix, why) for prefix, why in WHY_CLOUD
             if path == prefix or path.startswith(prefix + "/")]
    return max(found, key=lambda f: len(f[0]))[1] if found else None


def resource_name(path: str) -> str:
    """The part of Kernel's API that ``path`` (a template of the table) belongs to."""
    for prefix, name in _NAMES:
        if path == prefix or path.startswith(prefix + "/"):
            return name
    return path


class UnavailableRoutes(BaseRoute):
    """The table as one route, last in the route list: a 501 for each endpoint of it.

    Its 150-odd path patterns are compiled the first time a request gets this far (one
    nothing else served), not at start, where they were most of the route table's cost.
    Matches as the routes of the table would, one after the other: a full match wins,
    else the first whose path matches with another method (405).
    """

    def __init__(self) -> None:
        self._routes: list[Route] | None = None

    @property
    def routes(self) -> list[Route]:
        if self._routes is None:
            self._routes = [_route(path, methods) for path, methods in KERNEL_ENDPOINTS]
        return self._routes

    def _match(self, scope: Scope) -> tuple[Match, Route | None, Scope]:
        partial: tuple[Match, Route | None, Scope] = (Match.NONE, None, {})
        for route in self.routes:
            match, child = route.matches(scope)
            if match is Match.FULL:
                return match, route, child
            if match is Match.PARTIAL and partial[1] is None:
                partial = (match, route, child)
        return partial

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, _, child = self._match(scope)
        return match, child

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        _, route, _ = self._match(scope)
        assert route is not None, "handled only after a match"
        await route.handle(scope, receive, send)


def _route(path: str, methods: str) -> Route:
    name = resource_name(path)
    why = why_cloud(path)
    because = f" ({why})" if why else ""

    async def unavailable(request: Request) -> Response:
        return json_response(
            {"code": "not_available_locally",
             "message": f"{name} is not available on the local runner: "
                        f"{request.method} {path} needs Kernel's cloud{because}"},
            501, {"x-should-retry": "false"})

    return Route(path, unavailable, methods=methods.split())


def unavailable_routes() -> list[BaseRoute]:
    """The routes to add after every other: the table's, as one (:class:`UnavailableRoutes`)."""
    return [UnavailableRoutes()]
