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
    #: Warm spare browsers kept started from the start (``--warm-browsers``); with 0, one is
    #: kept once a browser has been asked for. They count toward ``max_browsers``.
    warm_browsers: int = 0
    #: The Chromium or Chrome to start; ``None`` looks for one (see ``runner.browsers``).
    browser_path: str | None = None
    #: Let deployments declare local paths and ``file:`` URLs as dependencies.
    allow_local_deps: bool = False
    #: Workers listen with debugpy from this port (``dev --debug``); timeouts stop while paused.
    debug: bool = False
    debug_port: int = 5678
    #: With ``debug``: the first invocation waits until a debugger attaches.
    debug_wait: bool = False
    #: Serve ``browsers.process`` (commands run on this machine, as the runner's user).
    allow_process: bool = False
    #: Let every local user use a runner without an API key (by default only the user who
    #: started it, and root, may: see ``runner.http.local_users``).
    allow_other_users: bool = False
    #: ``Host`` names accepted besides the bound address (``--allowed-host``): ``name``,
    #: ``name:port``, or ``*`` for any (see ``runner.http.security``).
    allowed_hosts: tuple[str, ...] = ()
    #: Seconds a client may take to send a request's head, or pause in its body.
    body_timeout: float = 20.0

    def __post_init__(self) -> None:
        self.app_dir = Path(self.app_dir).resolve()
        if self.data_dir is None:
            self.data_dir = self.app_dir / ".kernel"
        self.data_dir = Path(self.data_dir).resolve()

    @classmethod
    def for_entrypoint(cls, entrypoint: str, **settings: object) -> Config:
        """A config for ``entrypoint``: its folder is the app folder (a file's parent, else cwd)."""
        from ..entrypoint import EntrypointNotFound, resolve_entrypoint

        try:
            entry = resolve_entrypoint(entrypoint)
        except EntrypointNotFound as exc:
            raise ConfigError(str(exc)) from None
        if entry.is_file:
            settings.setdefault("app_dir", entry.app_dir)
        return cls(entrypoint=entry.target, **settings)  # type: ignore[arg-type]

    def validate(self) -> None:
        if self.api_key is not None and (not self.api_key.strip()
                                         or self.api_key != self.api_key.strip()):
            raise ConfigError("the API key must not be empty or start or end with whitespace "
                              "(clients could not send it in an Authorization header)")
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
        from .hostnames import split_host

        for value in self.allowed_hosts:
            if value != "*" and split_host(value) is None:
                raise ConfigError(f"allowed host {value!r} is not a host name, an address, or "
                                  "name:port (or * for any)")
        if self.body_timeout <= 0:
            raise ConfigError("body timeout must be positive")
        if self.max_browsers < 1:
            raise ConfigError("max browsers must be at least 1")
        if not 0 <= self.warm_browsers <= self.max_browsers:
            raise ConfigError(f"warm browsers must be between 0 and --max-browsers "
                              f"({self.max_browsers}), got {self.warm_browsers}")
        if self.debug_wait and not self.debug:
            raise ConfigError("--wait goes with --debug")
        if self.debug:
            if not 1 <= self.debug_port <= 65535:
                raise ConfigError(f"debug port must be between 1 and 65535, got {self.debug_port}")
            import importlib.util

            if importlib.util.find_spec("debugpy") is None:
                raise ConfigError("--debug needs debugpy: pip install 'kernel-actions[debug]' "
                                  "(or pip install debugpy)")
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
    def entrypoint_path(self) -> Path | None:
        """The entrypoint's file, when it is one (not a module name)."""
        if self.entrypoint is None:
            return None
        from ..entrypoint import NODE_SUFFIXES, split_target

        spec, _ = split_target(self.entrypoint)
        path = Path(spec)
        return path if spec.endswith((".py", *NODE_SUFFIXES)) and path.is_file() else None

    @property
    def entrypoint_relpath(self) -> str | None:
        if self.entrypoint is None:
            return None
        from ..entrypoint import looks_like_path, split_target

        spec, _ = split_target(self.entrypoint)
        if not looks_like_path(spec):
            return spec
        path = Path(spec)
        if path.is_absolute() and path.is_relative_to(self.app_dir):  # src/index.ts of a folder
            return path.relative_to(self.app_dir).as_posix()
        return path.name
