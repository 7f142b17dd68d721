"""The manifest: every app and action, with JSON Schemas, as one JSON document.

It feeds ``GET /apps``, the dashboard's invoke forms, and the packaged bundle.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .app import App

__all__ = ["build_manifest", "MANIFEST_VERSION"]

MANIFEST_VERSION = 1


def build_manifest(apps: Iterable[App], entrypoint: str | None = None) -> dict[str, Any]:
    """``{"manifest_version", "entrypoint", "apps": [{name, actions: [...]}]}``."""
    return {
        "manifest_version": MANIFEST_VERSION,
        "entrypoint": entrypoint,
        "apps": [app.describe() for app in apps],
    }
