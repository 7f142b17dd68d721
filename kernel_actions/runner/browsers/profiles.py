"""Browser profiles (``/profiles``): Chromium user-data folders kept between browsers.

A profile is ``<data>/profiles/<id>/``: ``profile.json`` (its metadata) and ``data/`` (a
Chromium user-data folder: cookies, local storage, IndexedDB, ...). ``POST /browsers``
with ``profile: {id | name, save_changes}`` starts the browser on a copy of ``data/``;
with ``save_changes`` the browser's folder is copied back when it closes, after Chromium
was asked to close (``Browser.close``) so that it writes its cookies and storage out.
One browser at a time may save into a profile (a second one gets 409), as on Kernel.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import re
import shutil
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ...ids import new_id
from ...timeutil import format_ns, now_ns
from ..errors import ApiError, bad_request, conflict, not_found
from ..http.common import MAX_OFFSET, guard, int_param, json_response, paged, read_json_body

__all__ = ["Profiles", "ProfileUse", "PROFILE_NAME"]

PROFILE_NAME = re.compile(r"[A-Za-z0-9._-]{1,255}")
#: What of a Chromium user-data folder is not worth keeping: caches, locks, crash dumps.
_NOT_KEPT = shutil.ignore_patterns(
    "Singleton*", "DevToolsActivePort", "Cache", "Code Cache", "GPUCache", "GrShaderCache",
    "ShaderCache", "GraphiteDawnCache", "DawnGraphiteCache", "DawnWebGPUCache",
    "Crashpad", "Crash Reports", "component_crx_cache", "*.tmp", "BrowserMetrics*")


@dataclass
class ProfileUse:
    """A browser's use of a profile."""

    profile_id: str
    save_changes: bool


