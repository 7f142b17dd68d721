"""The runner's configuration: built once, from the CLI or from code alike."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..log_levels import parse_level

__all__ = ["Config", "ConfigError", "DEFAULT_PORT"]

DEFAULT_PORT = 8484


class ConfigError(ValueError):
    """A setting that can't work; the message says which and why."""


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class Config:
    #: The live code (``main.py``, ``pkg.mod`` or ``path:attr``); ``None`` serves deployments only.
    entrypoint: str | None = None
    app_dir: Path = field(default_factory=Path.cwd)
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    data_dir: Path | None = None
    version: str = "latest"
    sync_timeout: float = 100.0
    max_concurrency: int = 50
    api_key: str | None = None
    reload: bool = True
    heartbeat_interval: float = 15.0
    shutdown_grace: float = 5.0
    #: Echo every log line of every invocation to the terminal.
    echo_logs: bool = False
    #: Kill a worker whose resident memory passes this many MB (its invocations fail).
    worker_memory_mb: float | None = None
    #: Lowest level of libraries' log records kept in invocation logs (``None``: WARNING; the
    #: app's own INFO lines are always kept). See ``kernel_actions.log_levels``.
    log_level: str | None = None
    #: Local Chromium browsers (``POST /browsers``) running at once.
    max_browsers: int = 5
    #: The Chromium or Chrome to start; ``None`` looks for one (see ``runner.browsers``).
    browser_path: str | None = None

    def __post_init__(self) -> None:
        self.app_dir = Path(self.app_dir).resolve()
        if self.data_dir is None:
            self.data_dir = self.app_dir / ".kernel"
        self.data_dir = Path(self.data_dir).resolve()

    @classmethod
    def for_entrypoint(cls, entrypoint: str, **settings: object) -> Config:
        """A config for ``entrypoint``: its folder is the app folder (a file's parent, else cwd)."""
        from ..loader import split_target

        spec, _ = split_target(entrypoint)
        path = Path(spec)
        if spec.endswith(".py") or path.exists():
            if not path.is_file():
                raise ConfigError(f"entrypoint {spec!r} not found")
            settings.setdefault("app_dir", path.resolve().parent)
            entrypoint = str(path.resolve()) + (entrypoint[len(spec):])
        return cls(entrypoint=entrypoint, **settings)  # type: ignore[arg-type]

    def validate(self) -> None:
        if not is_loopback(self.host) and not self.api_key:
            raise ConfigError(
                f"refusing to listen on {self.host!r} without an API key: anyone who can reach "
                f"it could run your code. Pass --api-key (or bind 127.0.0.1)."
            )
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be between 0 and 65535, got {self.port}")
        if self.sync_timeout <= 0:
            raise ConfigError("sync timeout must be positive")
        if self.max_concurrency < 1:
            raise ConfigError("max concurrency must be at least 1")
        if self.max_browsers < 1:
            raise ConfigError("max browsers must be at least 1")
        if self.log_level is not None:
            try:
                parse_level(self.log_level)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        if self.browser_path is not None:
            path = Path(self.browser_path)
            if not path.is_file() or not os.access(path, os.X_OK):
                raise ConfigError(f"browser path {self.browser_path!r} is not an executable file")

    @property
    def db_path(self) -> Path:
        assert self.data_dir is not None
        return self.data_dir / "runner.db"

    @property
    def entrypoint_relpath(self) -> str | None:
        if self.entrypoint is None:
            return None
        from ..loader import split_target

        spec, _ = split_target(self.entrypoint)
        return Path(spec).name if spec.endswith(".py") else spec
