"""The runner's OpenAPI description, served at ``/openapi.json``.

It describes what this runner serves (the hosted API's invocation, app,
deployment and browser endpoints, and the browser APIs of :mod:`.openapi_browsers`), so
generic tools can drive it and fuzz it. A test checks that every route served is here.
"""

from __future__ import annotations

from typing import Any

from .openapi_browsers import browser_paths

__all__ = ["openapi"]

_ERROR = {"$ref": "#/components/schemas/Error"}
_STATUS = {"type": "string", "enum": ["queued", "running", "succeeded", "failed"]}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "Bad request", 401: "Missing or wrong API key", 404: "Not found",
            409: "Conflict with the current state", 429: "Too many requests",
            503: "Unavailable (no Chromium, or it did not start)"}
    return {str(c): _json(_ERROR, text[c]) for c in codes}


def _id_param() -> dict[str, Any]:
    return {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


#: Each side at most 2560 and the area at most 2560×1440 (``browsers.viewports``).
_VIEWPORT = {"type": "object", "required": ["width", "height"], "properties": {
    "width": {"type": "integer", "minimum": 1, "maximum": 2560},
    "height": {"type": "integer", "minimum": 1, "maximum": 2560},
    "refresh_rate": {"type": "integer", "minimum": 1, "maximum": 1000}}}

_BROWSER = {"type": "object", "required": [
    "session_id", "cdp_ws_url", "webdriver_ws_url", "created_at", "headless", "stealth",
    "timeout_seconds", "memory", "region"], "properties": {
        "session_id": {"type": "string"}, "cdp_ws_url": {"type": "string"},
        "webdriver_ws_url": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "headless": {"type": "boolean"}, "stealth": {"type": "boolean"},
        "timeout_seconds": {"type": "integer"}, "memory": {"type": "string"},
        "region": {"type": "string"},
        "browser_live_view_url": {"type": ["string", "null"]},
        "viewport": _VIEWPORT, "name": {"type": "string"},
        "tags": {"type": "object", "additionalProperties": {"type": "string"}},
        "start_url": {"type": "string"}}}

_BROWSER_CREATE = {"type": "object", "properties": {
    "invocation_id": {"type": "string"}, "headless": {"type": "boolean"},
    "timeout_seconds": {"type": "integer", "minimum": 1, "maximum": 259200},
    "start_url": {"type": "string"}, "viewport": _VIEWPORT, "name": {"type": "string"},
    "tags": {"type": "object", "additionalProperties": {"type": "string"}},
    "stealth": {"type": "boolean"}}}


def openapi(version: str) -> dict[str, Any]:
    invocation = {"$ref": "#/components/schemas/Invocation"}
    browser = {"$ref": "#/components/schemas/Browser"}
    return {
        "openapi": "3.1.0",
        "info": {"title": "kernel-actions runner", "version": version,
                 "description": "Kernel's invocation API, served locally."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["code", "message"], "properties": {
                    "code": {"type": "string"}, "message": {"type": "string"}}},
                "Invocation": {"type": "object", "required": [
                    "id", "app_name", "action_name", "version", "status", "started_at"],
                    "properties": {
                        "id": {"type": "string"}, "app_name": {"type": "string"},
                        "action_name": {"type": "string"}, "version": {"type": "string"},
                        "payload": {"type": ["string", "null"]},
                        "output": {"type": ["string", "null"]}, "status": _STATUS,
                        "status_reason": {"type": ["string", "null"]},
                        "started_at": {"type": "string", "format": "date-time"},
                        "finished_at": {"type": ["string", "null"], "format": "date-time"}}},
                "InvocationCreate": {"type": "object", "required": [
                    "app_name", "action_name"], "properties": {
                        "app_name": {"type": "string"}, "action_name": {"type": "string"},
                        "version": {"type": "string"}, "payload": {"type": "string"},
                        "async": {"type": "boolean"},
                        "async_timeout_seconds": {"type": "integer", "minimum": 10,
                                                  "maximum": 3600}}},
                "Browser": _BROWSER,
                "BrowserCreate": _BROWSER_CREATE,
                "InvocationUpdate": {"type": "object", "required": ["status"], "properties": {
                    "status": {"type": "string", "enum": ["succeeded", "failed"]},
                    "output": {"type": "string"}}},
            },
        },
        "security": [{"bearer": []}],
        "paths": {
            "/invocations": {
                "post": {
                    "operationId": "createInvocation",
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/InvocationCreate"}}}},
                    "responses": {"200": _json(invocation, "Finished (sync)"),
                                  "202": _json(invocation, "Queued (async)"),
                                  **_errors(400, 401, 404)},
                },
                "get": {
                    "operationId": "listInvocations",
                    "parameters": [
                        _query("app_name", {"type": "string"}),
                        _query("action_name", {"type": "string"}),
                        _query("status", _STATUS), _query("version", {"type": "string"}),
                        _query("deployment_id", {"type": "string"}),
                        _query("since", {"type": "string"}), _query("query", {"type": "string"}),
                        _query("limit", {"type": "integer", "minimum": 1, "maximum": 100}),
                        _query("offset", {"type": "integer", "minimum": 0}),
                    ],
                    "responses": {"200": _json({"type": "array", "items": invocation},
                                               "A page, newest first"), **_errors(400, 401)},
                },
            },
            "/invocations/{id}": {
                "parameters": [_id_param()],
                "get": {"operationId": "getInvocation",
                        "responses": {"200": _json(invocation, "The invocation"),
                                      **_errors(401, 404)}},
                "patch": {
                    "operationId": "updateInvocation",
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/InvocationUpdate"}}}},
                    "responses": {"200": _json(invocation, "Updated"),
                                  **_errors(400, 401, 404, 409)},
                },
            },
            "/invocations/{id}/events": {
                "parameters": [_id_param(), _query("since", {"type": "string"})],
                "get": {"operationId": "followInvocation", "responses": {
                    "200": {"description": "Server-sent events",
                            "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                    **_errors(400, 401, 404)}},
            },
            "/apps": {
                "get": {"operationId": "listApps", "parameters": [
                    _query("app_name", {"type": "string"}), _query("version", {"type": "string"}),
                    _query("query", {"type": "string"}),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
                    _query("offset", {"type": "integer", "minimum": 0})],
                    "responses": {"200": _json({"type": "array", "items": {"type": "object"}},
                                               "App versions"), **_errors(400, 401)}},
            },
            "/deployments": {
                "get": {"operationId": "listDeployments", "parameters": [
                    _query("app_name", {"type": "string"}),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 100}),
                    _query("offset", {"type": "integer", "minimum": 0})],
                    "responses": {"200": _json({"type": "array", "items": {"type": "object"}},
                                               "Deployments"), **_errors(400, 401)}},
                "post": {
                    "operationId": "createDeployment",
                    "requestBody": {"required": True, "content": {"multipart/form-data": {
                        "schema": {"type": "object", "required": ["file"], "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "entrypoint_rel_path": {"type": "string"},
                            "version": {"type": "string"},
                            "force": {"type": "boolean"}}}}}},
                    "responses": {"201": _json({"type": "object"}, "Created"),
                                  **_errors(400, 401, 409)},
                },
            },
            "/browsers": {
                "get": {"operationId": "listBrowsers", "parameters": [
                    _query("query", {"type": "string"}),
                    _query("status", {"type": "string", "enum": ["active", "deleted", "all"]}),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 100}),
                    _query("offset", {"type": "integer", "minimum": 0})],
                    "responses": {"200": _json({"type": "array", "items": browser},
                                               "Running browsers, newest first"),
                                  **_errors(400, 401)}},
                "post": {
                    "operationId": "createBrowser",
                    "requestBody": {"required": False, "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/BrowserCreate"}}}},
                    "responses": {"200": _json(browser, "A local Chromium, started"),
                                  **_errors(400, 401, 404, 409, 429, 503)},
                },
            },
            "/browsers/{id}": {
                "parameters": [_id_param()],
                "get": {"operationId": "getBrowser", "responses": {
                    "200": _json(browser, "The browser"), **_errors(401, 404)}},
                "patch": {
                    "operationId": "updateBrowser",
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": {"type": "object", "properties": {
                            "name": {"type": "string"},
                            "tags": {"type": "object",
                                     "additionalProperties": {"type": "string"}},
                            "timeout_seconds": {"type": "integer", "minimum": 1}}}}}},
                    "responses": {"200": _json(browser, "The browser, changed"),
                                  **_errors(400, 401, 404, 409)}},
                "delete": {"operationId": "deleteBrowser", "responses": {
                    "204": {"description": "Closed: its processes and profile are gone"},
                    **_errors(401, 404)}},
            },
            "/invocations/{id}/browsers": {
                "parameters": [_id_param()],
                "get": {"operationId": "listInvocationBrowsers", "responses": {
                    "200": _json({"type": "object", "required": ["browsers"], "properties": {
                        "browsers": {"type": "array", "items": browser}}},
                        "The invocation's running browsers"), **_errors(401, 404)}},
                "delete": {"operationId": "deleteInvocationBrowsers", "responses": {
                    "204": {"description": "All of the invocation's browsers closed"},
                    **_errors(401, 404)}},
            },
            "/deployments/{id}": {
                "parameters": [_id_param()],
                "get": {"operationId": "getDeployment", "responses": {
                    "200": _json({"type": "object"}, "The deployment"), **_errors(401, 404)}},
                "delete": {"operationId": "deleteDeployment", "summary": (
                    "Stop serving the deployment and delete its code (it stays listed as "
                    "stopped)"), "responses": {
                    "204": {"description": "Stopped (or already stopped or failed)"},
                    **_errors(401, 404)}},
            },
            "/deployments/{id}/events": {
                "parameters": [_id_param(), _query("since", {"type": "string"})],
                "get": {"operationId": "followDeployment", "responses": {
                    "200": {"description": "Server-sent events",
                            "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                    **_errors(400, 401, 404)}},
            },
            "/health": {
                "get": {"operationId": "health", "responses": {
                    "200": _json({"type": "object"}, "The runner is up"), **_errors(401)}},
            },
            **browser_paths(),
        },
    }
