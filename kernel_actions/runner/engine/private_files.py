"""What the runner writes is its owner's only: folders 0700, files 0600.

The data dir holds every payload and output (``runner.db``), browser profiles (cookies,
sessions), browsers' file systems, replays, deployed code. The runner's process (and so
every process it starts for itself: Chromium, Node, ffmpeg, pip) creates files with the
umask ``077`` (:func:`keep_files_private`, set once by ``dev`` and ``serve`` before they
create anything), and the data dir itself is made, or tightened when it already exists,
``0700`` (:func:`private_dir`), so a file made before this rule, or by a process with
another umask, is out of other users' reach too.

Workers run the developer's code, which keeps the developer's own umask: the runner
passes it in :data:`UMASK_ENV` and the worker restores it (:func:`restore_umask`) before
loading the code.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["OWNER_ONLY_UMASK", "UMASK_ENV", "keep_files_private", "private_dir",
           "restore_umask", "umask_env"]

#: Folders 0700, files 0600.
OWNER_ONLY_UMASK = 0o077
#: The developer's umask (octal), for a worker to restore.
UMASK_ENV = "KERNEL_ACTIONS_UMASK"

_developer_umask: int | None = None


def keep_files_private() -> None:
    """From now on, this process creates files for its owner only (idempotent)."""
    global _developer_umask
    previous = os.umask(OWNER_ONLY_UMASK)
    if _developer_umask is None:
        _developer_umask = previous


def umask_env() -> dict[str, str]:
    """What a worker's environment carries so it can restore the developer's umask."""
    if _developer_umask is None:
        return {}
    return {UMASK_ENV: f"{_developer_umask:03o}"}


def restore_umask() -> None:
    """In a worker: take the developer's umask back, if the runner passed it."""
    value = os.environ.pop(UMASK_ENV, None)
    if value is not None:
        with contextlib.suppress(ValueError):
            os.umask(int(value, 8) & 0o777)


def private_dir(path: Path) -> Path:
    """Make ``path`` (and missing parents) a folder only its owner can enter; an existing
    one of this user is tightened to ``0700``."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        info = path.stat()
        if info.st_mode & 0o077 and info.st_uid == os.geteuid():
            path.chmod(0o700)
    return path
