"""The OpenAPI description of the browser APIs built on a local browser.

Computer controls, Playwright execution, replays, the browser's file system, processes,
``curl``, logs, profiles, browser pools, extensions, custom proxies and credentials: each
operation with its path, its body or
query, what it answers and which errors it can give. Bodies are described by their main
fields (the SDKs' types are the full contract); every error is the ``Error`` object.
"""

from __future__ import annotations

from typing import Any

__all__ = ["browser_paths"]

_ERROR = {"$ref": "#/components/schemas/Error"}
_ERROR_TEXT = {400: "Bad request (the message names the field)", 401: "Missing or wrong API key",
               403: "Forbidden (a path outside the browser's folder; processes without "
                    "--allow-process)",
               404: "No such browser (or file, process, replay, profile, pool)",
               409: "Conflict with the current state", 429: "Too many browsers or recordings",
               500: "The browser failed to do it (the message says why)",
               501: "Not available with this Chromium (the message says what is missing)",
               503: "Unavailable (no Chromium, or it did not start)"}
_OBJECT = {"type": "object"}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(c): {"description": _ERROR_TEXT[c],
                     "content": {"application/json": {"schema": _ERROR}}} for c in codes}


def _path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _query(name: str, schema: dict[str, Any], required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema}


def _json_body(properties: dict[str, Any] | None = None, required: list[str] | None = None,
               *, optional: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties or {}}
    if required:
        schema["required"] = required
    return {"required": not optional, "content": {"application/json": {"schema": schema}}}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _bytes(media_type: str, description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {media_type: {"schema": {"type": "string", "format": "binary"}}}}


def _empty(status: int, description: str) -> dict[str, Any]:
    return {str(status): {"description": description}}


def _op(operation_id: str, summary: str, responses: dict[str, Any], *,
        body: dict[str, Any] | None = None,
        params: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": operation_id, "summary": summary,
                          "tags": [operation_id.split("_")[0]], "responses": responses}
    if body is not None:
        op["requestBody"] = body
    if params:
        op["parameters"] = params
    return op


_INT = {"type": "integer"}
_STR = {"type": "string"}
_BOOL = {"type": "boolean"}
_KEYS = {"type": "array", "items": _STR}
_POINT = {"x": _INT, "y": _INT}
_CODES = (400, 401, 404, 409, 500)
_DONE = _empty(204, "Done")


