"""The APIs served on top of a running browser (Playwright execution, replays), each
wired to the browser list for lookups and to its close listeners for cleanup."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

from .playwright_routes import PlaywrightApi
from .replay_routes import ReplaysApi

if TYPE_CHECKING:
    from .handles import BrowserList

__all__ = ["automation_routes"]


def automation_routes(browsers: BrowserList, data_dir: Path) -> list[BaseRoute]:
    return [*PlaywrightApi(browsers).routes(),
            *ReplaysApi(browsers, data_dir / "replays").routes()]
