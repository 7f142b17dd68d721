"""The extension endpoints: ``/extensions`` (upload, list, metadata, download, delete) and
``POST /browsers/{id}/extensions`` (load extensions into a running browser).

A running browser loads an extension live, over its DevTools pipe
(``Extensions.loadUnpacked``, which Chromium offers on pipe connections): its pages
opened from then on get it, and nothing restarts. Browsers created with
``extensions: [...]`` load them at start instead (see :func:`.extensions.chromium_switches`).
``GET /extensions/from_chrome_store`` needs Kernel's cloud and stays a 501.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from ..errors import ApiError, bad_request
from ..http.common import MAX_OFFSET, guard, int_param, json_response, paged
from .cdp import CdpError, CdpMux
from .extensions import MAX_EXTENSION_BYTES, Extensions, check_name, unpack_extension

__all__ = ["ExtensionRoutes", "BrowserOfId", "MAX_EXTENSIONS_UPLOAD"]

#: How long Chromium may take to load one extension.
LOAD_TIMEOUT_S = 30.0
#: Extensions one ``POST /browsers/{id}/extensions`` may load.
MAX_AT_ONCE = 20
#: The body limit of the upload routes (the front door's, for multipart bodies).
MAX_EXTENSIONS_UPLOAD = MAX_AT_ONCE * MAX_EXTENSION_BYTES
#: A browser by id or name: its folder and its DevTools pipe (raises 404).
BrowserOfId = Callable[[str], tuple[Path, CdpMux]]
_FIELD = re.compile(r"extensions\[(\d*)\]\[(name|zip_file)\]")


async def _form(request: Request, max_files: int) -> Any:
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_EXTENSION_BYTES * max_files:
        raise bad_request(f"upload too large: at most {MAX_EXTENSION_BYTES} bytes an extension")
    try:
        return await request.form(max_files=max_files, max_fields=4 * max_files + 10,
                                  max_part_size=64 * 1024)
    except Exception as exc:
        raise bad_request(f"expected a multipart/form-data upload: {exc}") from None


def _pairs(form: Any) -> list[tuple[str, UploadFile]]:
    """``(name, zip)`` of each extension in ``extensions[][name]`` /
    ``extensions[][zip_file]`` fields (or ``extensions[N][...]``), in order."""
    names: dict[int, str] = {}
    files: dict[int, UploadFile] = {}
    counts = {"name": 0, "zip_file": 0}
    for key, value in form.multi_items():
        match = _FIELD.fullmatch(key)
        if match is None:
            continue
        kind = match.group(2)
        index = int(match.group(1)) if match.group(1) else counts[kind]
        counts[kind] += 1
        if index >= MAX_AT_ONCE:
            raise bad_request(f"at most {MAX_AT_ONCE} extensions at once")
        if kind == "name":
            if not isinstance(value, str):
                raise bad_request(f"{key!r} must be a text field")
            names[index] = check_name(value, "extensions[].name")
        else:
            if not isinstance(value, UploadFile):
                raise bad_request(f"{key!r} must be a file: the extension's zip")
            files[index] = value
    if not names and not files:
        raise bad_request("'extensions' is required: extensions[][name] and "
                          "extensions[][zip_file] for each")
    if set(names) != set(files):
        raise bad_request("each extension needs both extensions[][name] and "
                          "extensions[][zip_file]")
    if len(set(names.values())) != len(names):
        raise bad_request("extension names must differ")
    return [(names[i], files[i]) for i in sorted(names)]


class ExtensionRoutes:
    """The extension endpoints, over the store and a way to find a running browser."""

    def __init__(self, extensions: Extensions, browser_of: BrowserOfId) -> None:
        self.extensions = extensions
        self.browser_of = browser_of

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/extensions", guard(self.upload_extension), methods=["POST"]),
            Route("/extensions", guard(self.list_extensions), methods=["GET"]),
            # Before /extensions/{id}, which would take it for an extension's name.
            Route("/extensions/from_chrome_store", guard(self.from_chrome_store),
                  methods=["GET"]),
            Route("/extensions/{id}", guard(self.download_extension), methods=["GET"]),
            Route("/extensions/{id}", guard(self.delete_extension), methods=["DELETE"]),
            Route("/extensions/{id}/metadata", guard(self.get_extension), methods=["GET"]),
            Route("/browsers/{id}/extensions", guard(self.load_extensions), methods=["POST"]),
        ]

    async def upload_extension(self, request: Request) -> Response:
        form = await _form(request, 1)
        upload, name = form.get("file"), form.get("name")
        if not isinstance(upload, UploadFile):
            raise bad_request("'file' is required: the extension's folder as a zip")
        if name is not None and not isinstance(name, str):
            raise bad_request("'name' must be a text field")
        data = await upload.read(MAX_EXTENSION_BYTES + 1)
        return json_response(await self.extensions.upload(data, name or None))

    async def list_extensions(self, request: Request) -> Response:
        q = request.query_params
        limit = int_param(request, "limit", 20, 1, 100)
        offset = int_param(request, "offset", 0, 0, MAX_OFFSET)
        items = self.extensions.listed(name=q.get("name") or None,
                                       query=q.get("query") or None)
        page, headers = paged(items, limit, offset)
        return json_response(page, headers=headers)

    async def from_chrome_store(self, request: Request) -> Response:
        raise ApiError(501, "not_available_locally",
                       "importing from the Chrome Web Store is not available on the local "
                       "runner: GET /extensions/from_chrome_store needs Kernel's cloud; "
                       "upload the extension's folder as a zip (extensions.upload)",
                       headers={"x-should-retry": "false"})

    async def get_extension(self, request: Request) -> Response:
        return json_response(self.extensions.to_wire(
            self.extensions.find(request.path_params["id"])))

    async def download_extension(self, request: Request) -> Response:
        record = self.extensions.find(request.path_params["id"])
        filename = f"{record.get('name') or record['id']}.zip"
        return FileResponse(self.extensions.archive(record), media_type="application/zip",
                            filename=filename)

    async def delete_extension(self, request: Request) -> Response:
        await self.extensions.delete(request.path_params["id"])
        return Response(status_code=204)

    async def load_extensions(self, request: Request) -> Response:
        folder, cdp = self.browser_of(request.path_params["id"])
        pairs = _pairs(await _form(request, MAX_AT_ONCE))
        for name, upload in pairs:
            data = await upload.read(MAX_EXTENSION_BYTES + 1)
            if len(data) > MAX_EXTENSION_BYTES:
                raise bad_request(f"extension {name!r} is over {MAX_EXTENSION_BYTES} bytes")
            target = folder / "extensions" / name
            staging = folder / "extensions" / f".{name}.new"
            await asyncio.to_thread(shutil.rmtree, staging, ignore_errors=True)
            root = await asyncio.to_thread(unpack_extension, data, staging)
            await asyncio.to_thread(shutil.rmtree, target, ignore_errors=True)
            staging.rename(target)
            path = target / root.relative_to(staging)
            try:
                await asyncio.wait_for(
                    cdp.call("Extensions.loadUnpacked", {"path": str(path)}), LOAD_TIMEOUT_S)
            except TimeoutError:
                raise bad_request(f"Chromium did not load extension {name!r} within "
                                  f"{LOAD_TIMEOUT_S:g} s") from None
            except CdpError as exc:
                raise bad_request(f"Chromium did not load extension {name!r}: {exc}") from None
        return Response(status_code=204)