def _computer() -> dict[str, Any]:
    base = "/browsers/{id}/computer"
    shot = {"200": _bytes("image/png", "The screen (or the region) as a PNG")}
    action = {**_DONE, **_errors(*_CODES)}
    return {
        f"{base}/screenshot": {"post": _op(
            "computer_screenshot", "Capture the screen, or a region of it",
            {**shot, **_errors(*_CODES)}, body=_json_body({"region": {
                "type": "object", "properties": {**_POINT, "width": _INT, "height": _INT}}},
                optional=True))},
        f"{base}/click_mouse": {"post": _op(
            "computer_click_mouse", "Click, press or release a mouse button", action,
            body=_json_body({**_POINT, "button": _STR, "click_type": _STR, "num_clicks": _INT,
                             "hold_keys": _KEYS}, ["x", "y"]))},
        f"{base}/move_mouse": {"post": _op(
            "computer_move_mouse", "Move the pointer", action,
            body=_json_body({**_POINT, "smooth": _BOOL, "duration_ms": _INT,
                             "hold_keys": _KEYS}, ["x", "y"]))},
        f"{base}/drag_mouse": {"post": _op(
            "computer_drag_mouse", "Drag along a path", action,
            body=_json_body({"path": {"type": "array", "items": {"type": "array",
                                                                 "items": _INT}},
                             "button": _STR, "delay": _INT, "smooth": _BOOL,
                             "steps_per_segment": _INT, "step_delay_ms": _INT,
                             "duration_ms": _INT, "hold_keys": _KEYS}, ["path"]))},
        f"{base}/scroll": {"post": _op(
            "computer_scroll", "Turn the wheel at a point", action,
            body=_json_body({**_POINT, "delta_x": _INT, "delta_y": _INT, "hold_keys": _KEYS},
                            ["x", "y"]))},
        f"{base}/type": {"post": _op(
            "computer_type_text", "Type text", action,
            body=_json_body({"text": _STR, "delay": _INT}, ["text"]))},
        f"{base}/press_key": {"post": _op(
            "computer_press_key", "Press keys (X11 keysym names, e.g. Ctrl+l, Return)", action,
            body=_json_body({"keys": _KEYS, "duration": _INT, "hold_keys": _KEYS}, ["keys"]))},
        f"{base}/batch": {"post": _op(
            "computer_batch", "Run actions in order, stopping at the first that fails", action,
            body=_json_body({"actions": {"type": "array", "items": _OBJECT}}, ["actions"]))},
        f"{base}/clipboard/write": {"post": _op(
            "computer_write_clipboard", "Set the clipboard's text", action,
            body=_json_body({"text": _STR}, ["text"]))},
        f"{base}/clipboard/read": {"post": _op(
            "computer_read_clipboard", "Read the clipboard's text",
            {"200": _json({"type": "object", "properties": {"text": _STR}}, "Its text"),
             **_errors(*_CODES)}, body=_json_body(optional=True))},
        f"{base}/get_mouse_position": {"post": _op(
            "computer_get_mouse_position", "Where the pointer is",
            {"200": _json({"type": "object", "properties": _POINT}, "The position"),
             **_errors(*_CODES)}, body=_json_body(optional=True))},
        f"{base}/cursor": {"post": _op(
            "computer_set_cursor_visibility", "Show or hide the pointer in screenshots",
            {"200": _json({"type": "object", "properties": {"ok": _BOOL}}, "Done"),
             **_errors(*_CODES)}, body=_json_body({"hidden": _BOOL}, ["hidden"]))},
    }


def _playwright_and_replays() -> dict[str, Any]:
    base = "/browsers/{id}"
    replay = {"type": "object", "properties": {
        "replay_id": _STR, "started_at": _STR, "finished_at": {"type": ["string", "null"]},
        "replay_view_url": _STR}}
    return {
        f"{base}/playwright/execute": {"post": _op(
            "playwright_execute", "Run Playwright code with page, context and browser in scope",
            {"200": _json({"type": "object", "properties": {
                "success": _BOOL, "result": {}, "error": _STR, "stdout": _STR,
                "stderr": _STR}}, "What the code returned or threw"),
             **_errors(400, 401, 404, 409, 429, 500, 503)},
            body=_json_body({"code": _STR, "timeout_sec": _INT, "executor": _STR},
                            ["code"]))},
        f"{base}/playwright/executors": {"get": _op(
            "playwright_list_executors", "The browser's named executors",
            {"200": _json({"type": "object", "properties": {
                "executors": {"type": "array", "items": _OBJECT}}}, "The executors"),
             **_errors(400, 401, 404)})},
        f"{base}/playwright/executors/{{name}}": {
            "parameters": [_path_param("name")],
            "delete": _op("playwright_delete_executor", "Stop a named executor",
                          {**_DONE, **_errors(400, 401, 404, 409)},
                          params=[_query("close_tab", _BOOL)])},
        f"{base}/replays": {
            "post": _op("replays_start", "Start recording the browser",
                        {"200": _json(replay, "The recording"),
                         **_errors(400, 401, 404, 409, 429, 500, 503)},
                        body=_json_body({"framerate": _INT, "max_duration_in_seconds": _INT},
                                        optional=True)),
            "get": _op("replays_list", "The browser's recordings",
                       {"200": _json({"type": "array", "items": replay}, "Recordings"),
                        **_errors(401, 404)})},
        f"{base}/replays/{{replay_id}}/stop": {
            "parameters": [_path_param("replay_id")],
            "post": _op("replays_stop", "Stop a recording",
                        {**_DONE, **_errors(400, 401, 404, 409, 500)},
                        body=_json_body(optional=True))},
        f"{base}/replays/{{replay_id}}": {
            "parameters": [_path_param("replay_id")],
            "get": _op("replays_download", "The recording as an MP4",
                       {"200": _bytes("video/mp4", "The video"), **_errors(401, 404, 409)})},
    }


