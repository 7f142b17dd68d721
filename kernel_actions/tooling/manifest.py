"""The manifest: every app and action, with JSON Schemas, as one JSON document.

It feeds ``GET /apps``, the dashboard's invoke forms, and the packaged bundle.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..app import App

__all__ = ["build_manifest", "MANIFEST_VERSION"]

MANIFEST_VERSION = 1


def build_manifest(apps: Iterable[App], entrypoint: str | None = None,
                   source: str | Path | None = None) -> dict[str, Any]:
    """``{"manifest_version", "entrypoint", "apps": [{name, actions: [...], env}]}``.

    ``source`` is the entrypoint's file: an app that declares no ``env`` in its source lists
    the names of the ``.env.example`` beside it, as ``dev`` and ``deploy`` check them.
    """
    described = [app.describe() for app in apps]
    if source is not None and any(not d["env"] for d in described):
        from ..env_contract import example_env

        names = example_env(Path(source))
        for d in described:
            d["env"] = d["env"] or names
    return {
        "manifest_version": MANIFEST_VERSION,
        "entrypoint": entrypoint,
        "apps": described,
    }
