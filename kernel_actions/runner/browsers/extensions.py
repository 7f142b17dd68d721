"""Browser extensions (``/extensions``): unpacked Chromium extensions uploaded as zips and
kept in the data dir, for browsers to load.

An extension is a record of :class:`~..private_records.PrivateRecords` in
``<data>/extensions/records`` (its id, name, size, checksum, times) and a folder
``<data>/extensions/<id>/``: ``extension.zip`` (the upload, byte for byte, what
``download`` answers) and ``unpacked/`` (its files, extracted with the bundle rules: no
path escapes, no links, no zip bombs). A zip whose files sit in one top-level folder is
taken as that folder. Every upload must hold a ``manifest.json`` with a
``manifest_version``.

A browser gets its own copy of each extension it loads (``<browser>/extensions/<name>``,
as Kernel's image puts them under ``/home/kernel/extensions/<name>``), so deleting an
extension never pulls files from under a running browser.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from ...ids import new_id
from ...timeutil import format_ns, now_ns
from ...tooling.bundle import UnsafeBundleError, extract_bundle
from ..engine.private_files import private_dir
from ..errors import bad_request, conflict, not_found
from ..private_records import PrivateRecords

__all__ = ["Extensions", "EXTENSION_NAME", "MAX_EXTENSION_BYTES", "chromium_switches",
           "check_name", "unpack_extension"]

#: What Kernel allows as an extension's name.
EXTENSION_NAME = re.compile(r"[A-Za-z0-9._-]{1,255}")
#: The largest extension zip taken, and what it may expand to.
MAX_EXTENSION_BYTES = 100 * 1024 * 1024
MAX_UNPACKED_BYTES = 500 * 1024 * 1024
MAX_FILES = 20_000


def check_name(value: Any, what: str = "name") -> str:
    if not isinstance(value, str) or not EXTENSION_NAME.fullmatch(value):
        raise bad_request(f"'{what}' must be 1-255 letters, digits, dots, underscores or "
                          f"hyphens, got {value!r}")
    return value


def unpack_extension(data: bytes, target: Path) -> Path:
    """Extract an extension zip into ``target`` (which must not exist); returns the folder
    holding its ``manifest.json``. Raises ``ApiError`` 400 saying what is wrong."""
    if not data:
        raise bad_request("the extension zip is empty")
    try:
        files = extract_bundle(data, target, max_files=MAX_FILES,
                               max_total_bytes=MAX_UNPACKED_BYTES)
    except UnsafeBundleError as exc:
        raise bad_request(f"refused the extension zip: {exc}") from None
    root = target
    if "manifest.json" not in files:
        tops = {f.split("/", 1)[0] for f in files}
        if len(tops) == 1 and f"{next(iter(tops))}/manifest.json" in files:
            root = target / next(iter(tops))
        else:
            shutil.rmtree(target, ignore_errors=True)
            raise bad_request("the zip holds no manifest.json: zip the extension's folder "
                              "(an unpacked Chromium extension)")
    try:
        manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8-sig"))
        if not isinstance(manifest, dict) or manifest.get("manifest_version") not in (2, 3):
            raise ValueError("no manifest_version of 2 or 3")
    except (OSError, ValueError) as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise bad_request(f"the extension's manifest.json is not valid: {exc}") from None
    return root


class Extensions:
    """Upload, list, read, download and delete extensions; copy them into browsers."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.records = PrivateRecords(root / "records")
        self._lock = asyncio.Lock()

    def _folder(self, extension_id: str) -> Path:
        return self.root / extension_id

    def archive(self, record: dict[str, Any]) -> Path:
        return self._folder(record["id"]) / "extension.zip"

    def unpacked(self, record: dict[str, Any]) -> Path:
        return self._folder(record["id"]) / "unpacked" / record.get("subfolder", "")

    def find(self, id_or_name: str) -> dict[str, Any]:
        record = self.records.get(id_or_name)
        if record is None:
            record = next((r for r in self.records.all() if r.get("name") == id_or_name), None)
        if record is None:
            raise not_found(f"extension {id_or_name!r} not found")
        return record

    @staticmethod
    def to_wire(record: dict[str, Any]) -> dict[str, Any]:
        """The hosted API's extension object."""
        return {key: record.get(key) for key in ("id", "name", "created_at", "last_used_at",
                                                 "size_bytes", "checksum")}

    def listed(self, *, name: str | None, query: str | None) -> list[dict[str, Any]]:
        needle = query.lower() if query else None
        return [self.to_wire(r) for r in self.records.all()
                if (name is None or (r.get("name") or "").lower() == name.lower())
                and (needle is None or r["id"] == query
                     or needle in (r.get("name") or "").lower())]

    async def upload(self, data: bytes, name: str | None) -> dict[str, Any]:
        if name is not None:
            check_name(name)
        if len(data) > MAX_EXTENSION_BYTES:
            raise bad_request(f"the extension zip is over {MAX_EXTENSION_BYTES} bytes")
        extension_id = new_id()
        folder = self._folder(extension_id)
        private_dir(self.root)
        try:
            root = await asyncio.to_thread(unpack_extension, data, folder / "unpacked")
            await asyncio.to_thread((folder / "extension.zip").write_bytes, data)
            record = {"id": extension_id, "name": name, "created_at": format_ns(now_ns()),
                      "last_used_at": None, "size_bytes": len(data),
                      "checksum": hashlib.sha256(data).hexdigest(),
                      "subfolder": root.relative_to(folder / "unpacked").as_posix()
                      if root != folder / "unpacked" else ""}
            async with self._lock:
                if name is not None and any(r.get("name") == name for r in self.records.all()):
                    raise conflict(f"an extension named {name!r} already exists")
                await asyncio.to_thread(self.records.put, record)
        except BaseException:
            await asyncio.to_thread(shutil.rmtree, folder, ignore_errors=True)
            raise
        return self.to_wire(record)

    async def delete(self, id_or_name: str) -> None:
        async with self._lock:
            record = self.find(id_or_name)
            self.records.delete(record["id"])
        await asyncio.to_thread(shutil.rmtree, self._folder(record["id"]), ignore_errors=True)

    def resolve(self, value: Any) -> list[dict[str, Any]]:
        """``extensions`` of ``POST /browsers``: ``[{id} | {name}, ...]``, each looked up."""
        if value is None:
            return []
        if not isinstance(value, list) or len(value) > 20:
            raise bad_request("'extensions' must be a list of at most 20 {id} or {name} "
                              "objects")
        found: list[dict[str, Any]] = []
        for item in value:
            key = item.get("id") or item.get("name") if isinstance(item, dict) else None
            if not isinstance(key, str) or not key:
                raise bad_request("each of 'extensions' needs 'id' or 'name'")
            record = self.find(key)
            if all(r["id"] != record["id"] for r in found):
                found.append(record)
        return found

    async def copy_into(self, records: list[dict[str, Any]], folder: Path) -> list[Path]:
        """Copy each extension into ``folder/<name or id>``; the folders, for Chromium."""
        paths = []
        for record in records:
            target = folder / (record.get("name") or record["id"])
            await asyncio.to_thread(shutil.copytree, self.unpacked(record), target,
                                    dirs_exist_ok=True)
            paths.append(target)
            await self.used(record["id"])
        return paths

    async def used(self, extension_id: str) -> None:
        async with self._lock:
            record = self.records.get(extension_id)
            if record is not None:
                record["last_used_at"] = format_ns(now_ns())
                await asyncio.to_thread(self.records.put, record)


def chromium_switches(paths: list[Path]) -> list[str]:
    """The switches that make Chromium load ``paths`` (unpacked extensions) at start, and
    no other extension."""
    if not paths:
        return []
    joined = ",".join(os.fspath(p) for p in paths)
    if any("," in os.fspath(p) for p in paths):
        raise bad_request("an extension's folder has a ',' in its path, which Chromium's "
                          "--load-extension can't take: use a data dir without commas")
    return [f"--load-extension={joined}", f"--disable-extensions-except={joined}"]