def _files() -> dict[str, Any]:
    base = "/browsers/{id}/fs"
    path = _query("path", _STR, required=True)
    done = {"200": {"description": "Done"}, **_errors(400, 401, 403, 404, 409, 500)}
    file_info = {"type": "object", "properties": {
        "name": _STR, "path": _STR, "size_bytes": _INT, "is_dir": _BOOL, "mode": _STR,
        "mod_time": _STR}}
    multipart = {"required": True, "content": {"multipart/form-data": {"schema": _OBJECT}}}
    return {
        f"{base}/read_file": {"get": _op(
            "fs_read_file", "A file's bytes",
            {"200": _bytes("application/octet-stream", "The file"),
             **_errors(400, 401, 403, 404, 500)}, params=[path])},
        f"{base}/write_file": {"put": _op(
            "fs_write_file", "Write a file (the body is its bytes)", done,
            params=[path, _query("mode", _STR)],
            body={"required": True, "content": {"application/octet-stream": {
                "schema": {"type": "string", "format": "binary"}}}})},
        f"{base}/file_info": {"get": _op(
            "fs_file_info", "A file's or folder's details",
            {"200": _json(file_info, "Its details"), **_errors(400, 401, 403, 404, 500)},
            params=[path])},
        f"{base}/list_files": {"get": _op(
            "fs_list_files", "A folder's entries",
            {"200": _json({"type": "array", "items": file_info}, "Its entries"),
             **_errors(400, 401, 403, 404, 500)}, params=[path])},
        f"{base}/move": {"put": _op(
            "fs_move", "Move or rename", done,
            body=_json_body({"src_path": _STR, "dest_path": _STR},
                            ["src_path", "dest_path"]))},
        f"{base}/delete_file": {"put": _op(
            "fs_delete_file", "Delete a file", done, body=_json_body({"path": _STR}, ["path"]))},
        f"{base}/create_directory": {"put": _op(
            "fs_create_directory", "Make a folder (and its parents)", done,
            body=_json_body({"path": _STR, "mode": _STR}, ["path"]))},
        f"{base}/delete_directory": {"put": _op(
            "fs_delete_directory", "Delete a folder and what it holds", done,
            body=_json_body({"path": _STR}, ["path"]))},
        f"{base}/set_file_permissions": {"put": _op(
            "fs_set_file_permissions", "Change a file's mode", done,
            body=_json_body({"path": _STR, "mode": _STR, "owner": _STR, "group": _STR},
                            ["path", "mode"]))},
        f"{base}/upload": {"post": _op(
            "fs_upload", "Upload files (files[N][file], files[N][dest_path])", done,
            body=multipart)},
        f"{base}/upload_zip": {"post": _op(
            "fs_upload_zip", "Extract a zip (zip_file) into a folder (dest_path)", done,
            body=multipart)},
        f"{base}/download_dir_zip": {"get": _op(
            "fs_download_dir_zip", "A folder as a zip",
            {"200": _bytes("application/zip", "The zip"), **_errors(400, 401, 403, 404, 500)},
            params=[path])},
        f"{base}/watch": {"post": _op(
            "fs_watch_start", "Watch a folder for changes",
            {"200": _json({"type": "object", "properties": {"watch_id": _STR}}, "The watch"),
             **_errors(400, 401, 403, 404, 409, 429, 500)},
            body=_json_body({"path": _STR, "recursive": _BOOL}, ["path"]))},
        f"{base}/watch/{{watch_id}}/events": {
            "parameters": [_path_param("watch_id")],
            "get": _op("fs_watch_events", "The watch's events, as they happen",
                       {"200": {"description": "Server-sent events", "content": {
                           "text/event-stream": {"schema": _STR}}}, **_errors(401, 404)})},
        f"{base}/watch/{{watch_id}}": {
            "parameters": [_path_param("watch_id")],
            "delete": _op("fs_watch_stop", "Stop watching",
                          {"200": {"description": "Stopped"}, **_errors(401, 404)})},
    }


