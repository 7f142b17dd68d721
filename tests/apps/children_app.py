"""An app whose actions start child processes (the worker must not leave them behind)."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import TypedDict

from kernel_actions import App, Context

app = App("children")


class Spawn(TypedDict):
    #: A file the action writes its children's pids to, one a line, before it waits.
    pids_file: str
    #: Seconds to wait after starting them (a cancel or timeout comes during the wait).
    wait: float


def _orphan(command: str) -> int:
    """Start ``command`` from a shell that exits at once: it is no child of the worker's."""
    shell = subprocess.Popen(["sh", "-c", f"{command} & echo $!"], stdout=subprocess.PIPE,
                             text=True)
    assert shell.stdout is not None
    pid = int(shell.stdout.readline())
    shell.wait()
    return pid


def _start(pids_file: str, program: list[str]) -> list[int]:
    pids = [subprocess.Popen(program).pid for _ in range(3)]
    pids.append(_orphan(" ".join(program)))
    # Two that leave the worker's process group: a session of their own, one an orphan too.
    pids.append(subprocess.Popen(program, start_new_session=True).pid)
    pids.append(_orphan(f"setsid {' '.join(program)}"))
    Path(pids_file).write_text("\n".join(map(str, pids)) + "\n")
    return pids


@app.action("spawn-and-wait")
async def spawn_and_wait(ctx: Context, payload: Spawn) -> list[int]:
    """Start `sleep 300` children, then wait (to be cancelled or timed out)."""
    pids = _start(payload["pids_file"], ["sleep", "300"])
    await asyncio.sleep(payload["wait"])
    return pids


@app.action("spawn-and-return")
def spawn_and_return(ctx: Context, payload: Spawn) -> list[int]:
    """Start short children and return at once, never waiting for them."""
    return _start(payload["pids_file"], ["sleep", str(payload["wait"])])


@app.action("spawn-and-leave")
def spawn_and_leave(ctx: Context, payload: Spawn) -> list[int]:
    """Start `sleep 300` children and return, leaving them running."""
    return _start(payload["pids_file"], ["sleep", "300"])


@app.action("spawn-and-ignore-cancel")
async def spawn_and_ignore_cancel(ctx: Context, payload: Spawn) -> list[int]:
    """Start `sleep 300` children, then refuse to be cancelled (its worker gets replaced)."""
    pids = _start(payload["pids_file"], ["sleep", "300"])
    deadline = asyncio.get_running_loop().time() + payload["wait"]
    while asyncio.get_running_loop().time() < deadline:
        try:
            await asyncio.sleep(0.1)
        except asyncio.CancelledError:
            pass
    return pids
