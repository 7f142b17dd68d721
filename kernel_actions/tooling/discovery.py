"""Finding a running runner from the app's folder, without ``--api-url``.

A running ``dev`` or ``serve`` writes ``runner.json`` (its URL and process id) into its data
folder, ``.kernel/`` beside the app by default, and removes it when it stops. A client started
in the app's folder (or below it) reads the file and talks to that runner, whatever port it
took. A file left by a runner that died without cleaning up is ignored: its process is gone.

Only the standard library is used here: every client command imports this module.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["STATE_FILE", "DATA_DIR_NAME", "DEFAULT_URL", "RunnerState", "write_state",
           "remove_state", "find_runner"]

#: Where a client looks when no runner is named and none is found from the folder.
DEFAULT_URL = "http://127.0.0.1:8484"

STATE_FILE = "runner.json"
#: The default data folder's name, beside the app (``Config.data_dir``).
DATA_DIR_NAME = ".kernel"


@dataclass(frozen=True)
class RunnerState:
    url: str
    pid: int
    path: Path


def write_state(data_dir: Path, url: str, pid: int | None = None) -> Path:
    """Say that a runner answers at ``url``; written whole (rename) so readers never see half."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / STATE_FILE
    tmp = data_dir / f".{STATE_FILE}.{os.getpid()}"
    tmp.write_text(json.dumps({"url": url, "pid": pid or os.getpid()}) + "\n")
    os.replace(tmp, path)
    return path


def remove_state(data_dir: Path, pid: int | None = None) -> None:
    """Remove the file if it is this process's (another runner may have taken the folder)."""
    state = _read(data_dir / STATE_FILE)
    if state is not None and state.pid == (pid or os.getpid()):
        with contextlib.suppress(OSError):
            state.path.unlink()


def _read(path: Path) -> RunnerState | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    url, pid = data.get("url"), data.get("pid")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return None
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        return None
    return RunnerState(url, pid, path)


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a running kernel-actions process (not a stranger reusing the id)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: it exists
    if sys.platform.startswith("linux"):
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False
        command = raw.replace(b"\0", b" ")
        return b"kernel_actions" in command or b"kernel-actions" in command
    return True


def find_runner(start: Path | None = None) -> RunnerState | None:
    """The runner whose state file is in ``.kernel/`` of ``start`` or one of its parents."""
    folder = (start or Path.cwd()).resolve()
    for candidate in (folder, *folder.parents):
        state = _read(candidate / DATA_DIR_NAME / STATE_FILE)
        if state is not None and _alive(state.pid):
            return state
    return None