def _processes_curl_logs() -> dict[str, Any]:
    base = "/browsers/{id}/process"
    pid = [_path_param("pid")]
    codes = (400, 401, 403, 404, 409, 500)
    command = {"command": _STR, "args": _KEYS, "cwd": _STR, "env": _OBJECT,
               "timeout_sec": _INT, "as_user": _STR, "as_root": _BOOL}
    return {
        f"{base}/exec": {"post": _op(
            "process_exec", "Run a command to its end (needs --allow-process)",
            {"200": _json(_OBJECT, "Its exit code and output"), **_errors(*codes)},
            body=_json_body(command, ["command"]))},
        f"{base}/spawn": {"post": _op(
            "process_spawn", "Start a command (needs --allow-process)",
            {"200": _json(_OBJECT, "The process"), **_errors(*codes)},
            body=_json_body({**command, "allocate_tty": _BOOL, "rows": _INT, "cols": _INT},
                            ["command"]))},
        f"{base}/{{pid}}/status": {"parameters": pid, "get": _op(
            "process_status", "Whether it runs, and its exit code",
            {"200": _json(_OBJECT, "Its status"), **_errors(*codes)})},
        f"{base}/{{pid}}/stdin": {"parameters": pid, "post": _op(
            "process_stdin", "Write to its input",
            {"200": _json(_OBJECT, "Bytes written"), **_errors(*codes)},
            body=_json_body({"data_b64": _STR}, ["data_b64"]))},
        f"{base}/{{pid}}/stdout/stream": {"parameters": pid, "get": _op(
            "process_stdout_stream", "Its output, as it comes",
            {"200": {"description": "Server-sent events", "content": {
                "text/event-stream": {"schema": _STR}}}, **_errors(*codes)})},
        f"{base}/{{pid}}/kill": {"parameters": pid, "post": _op(
            "process_kill", "Send it a signal",
            {"200": _json(_OBJECT, "Sent"), **_errors(*codes)},
            body=_json_body({"signal": _STR}, ["signal"]))},
        f"{base}/{{pid}}/resize": {"parameters": pid, "post": _op(
            "process_resize", "Resize its terminal",
            {"200": _json(_OBJECT, "Resized"), **_errors(*codes)},
            body=_json_body({"rows": _INT, "cols": _INT}, ["rows", "cols"]))},
        "/browsers/{id}/curl": {"post": _op(
            "browsers_curl", "An HTTP request made from inside the browser's page",
            {"200": _json(_OBJECT, "The answer"), **_errors(400, 401, 404, 409, 500)},
            body=_json_body({"url": _STR, "method": _STR, "headers": _OBJECT, "body": _STR,
                             "timeout_ms": _INT}, ["url"]))},
        "/browsers/{id}/logs/stream": {"get": _op(
            "browsers_logs_stream", "The browser's log lines (or a file's), as they come",
            {"200": {"description": "Server-sent events", "content": {
                "text/event-stream": {"schema": _STR}}}, **_errors(400, 401, 403, 404)},
            params=[_query("source", {"type": "string", "enum": ["path", "supervisor"]},
                           required=True),
                    _query("path", _STR), _query("supervisor_process", _STR),
                    _query("follow", _BOOL)])},
    }


