"""Which :mod:`logging` records an invocation's log keeps: the app's own, not libraries' chatter.

While an action runs, the root logger is opened to INFO so the app's ``log.info(...)`` lines
reach its log. Opened that wide, every library speaks too (``httpx`` logs each request at INFO,
SDKs their retries), drowning the app's lines. So a record is kept when it is at least

* INFO, for a record made by the app's own code;
* WARNING, for one made by a library: the standard library, an installed distribution
  (``site-packages``, or a folder of installed distributions such as a deployment's
  dependencies), or kernel-actions itself.

``KERNEL_ACTIONS_LOG_LEVEL`` (``dev --log-level``) lowers or raises the libraries' threshold,
and the app's too when it is below INFO: ``info`` shows ``httpx``'s requests, ``debug``
everything.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import sysconfig
from pathlib import Path

__all__ = ["LOG_LEVEL_ENV", "LEVELS", "LogLevels", "parse_level", "is_library_file"]

LOG_LEVEL_ENV = "KERNEL_ACTIONS_LOG_LEVEL"
LEVELS = ("debug", "info", "warning", "error", "critical")
_PACKAGE = Path(__file__).resolve().parent


def parse_level(name: str) -> int:
    """``"info"`` → ``logging.INFO``; a ValueError naming the choices otherwise."""
    if name.lower() not in LEVELS:
        raise ValueError(f"unknown log level {name!r}; choose one of {', '.join(LEVELS)}")
    return int(logging.getLevelName(name.upper()))


class LogLevels:
    """The thresholds of the app's records and of libraries' records."""

    def __init__(self, library: int = logging.WARNING) -> None:
        self.library = library
        self.app = min(logging.INFO, library)

    @classmethod
    def from_env(cls) -> LogLevels:
        raw = os.environ.get(LOG_LEVEL_ENV, "").strip()
        try:
            return cls(parse_level(raw)) if raw else cls()
        except ValueError:
            return cls()

    @property
    def lowest(self) -> int:
        return min(self.app, self.library)

    def keeps(self, record: logging.LogRecord) -> bool:
        if record.levelno >= max(self.app, self.library):
            return True
        threshold = self.library if is_library_file(record.pathname) else self.app
        return record.levelno >= threshold


def _library_roots() -> tuple[Path, ...]:
    roots = {_PACKAGE}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.add(Path(path).resolve())
    return tuple(roots)


@functools.lru_cache(maxsize=256)
def _holds_distributions(folder: str) -> bool:
    """Whether a ``sys.path`` folder is where packages are installed (it has ``*.dist-info``)."""
    try:
        return any(entry.name.endswith(".dist-info") for entry in os.scandir(folder))
    except OSError:
        return False


@functools.lru_cache(maxsize=1024)
def is_library_file(pathname: str) -> bool:
    """Whether the source file that made a log record belongs to a library, not the app."""
    if not pathname or pathname.startswith("<"):
        return True  # made by frozen or generated code: the import system, not the app
    path = Path(pathname).resolve()
    if {"site-packages", "dist-packages"} & set(path.parts):
        return True
    if any(path.is_relative_to(root) for root in _library_roots()):
        return True
    for entry in sys.path:
        if entry and path.is_relative_to(Path(entry).resolve()) and _holds_distributions(entry):
            return True
    return False
