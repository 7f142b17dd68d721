"""The ``/browsers/{id_or_name}/webmcp/*`` endpoints over each browser's
:class:`~.webmcp.WebMcpRegistry`.

``GET tools`` lists the live tools of every open tab (``exclude_custom``: page tools only),
``POST invoke`` calls one by its ``tool_ref``, and ``custom-tools`` lists, adds (``POST``) and
removes (``DELETE custom-tools/{id}``) the runner's custom tools. A browser whose Chromium has
no WebMCP answers 501 saying what is missing.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..errors import bad_request
from ..http.common import guard, json_response, read_json_body
from .webmcp import (
    DEFAULT_INVOKE_TIMEOUT_S,
    MAX_INPUT_BYTES,
    MAX_INVOKE_TIMEOUT_S,
    MAX_SOURCE_BYTES,
    WebMcpRegistry,
    WebMcpUnavailable,
    check_namespace,
)

if TYPE_CHECKING:
    from .handles import BrowserList

__all__ = ["WebMcpApi"]


class WebMcpApi:
    """The WebMCP registries by browser id (made when a browser's pages are first followed)."""

    def __init__(self, browsers: BrowserList) -> None:
        self.browsers = browsers
        self.registries: dict[str, WebMcpRegistry] = {}
        browsers.close_listeners.append(self.browser_closed)

    def registry_for(self, browser_id: str) -> WebMcpRegistry:
        registry = self.registries.get(browser_id)
        if registry is None:
            registry = self.registries[browser_id] = WebMcpRegistry()
        return registry

    def browser_closed(self, browser: Any) -> None:
        self.registries.pop(browser.id, None)

    def _registry(self, request: Request) -> WebMcpRegistry:
        browser = self.browsers.find(request.path_params["id"])
        registry = self.registries.get(browser.id)
        if registry is None:
            raise WebMcpUnavailable(f"WebMCP is not available for browser {browser.id}: the "
                                    "runner does not follow its pages")
        if registry.unavailable is not None:
            raise WebMcpUnavailable(registry.unavailable)
        return registry

    def routes(self) -> list[BaseRoute]:
        base = "/browsers/{id}/webmcp"
        return [
            Route(f"{base}/tools", guard(self.list_tools), methods=["GET"]),
            Route(f"{base}/invoke", guard(self.invoke_tool), methods=["POST"]),
            Route(f"{base}/custom-tools", guard(self.list_custom_tools), methods=["GET"]),
            Route(f"{base}/custom-tools", guard(self.add_custom_tools), methods=["POST"]),
            Route(f"{base}/custom-tools/{{tool_id}}", guard(self.remove_custom_tool),
                  methods=["DELETE"]),
        ]

    async def list_tools(self, request: Request) -> Response:
        registry = self._registry(request)
        raw = request.query_params.get("exclude_custom", "false").lower()
        if raw not in ("true", "false", "1", "0"):
            raise bad_request(f"'exclude_custom' must be true or false, got {raw!r}")
        await registry.refresh_pages()
        return json_response({"tools": registry.listing(raw in ("true", "1"))})

    async def invoke_tool(self, request: Request) -> Response:
        registry = self._registry(request)
        body = await read_json_body(request)
        ref = body.get("tool_ref")
        if not isinstance(ref, str) or not ref:
            raise bad_request("'tool_ref' is required: a tool_ref from GET .../webmcp/tools")
        arguments = body.get("input")
        if not isinstance(arguments, dict):
            raise bad_request("'input' is required: a JSON object of the tool's arguments")
        if len(json.dumps(arguments)) > MAX_INPUT_BYTES:
            raise bad_request(f"'input' is larger than {MAX_INPUT_BYTES} bytes as JSON")
        timeout = body.get("timeout_sec", DEFAULT_INVOKE_TIMEOUT_S)
        if timeout is None:
            timeout = DEFAULT_INVOKE_TIMEOUT_S
        if isinstance(timeout, bool) or not isinstance(timeout, int) or not (
                1 <= timeout <= MAX_INVOKE_TIMEOUT_S):
            raise bad_request(f"'timeout_sec' must be an integer between 1 and "
                              f"{MAX_INVOKE_TIMEOUT_S}, got {timeout!r}")
        return json_response(await registry.invoke(ref, arguments, float(timeout)))

    async def list_custom_tools(self, request: Request) -> Response:
        registry = self._registry(request)
        return json_response({"tools": [t.to_wire() for t in registry.custom.values()]})

    async def add_custom_tools(self, request: Request) -> Response:
        registry = self._registry(request)
        body = await read_json_body(request)
        namespace = check_namespace(body.get("namespace"))
        source = body.get("source")
        if not isinstance(source, str) or not source.strip():
            raise bad_request("'source' is required: a JavaScript expression that evaluates to "
                              "an array of tool definitions")
        if len(source.encode()) > MAX_SOURCE_BYTES:
            raise bad_request(f"'source' is larger than {MAX_SOURCE_BYTES} bytes")
        overwrite = body.get("force_overwrite_namespace", False)
        if not isinstance(overwrite, bool):
            raise bad_request("'force_overwrite_namespace' must be true or false")
        await registry.add_custom(namespace, source, overwrite)
        return json_response({"tools": [t.to_wire() for t in registry.custom.values()]})

    async def remove_custom_tool(self, request: Request) -> Response:
        registry = self._registry(request)
        registry.remove_custom(request.path_params["tool_id"])
        return Response(status_code=204)