def _profiles_and_pools() -> dict[str, Any]:
    profile = {"type": "object", "properties": {
        "id": _STR, "name": {"type": ["string", "null"]}, "created_at": _STR,
        "updated_at": _STR}}
    pool = {"type": "object", "properties": {
        "id": _STR, "name": {"type": ["string", "null"]}, "available_count": _INT,
        "acquired_count": _INT, "browser_pool_config": _OBJECT}}
    page = [_query("limit", {"type": "integer", "minimum": 1, "maximum": 100}),
            _query("offset", {"type": "integer", "minimum": 0})]
    pool_settings = {"name": _STR, "size": _INT, "fill_rate_per_minute": _INT,
                     "headless": _BOOL, "viewport": _OBJECT, "timeout_seconds": _INT,
                     "start_url": _STR, "profile": _OBJECT}
    one = [_path_param("id")]
    return {
        "/profiles": {
            "post": _op("profiles_create", "Make a profile",
                        {"200": _json(profile, "The profile"), **_errors(400, 401, 409)},
                        body=_json_body({"name": _STR}, optional=True)),
            "get": _op("profiles_list", "The profiles",
                       {"200": _json({"type": "array", "items": profile}, "A page"),
                        **_errors(400, 401)}, params=[*page, _query("query", _STR)])},
        "/profiles/{id}": {
            "parameters": one,
            "get": _op("profiles_retrieve", "A profile",
                       {"200": _json(profile, "The profile"), **_errors(401, 404)}),
            "patch": _op("profiles_update", "Rename a profile",
                         {"200": _json(profile, "The profile"), **_errors(400, 401, 404, 409)},
                         body=_json_body({"name": _STR}, ["name"])),
            "delete": _op("profiles_delete", "Delete a profile",
                          {**_DONE, **_errors(401, 404, 409)})},
        "/profiles/{id}/download": {
            "parameters": one,
            "get": _op("profiles_download", "The profile's folder as a tar",
                       {"200": _bytes("application/x-tar", "The archive"),
                        **_errors(400, 401, 404, 409)},
                       params=[_query("format", {"type": "string", "enum": ["tar"]})])},
        "/browser_pools": {
            "post": _op("browser_pools_create", "Make a pool of warm browsers",
                        {"200": _json(pool, "The pool"), **_errors(400, 401, 409, 429)},
                        body=_json_body(pool_settings, ["size"])),
            "get": _op("browser_pools_list", "The pools",
                       {"200": _json({"type": "array", "items": pool}, "A page"),
                        **_errors(400, 401)}, params=page)},
        "/browser_pools/{id}": {
            "parameters": one,
            "get": _op("browser_pools_retrieve", "A pool",
                       {"200": _json(pool, "The pool"), **_errors(401, 404)}),
            "patch": _op("browser_pools_update", "Change a pool's settings",
                         {"200": _json(pool, "The pool"), **_errors(400, 401, 404, 409)},
                         body=_json_body({**pool_settings, "discard_all_idle": _BOOL})),
            "delete": _op("browser_pools_delete", "Delete a pool",
                          {**_DONE, **_errors(400, 401, 404, 409)},
                          body=_json_body({"force": _BOOL}, optional=True))},
        "/browser_pools/{id}/acquire": {
            "parameters": one,
            "post": _op("browser_pools_acquire", "Take a warm browser",
                        {"200": _json({"$ref": "#/components/schemas/Browser"}, "The browser"),
                         **_empty(204, "None became free in time"),
                         **_errors(400, 401, 404, 409, 503)},
                        body=_json_body({"acquire_timeout_seconds": _INT, "name": _STR,
                                         "tags": _OBJECT, "start_url": _STR}, optional=True))},
        "/browser_pools/{id}/release": {
            "parameters": one,
            "post": _op("browser_pools_release", "Give a browser back",
                        {**_DONE, **_errors(400, 401, 404, 409)},
                        body=_json_body({"session_id": _STR, "reuse": _BOOL},
                                        ["session_id"]))},
        "/browser_pools/{id}/flush": {
            "parameters": one,
            "post": _op("browser_pools_flush", "Replace the warm browsers",
                        {**_DONE, **_errors(401, 404, 409)})},
    }


