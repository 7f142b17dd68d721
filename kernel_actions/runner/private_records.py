"""Small JSON records kept in the data dir for their owner only (credentials, proxies,
extensions): one file per record, ``<folder>/<id>.json``, folders ``0700`` and files
``0600`` whatever the process's umask, each write atomic (a temporary file renamed over
the old one), so a record is whole or absent after a crash.

Records are few (a person makes them by hand) and read whole: a list reads the folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path
from typing import Any

from .engine.private_files import private_dir

__all__ = ["PrivateRecords", "RECORD_ID"]

#: What a record id looks like (:func:`kernel_actions.ids.new_id`'s alphabet): anything
#: else is never a file name here.
RECORD_ID = re.compile(r"[0-9a-z]{1,64}")


class PrivateRecords:
    """The records of one kind, in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, record_id: str) -> Path:
        if not RECORD_ID.fullmatch(record_id):
            raise ValueError(f"not a record id: {record_id!r}")
        return self.folder / f"{record_id}.json"

    def get(self, record_id: str) -> dict[str, Any] | None:
        """The record, or ``None`` (no such id, or not an id at all)."""
        if not RECORD_ID.fullmatch(record_id):
            return None
        with contextlib.suppress(OSError, ValueError):
            found = json.loads(self.path(record_id).read_text())
            if isinstance(found, dict) and found.get("id") == record_id:
                return found
        return None

    def all(self) -> list[dict[str, Any]]:
        """Every record, newest first (by ``created_at``, then id)."""
        if not self.folder.is_dir():
            return []
        found = []
        for path in self.folder.glob("*.json"):
            record = self.get(path.stem)
            if record is not None:
                found.append(record)
        return sorted(found, key=lambda r: (str(r.get("created_at", "")), r["id"]),
                      reverse=True)

    def put(self, record: dict[str, Any]) -> None:
        """Write ``record`` (keyed by its ``id``), readable by its owner only."""
        target = self.path(record["id"])
        private_dir(self.folder)
        tmp = target.with_name(f".{target.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            os.fchmod(fd, 0o600)  # an old temporary file kept its mode: not this one
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                fd = -1
                json.dump(record, f)
                f.flush()
                os.fsync(f.fileno())
        finally:
            if fd >= 0:
                os.close(fd)
        os.replace(tmp, target)

    def delete(self, record_id: str) -> bool:
        """Remove the record; whether it was there."""
        try:
            self.path(record_id).unlink()
        except (FileNotFoundError, ValueError):
            return False
        return True