class Profiles:
    """The runner's saved profiles. ``saving()`` lists profile ids a running browser will
    save into (to refuse a second one)."""

    def __init__(self, root: Path, saving: Callable[[], set[str]]) -> None:
        self.root = root
        self._saving = saving
        self._lock = asyncio.Lock()

    # -- storage ---------------------------------------------------------------------------

    def _meta_path(self, profile_id: str) -> Path:
        return self.root / profile_id / "profile.json"

    def data_folder(self, profile_id: str) -> Path:
        return self.root / profile_id / "data"

    def _all(self) -> list[dict[str, Any]]:
        if not self.root.is_dir():
            return []
        found = []
        for folder in self.root.iterdir():
            with contextlib.suppress(OSError, ValueError):
                meta = json.loads((folder / "profile.json").read_text())
                if isinstance(meta, dict) and meta.get("id") == folder.name:
                    found.append(meta)
        return sorted(found, key=lambda m: m["created_at"], reverse=True)

    def _write(self, meta: dict[str, Any]) -> None:
        path = self._meta_path(meta["id"])
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(meta))
        os.replace(tmp, path)

    def find(self, id_or_name: str) -> dict[str, Any]:
        if re.fullmatch(r"[0-9a-z]{1,64}", id_or_name):
            with contextlib.suppress(OSError, ValueError):
                meta = json.loads(self._meta_path(id_or_name).read_text())
                if isinstance(meta, dict):
                    return meta
        for meta in self._all():
            if meta.get("name") == id_or_name:
                return meta
        raise not_found(f"profile {id_or_name!r} not found")

    def _check_name(self, name: Any, *, required: bool, exclude: str | None = None) -> str | None:
        if name is None and not required:
            return None
        if not isinstance(name, str) or not PROFILE_NAME.fullmatch(name):
            raise bad_request("'name' must be 1-255 letters, digits, dots, underscores or "
                              f"hyphens, got {name!r}")
        if any(m.get("name") == name and m["id"] != exclude for m in self._all()):
            raise conflict(f"a profile named {name!r} already exists")
        return name

    # -- browsers --------------------------------------------------------------------------

    def parse_use(self, value: Any) -> ProfileUse | None:
        """``profile`` of ``POST /browsers``: checked, and the profile looked up."""
        if value is None:
            return None
        if not isinstance(value, dict):
            raise bad_request("'profile' must be an object with 'id' or 'name'")
        key = value.get("id") or value.get("name")
        if not isinstance(key, str) or not key:
            raise bad_request("'profile' needs 'id' or 'name'")
        save = value.get("save_changes", False)
        if not isinstance(save, bool):
            raise bad_request("'profile.save_changes' must be true or false")
        meta = self.find(key)
        if save and meta["id"] in self._saving():
            raise conflict(f"profile {key!r} is already in use by a browser that saves into "
                           "it: close that browser first, or load it without save_changes")
        return ProfileUse(meta["id"], save)

    async def load_into(self, use: ProfileUse, user_data: Path) -> None:
        """Copy the profile into a new browser's (not yet existing) user-data folder."""
        source = self.data_folder(use.profile_id)
        if source.is_dir():
            await asyncio.to_thread(shutil.copytree, source, user_data, symlinks=True,
                                    ignore=_NOT_KEPT)
        async with self._lock:
            with contextlib.suppress(ApiError):
                meta = self.find(use.profile_id)
                meta["last_used_at"] = format_ns(now_ns())
                self._write(meta)

    async def save_from(self, use: ProfileUse, user_data: Path) -> None:
        """Replace the profile's data with a closed browser's user-data folder."""
        if not use.save_changes or not user_data.is_dir():
            return
        target = self.data_folder(use.profile_id)
        if not target.parent.is_dir():
            return  # deleted meanwhile
        staging = target.parent / f".data.{new_id()}"
        await asyncio.to_thread(shutil.copytree, user_data, staging, symlinks=True,
                                ignore=_NOT_KEPT)
        async with self._lock:
            old = target.parent / f".old.{new_id()}"
            if target.exists():
                os.replace(target, old)
            os.replace(staging, target)
            await asyncio.to_thread(shutil.rmtree, old, ignore_errors=True)
            with contextlib.suppress(ApiError):
                meta = self.find(use.profile_id)
                meta["updated_at"] = format_ns(now_ns())
                self._write(meta)

    # -- HTTP ------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        async def create(request: Request) -> Response:
            raw = await request.body()
            data = await read_json_body(request) if raw.strip() else {}
            async with self._lock:
                name = self._check_name(data.get("name"), required=False)
                stamp = format_ns(now_ns())
                meta = {"id": new_id(), "name": name, "created_at": stamp, "updated_at": stamp,
                        "last_used_at": None}
                self._write(meta)
                self.data_folder(meta["id"]).mkdir()
            return json_response(meta)

        async def list_(request: Request) -> Response:
            q = request.query_params
            limit = int_param(request, "limit", 20, 1, 100)
            offset = int_param(request, "offset", 0, 0, MAX_OFFSET)
            items = [m for m in self._all()
                     if (not q.get("name") or m.get("name") == q["name"])
                     and (not q.get("query") or q["query"].lower() in (
                         f"{m['id']} {m.get('name') or ''}".lower()))]
            page, headers = paged(items, limit, offset)
            return json_response(page, headers=headers)

        async def get(request: Request) -> Response:
            return json_response(self.find(request.path_params["id"]))

        async def update(request: Request) -> Response:
            data = await read_json_body(request)
            async with self._lock:
                meta = self.find(request.path_params["id"])
                meta["name"] = self._check_name(data.get("name"), required=True,
                                                exclude=meta["id"])
                meta["updated_at"] = format_ns(now_ns())
                self._write(meta)
            return json_response(meta)

        async def delete(request: Request) -> Response:
            async with self._lock:
                meta = self.find(request.path_params["id"])
                folder = self.root / meta["id"]
                trash = self.root / f".deleted.{meta['id']}"
                os.replace(folder, trash)
            await asyncio.to_thread(shutil.rmtree, trash, ignore_errors=True)
            return Response(status_code=204)

        async def download(request: Request) -> Response:
            meta = self.find(request.path_params["id"])
            fmt = request.query_params.get("format") or "tar"
            if fmt != "tar":
                raise ApiError(400, "bad_request", f"format {fmt!r} is not available locally: "
                               "ask for format=tar", headers={"x-should-retry": "false"})
            folder = self.data_folder(meta["id"])

            def pack() -> bytes:
                buf = io.BytesIO()
                with tarfile.open(fileobj=buf, mode="w") as tar:
                    if folder.is_dir():
                        tar.add(folder, arcname=".")
                return buf.getvalue()

            return Response(await asyncio.to_thread(pack), media_type="application/x-tar",
                            headers={"Content-Disposition":
                                     f'attachment; filename="{meta["id"]}.tar"'})

        return [
            Route("/profiles", guard(create), methods=["POST"]),
            Route("/profiles", guard(list_), methods=["GET"]),
            Route("/profiles/{id}", guard(get), methods=["GET"]),
            Route("/profiles/{id}", guard(update), methods=["PATCH"]),
            Route("/profiles/{id}", guard(delete), methods=["DELETE"]),
            Route("/profiles/{id}/download", guard(download), methods=["GET"]),
        ]