def _credentials() -> dict[str, Any]:
    credential = {"type": "object", "properties": {
        "id": _STR, "name": _STR, "domain": _STR, "created_at": _STR, "updated_at": _STR,
        "has_values": _BOOL, "has_totp_secret": _BOOL, "sso_provider": _STR,
        "totp_algorithm": _STR, "totp_digits": _INT, "totp_period": _INT, "value_keys": _KEYS,
        "totp_code": _STR, "totp_code_expires_at": _STR}}
    totp = {"totp_secret": _STR, "totp_algorithm": {"type": "string",
                                                    "enum": ["SHA1", "SHA256", "SHA512"]},
            "totp_digits": _INT, "totp_period": _INT, "sso_provider": _STR}
    page = [_query("limit", {"type": "integer", "minimum": 1, "maximum": 100}),
            _query("offset", {"type": "integer", "minimum": 0})]
    one = [_path_param("id")]
    return {
        "/credentials": {
            "post": _op("credentials_create", "Keep a credential (its values are never "
                        "answered back)", {"200": _json(credential, "The credential"),
                                           **_errors(400, 401, 409)},
                        body=_json_body({"name": _STR, "domain": _STR, "values": _OBJECT,
                                         **totp}, ["name", "domain", "values"])),
            "get": _op("credentials_list", "The credentials (without value keys)",
                       {"200": _json({"type": "array", "items": credential}, "A page"),
                        **_errors(400, 401)},
                       params=[*page, _query("domain", _STR), _query("query", _STR)])},
        "/credentials/{id}": {
            "parameters": one,
            "get": _op("credentials_retrieve", "A credential, by id or name",
                       {"200": _json(credential, "The credential"), **_errors(401, 404)}),
            "patch": _op("credentials_update", "Rename it, merge or remove values, set or "
                         "clear its TOTP secret",
                         {"200": _json(credential, "The credential"),
                          **_errors(400, 401, 404, 409)},
                         body=_json_body({"name": _STR, "values": _OBJECT,
                                          "remove_value_keys": _KEYS, **totp})),
            "delete": _op("credentials_delete", "Delete a credential",
                          {**_DONE, **_errors(401, 404)})},
        "/credentials/{id}/totp-code": {
            "parameters": one,
            "get": _op("credentials_totp_code", "The current TOTP code (RFC 6238)",
                       {"200": _json({"type": "object", "properties": {
                           "code": _STR, "expires_at": _STR}}, "The code"),
                        **_errors(400, 401, 404)})},
    }


