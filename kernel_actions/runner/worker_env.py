"""What a worker's environment holds: the runner's, the app's ``.env``, and what the
hosted platform sets (``KERNEL_BASE_URL``, ``KERNEL_API_KEY``, ...).

One function for the runner and for the first worker ``kernel-actions dev`` starts
before the runner exists, so that worker is exactly as any later one.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ..env_contract import ADVISORY_ENV, advisory_env
from ..log_levels import LOG_LEVEL_ENV
from .config import Config
from .engine.private_files import umask_env
from .engine.spawning import base_env

__all__ = ["read_env_file", "worker_environment"]


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=value`` pairs of a ``.env`` file (values are never printed)."""
    if not path.is_file():
        return {}
    from dotenv import dotenv_values  # only when there is a file to read

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def worker_environment(config: Config, url: str, *, dotenv: dict[str, str] | None,
                       extra: Mapping[str, str] | None = None,
                       entrypoint_relpath: str | None = None,
                       debug_env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a worker of the runner at ``url`` configured by ``config``."""
    env = base_env(dotenv)
    if extra:
        env.update(extra)
    # The hosted platform sets these and does not let apps override them.
    env["KERNEL_BASE_URL"] = url
    env["KERNEL_API_KEY"] = config.api_key or "local-runner"
    if config.log_level:
        env[LOG_LEVEL_ENV] = config.log_level
    relpath = entrypoint_relpath or config.entrypoint_relpath
    if relpath:
        env["ENTRYPOINT_RELPATH"] = relpath
    path = config.entrypoint_path
    if entrypoint_relpath is None and path is not None:
        # So a failure on an unset one can name it (env_contract.unset_env_hint).
        env[ADVISORY_ENV] = ",".join(advisory_env(path))
    if debug_env:
        env.update(debug_env)
    env.update(umask_env())  # the runner's own files are private; the app's code keeps yours
    return env
