"""The processes an action starts: found through the worker's group and descendants.

Each worker runs in its own session and process group (the runner starts it so), and
every process an action starts, and whatever those start, inherits that group unless
it leaves on purpose (``setsid``). The worker is also a child subreaper
(:func:`become_subreaper`), so a process that left the group and whose parent then
exited comes back to the worker instead of init: the group plus the worker's
descendants is the set of "processes this worker's actions started". That lets the
worker kill what a cancelled or timed-out action left running and reap children that
exited without being waited for; the runner kills the rest (by owner token, see
:mod:`kernel_actions.runner.supervisor`) when the worker goes away. Linux only
(``/proc``); elsewhere these find nothing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from ..supervisor import process_stat

__all__ = ["group_members", "kill_members", "reap_zombies", "become_subreaper"]

_PROC = Path("/proc")


def become_subreaper() -> bool:
    """Orphaned descendants of this process come back to it (Linux 3.4+)."""
    if not os.path.isdir(_PROC):
        return False
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0  # CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def group_members(pgid: int | None = None) -> set[int]:
    """Live (not zombie) processes of process group ``pgid`` (this one's) or below this
    process (``setsid`` ones too), except this one."""
    pgid = os.getpgrp() if pgid is None else pgid
    me = os.getpid()
    found: set[int] = set()
    try:
        names = os.listdir(_PROC)
    except OSError:
        return found
    parents: dict[int, int] = {}
    for name in names:
        if not name.isdigit() or int(name) == me:
            continue
        info = process_stat(int(name))
        if info is None or info[0] == "Z":
            continue
        parents[int(name)] = info[1]
        if info[2] == pgid:
            found.add(int(name))
    below = {me}
    grew = True
    while grew:  # the descendants: children of this process, of those, ...
        grew = False
        for pid, ppid in parents.items():
            if ppid in below and pid not in below:
                below.add(pid)
                grew = True
    return found | (below - {me})


def kill_members(keep: set[int] | frozenset[int] = frozenset()) -> list[int]:
    """SIGKILL every other process of this process group not in ``keep``; reap our own.

    Returns the killed pids. Killed direct children are waited for (briefly), so none is
    left a zombie; others are reaped by their own parent, which dies with them.
    """
    killed = sorted(group_members() - set(keep))
    for pid in killed:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    me = os.getpid()
    deadline = time.monotonic() + 1.0
    for pid in killed:
        while True:
            info = process_stat(pid)
            if info is None or info[1] != me:
                break  # gone, or not ours to reap
            if info[0] == "Z":
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.005)
    return killed


def _children() -> set[int]:
    """This process's direct children, from ``/proc`` (zombies included)."""
    me = os.getpid()
    found: set[int] = set()
    try:
        names = os.listdir(_PROC)
    except OSError:
        return found
    for name in names:
        if name.isdigit():
            info = process_stat(int(name))
            if info is not None and info[1] == me:
                found.add(int(name))
    return found


def reap_zombies() -> list[int]:
    """Wait for direct children that exited without anyone waiting for them."""
    reaped = []
    for pid in _children():
        info = process_stat(pid)
        if info is not None and info[0] == "Z":
            with contextlib.suppress(ChildProcessError):
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    reaped.append(pid)
    return reaped