def _proxies_and_extensions() -> dict[str, Any]:
    proxy = {"type": "object", "properties": {
        "id": _STR, "type": {"type": "string", "enum": ["custom"]}, "name": _STR,
        "protocol": {"type": "string", "enum": ["http", "https"]}, "bypass_hosts": _KEYS,
        "config": {"type": "object", "properties": {
            "host": _STR, "port": _INT, "username": _STR, "has_password": _BOOL,
            "has_ca_bundle": _BOOL}},
        "status": {"type": ["string", "null"], "enum": ["available", "unavailable", None]},
        "last_checked": {"type": ["string", "null"]}, "ip_address": {"type": ["string", "null"]}}}
    extension = {"type": "object", "properties": {
        "id": _STR, "name": {"type": ["string", "null"]}, "created_at": _STR,
        "last_used_at": {"type": ["string", "null"]}, "size_bytes": _INT, "checksum": _STR}}
    page = [_query("limit", {"type": "integer", "minimum": 1, "maximum": 100}),
            _query("offset", {"type": "integer", "minimum": 0}), _query("name", _STR),
            _query("query", _STR)]
    one = [_path_param("id")]
    upload = {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary"}, "name": _STR}}}}}
    load = {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "properties": {
            "extensions[][name]": _STR,
            "extensions[][zip_file]": {"type": "string", "format": "binary"}}}}}}
    return {
        "/proxies": {
            "post": _op("proxies_create", "Keep a custom proxy (Kernel-run types are a 400: "
                        "they need Kernel's cloud)", {"200": _json(proxy, "The proxy"),
                                                       **_errors(400, 401)},
                        body=_json_body({"type": _STR, "name": _STR, "protocol": _STR,
                                         "bypass_hosts": _KEYS, "config": _OBJECT}, ["type"])),
            "get": _op("proxies_list", "The proxies",
                       {"200": _json({"type": "array", "items": proxy}, "A page"),
                        **_errors(400, 401)}, params=page)},
        "/proxies/{id}": {
            "parameters": one,
            "get": _op("proxies_retrieve", "A proxy, by id or name",
                       {"200": _json(proxy, "The proxy"), **_errors(401, 404, 409)}),
            "patch": _op("proxies_update", "Rename a proxy",
                         {"200": _json(proxy, "The proxy"), **_errors(400, 401, 404, 409)},
                         body=_json_body({"name": _STR}, ["name"])),
            "delete": _op("proxies_delete", "Delete a proxy",
                          {**_DONE, **_errors(401, 404, 409)})},
        "/proxies/{id}/check": {
            "parameters": one,
            "post": _op("proxies_check", "Try a connection through the proxy",
                        {"200": _json(proxy, "The proxy, with the check's status"),
                         **_errors(400, 401, 404, 409)},
                        body=_json_body({"url": _STR}, optional=True))},
        "/extensions": {
            "post": _op("extensions_upload", "Keep an unpacked extension (a zip)",
                        {"200": _json(extension, "The extension"),
                         **_errors(400, 401, 409)}, body=upload),
            "get": _op("extensions_list", "The extensions",
                       {"200": _json({"type": "array", "items": extension}, "A page"),
                        **_errors(400, 401)}, params=page)},
        "/extensions/from_chrome_store": {
            "get": _op("extensions_download_from_chrome_store", "Needs Kernel's cloud: a 501",
                       {"501": {"description": "Not available on the local runner",
                                "content": {"application/json": {"schema": _ERROR}}},
                        **_errors(401)}, params=[_query("url", _STR, required=True)])},
        "/extensions/{id}": {
            "parameters": one,
            "get": _op("extensions_download", "The extension's zip, as uploaded",
                       {"200": _bytes("application/zip", "The zip"), **_errors(401, 404)}),
            "delete": _op("extensions_delete", "Delete an extension",
                          {**_DONE, **_errors(401, 404)})},
        "/extensions/{id}/metadata": {
            "parameters": one,
            "get": _op("extensions_get", "An extension, by id or name",
                       {"200": _json(extension, "The extension"), **_errors(401, 404)})},
        "/browsers/{id}/extensions": {
            "parameters": one,
            "post": _op("browsers_load_extensions", "Load unpacked extensions into a running "
                        "browser (live, over DevTools)",
                        {**_DONE, **_errors(400, 401, 404)}, body=load)},
    }


