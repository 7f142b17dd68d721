"""A virtual X display (Xvfb) per browser, so computer controls act on a real screen.

Kernel's browsers run headful on a screen the size of their ``viewport`` and its
computer controls move the OS mouse and keyboard there; a local browser gets
the same from its own Xvfb server. Xvfb picks a free display number itself and
writes it to a pipe once clients can connect (``-displayfd``), so browsers
started at once never race for a number. It listens on no TCP port
(``-nolisten tcp``), only on the local socket.

Xvfb runs in its own process group with ``PR_SET_PDEATHSIG`` (through
``setpriv`` when present), like Chromium, so a runner killed with ``kill -9``
takes it along; it is started by the supervisor with its browser's owner token,
so a runner starting on the same data folder stops what a crashed one left.
"""

from __future__ import annotations

import asyncio
import os
import select
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..supervisor import Child, SpawnError, supervisor

__all__ = ["Display", "DisplayError", "XVFB_ENV", "display_support"]

#: Set to ``0`` to never start Xvfb (browsers then run headless with emulated input).
XVFB_ENV = "KERNEL_ACTIONS_XVFB"
#: How long Xvfb may take to accept clients.
START_DEADLINE_S = 10.0
#: How long a stopping Xvfb gets to remove its socket and lock file before SIGKILL.
STOP_GRACE_S = 2.0
PID_FILE = "display.pid"
#: Tools the display mode needs (input and the clipboard go through the runner's own X
#: connection: see ``xinput``).
TOOLS = ("Xvfb",)


class DisplayError(RuntimeError):
    """Xvfb could not be started."""


def display_support() -> str | None:
    """Why a virtual display can't be had here (``None`` when it can)."""
    if os.environ.get(XVFB_ENV, "").strip() == "0":
        return f"{XVFB_ENV}=0"
    if not sys.platform.startswith("linux"):
        return "virtual displays need Linux (Xvfb)"
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        return (f"{', '.join(missing)} not found (Debian: apt install xvfb)")
    return None


@dataclass(eq=False)
class Display:
    """One running Xvfb server with one screen of ``width`` × ``height``."""

    number: int
    width: int
    height: int
    proc: Child
    folder: Path

    @property
    def name(self) -> str:
        """The ``DISPLAY`` value that reaches it, e.g. ``:3``."""
        return f":{self.number}"

    @property
    def env(self) -> dict[str, str]:
        """The environment a process on this display gets (``DISPLAY``, no Wayland)."""
        env = {k: v for k, v in os.environ.items() if k != "WAYLAND_DISPLAY"}
        env["DISPLAY"] = self.name
        return env

    @classmethod
    async def start(cls, width: int, height: int, folder: Path,
                    owner: str | None = None) -> Display:
        """Start Xvfb with one ``width`` × ``height`` 24-bit screen; its output goes to
        ``folder/xvfb.log``; ``owner``: the supervisor's owner token it carries. Raises
        :class:`DisplayError` if it does not come up."""
        read_fd, write_fd = os.pipe()
        command = ["Xvfb", "-displayfd", str(write_fd), "-screen", "0",
                   f"{width}x{height}x24", "-nolisten", "tcp", "-noreset", "-dpi", "96"]
        setpriv = shutil.which("setpriv")
        if setpriv:
            command = [setpriv, "--pdeathsig", "KILL", "--", *command]
        try:
            with open(folder / "xvfb.log", "wb") as log:
                proc = await supervisor.start(command, name="Xvfb", stdout=log, stderr=log,
                                              pass_fds=(write_fd,), cwd=str(folder),
                                              owner=owner)
        except OSError as exc:
            os.close(read_fd)
            why = str(exc) if isinstance(exc, SpawnError) else exc.strerror or exc
            raise DisplayError(f"cannot start Xvfb: {why}") from None
        finally:
            os.close(write_fd)
        (folder / PID_FILE).write_text(str(proc.pid))
        display = None
        try:
            number = await asyncio.to_thread(_read_display_number, read_fd, proc)
            display = cls(number, width, height, proc, folder)
        finally:
            os.close(read_fd)
            if display is None:
                stop_process(proc)
        return display

    def stop(self) -> None:
        """Stop Xvfb (and every client it took along), waiting briefly for it to go."""
        stop_process(self.proc)


def _read_display_number(fd: int, proc: Child) -> int:
    """The number Xvfb writes to ``-displayfd`` once it accepts clients."""
    deadline = time.monotonic() + START_DEADLINE_S
    data = b""
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0:
            raise DisplayError(f"Xvfb did not start within {START_DEADLINE_S:g} s")
        ready, _, _ = select.select([fd], [], [], min(left, 0.2))
        if ready:
            chunk = os.read(fd, 32)
            if not chunk:
                break
            data += chunk
        elif proc.poll() is not None:
            break
    text = data.decode(errors="replace").strip()
    if not text.isdigit():
        code = proc.poll()
        why = f"it exited with status {code}" if code is not None else "it reported no display"
        raise DisplayError(f"Xvfb did not start: {why}")
    return int(text)


def stop_process(proc: Child) -> None:
    """SIGTERM the process group ``proc`` leads, then SIGKILL it if it lingers; reap it."""
    proc.stop(STOP_GRACE_S)