def _telemetry_repl_webmcp() -> dict[str, Any]:
    base = "/browsers/{id}"
    envelope = {"type": "object", "properties": {
        "seq": _INT, "event": {"type": "object", "properties": {
            "category": _STR, "type": _STR, "ts": _INT, "source": _OBJECT, "data": _OBJECT,
            "truncated": _BOOL}}}}
    listed = {"X-Has-More": {"schema": _STR}, "X-Next-Offset": {"schema": _STR}}
    repl_result = {"type": "object", "properties": {
        "repl_id": _STR, "success": _BOOL, "duration_ms": _INT, "error": _STR, "stack": _STR,
        "repl_terminated": _BOOL, "content_truncated": _BOOL,
        "content": {"type": "array", "items": _OBJECT}}}
    tools = {"type": "object", "properties": {"tools": {"type": "array", "items": _OBJECT}}}
    webmcp_errors = _errors(400, 401, 404, 409, 501)
    return {
        f"{base}/telemetry/events": {"get": _op(
            "telemetry_events", "A page of the browser's telemetry events",
            {"200": {**_json({"type": "array", "items": envelope},
                             "Events, oldest first (newest first with order=desc)"),
                     "headers": listed}, **_errors(400, 401, 404)},
            params=[_query("category", {"type": "array", "items": _STR}),
                    _query("type", {"type": "array", "items": _STR}),
                    _query("limit", _INT), _query("offset", _INT), _query("order", _STR),
                    _query("since", _STR), _query("until", _STR)])},
        f"{base}/telemetry/stream": {"get": _op(
            "telemetry_stream", "Telemetry events as Server-Sent Events, until the browser "
            "closes", {"200": {"description": "id: seq, data: the event envelope",
                               "content": {"text/event-stream": {"schema": _STR}}},
                       **_errors(400, 401, 404)},
            params=[_query("replay", _STR), _query("type", {"type": "array", "items": _STR})])},
        f"{base}/repl": {"post": _op(
            "browser_repl", "Run JavaScript in the browser's persistent Node.js REPL",
            {"200": _json(repl_result, "What the code wrote, and whether it threw"),
             **_errors(400, 401, 404, 409, 503)},
            body=_json_body({"code": _STR, "reset": _BOOL, "timeout_sec": _INT}, ["code"]))},
        f"{base}/webmcp/tools": {"get": _op(
            "webmcp_list_tools", "The WebMCP tools of every open tab, and custom tools",
            {"200": _json(tools, "The live tools, each with its tool_ref"), **webmcp_errors},
            params=[_query("exclude_custom", _BOOL)])},
        f"{base}/webmcp/invoke": {"post": _op(
            "webmcp_invoke_tool", "Invoke one live tool by its tool_ref",
            {"200": _json({"type": "object", "properties": {
                "invocation_id": _STR, "status": _STR, "output": {}, "error_text": _STR}},
                "The result (completed, error, canceled or awaiting_submission)"),
             **webmcp_errors},
            body=_json_body({"tool_ref": _STR, "input": _OBJECT, "timeout_sec": _INT},
                            ["tool_ref", "input"]))},
        f"{base}/webmcp/custom-tools": {
            "get": _op("webmcp_list_custom_tools", "The browser's custom tools",
                       {"200": _json(tools, "Every custom tool"), **webmcp_errors}),
            "post": _op("webmcp_add_custom_tools", "Add a namespaced batch of custom tools",
                        {"200": _json(tools, "Every custom tool"), **webmcp_errors},
                        body=_json_body({"namespace": _STR, "source": _STR,
                                         "force_overwrite_namespace": _BOOL},
                                        ["namespace", "source"]))},
        f"{base}/webmcp/custom-tools/{{tool_id}}": {
            "parameters": [_path_param("tool_id")],
            "delete": _op("webmcp_remove_custom_tool", "Remove one custom tool",
                          {**_empty(204, "Removed"), **webmcp_errors})},
    }


def browser_paths() -> dict[str, Any]:
    """The paths of the browser APIs, each with the ``{id}`` (id or name) parameter."""
    paths = {**_computer(), **_playwright_and_replays(), **_files(), **_processes_curl_logs(),
             **_telemetry_repl_webmcp()}
    for item in paths.values():
        item["parameters"] = [_path_param("id"), *item.get("parameters", [])]
    return {**paths, **_profiles_and_pools(), **_credentials(),
            **_proxies_and_extensions()}
