"""Every process the runner starts goes through its supervisor (read from the source).

A ``fork`` of the threaded runner that runs Python before ``exec`` can hang for good (see
:mod:`kernel_actions.runner.supervisor`), so no module of the package may start a process
any other way: no ``subprocess`` call, no ``os.fork``/``posix_spawn``/``exec*``, no
``asyncio.create_subprocess_*`` or ``loop.subprocess_*``, no ``ctypes.util.find_library``
(it runs ``ldconfig``), and no ``preexec_fn`` anywhere.
"""

from __future__ import annotations

import ast
from pathlib import Path

from .test_layers import MODULES

SUPERVISOR = "kernel_actions.runner.supervisor"
#: Framework-side modules that never run inside the runner: the test client starts a
#: runner (from a user's test process); the manifest reader runs user code in a child of
#: the CLI (``package``/``deploy``), never of the runner.
EXEMPT = {
    "kernel_actions.testing": "starts a runner from a user's test process",
    "kernel_actions.tooling.code_manifest": "reads a manifest in a child of the CLI, not the runner",
}

_SUBPROCESS = {"Popen", "run", "call", "check_call", "check_output", "getoutput",
               "getstatusoutput"}
_OS = {"fork", "forkpty", "vfork", "posix_spawn", "posix_spawnp", "system", "popen",
       "execv", "execve", "execvp", "execvpe", "execl", "execle", "execlp", "execlpe",
       "spawnv", "spawnve", "spawnvp", "spawnvpe", "spawnl", "spawnle"}
_ASYNCIO = {"create_subprocess_exec", "create_subprocess_shell", "subprocess_exec",
            "subprocess_shell"}


def process_starts(source: str) -> list[tuple[int, str]]:
    """``(line, what)`` of each way of starting a process in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else (
                func.id if isinstance(func, ast.Name) else "")
            owner = func.value.id if (isinstance(func, ast.Attribute)
                                      and isinstance(func.value, ast.Name)) else ""
            if owner == "subprocess" and name in _SUBPROCESS:
                found.append((node.lineno, f"subprocess.{name}"))
            elif owner == "os" and name in _OS:
                found.append((node.lineno, f"os.{name}"))
            elif name in _ASYNCIO:
                found.append((node.lineno, name))
            elif name == "find_library":  # ctypes.util runs ldconfig or gcc to look
                found.append((node.lineno, name))
            found += [(node.lineno, "preexec_fn") for kw in node.keywords
                      if kw.arg == "preexec_fn"]
        elif isinstance(node, ast.ImportFrom) and node.module in ("subprocess", "os"):
            names = {a.name for a in node.names} & (_SUBPROCESS | _OS)
            found += [(node.lineno, f"from {node.module} import {n}") for n in sorted(names)]
    return sorted(found)


def test_the_scan_finds_each_way_of_starting_a_process() -> None:
    source = (
        "import asyncio, os, subprocess\n"
        "subprocess.Popen(['x'])\n"
        "subprocess.run(['x'], preexec_fn=f)\n"
        "os.fork()\n"
        "os.posix_spawn('x', ['x'], {})\n"
        "async def f(loop):\n"
        "    await asyncio.create_subprocess_exec('x')\n"
        "    await loop.subprocess_exec(P, 'x')\n"
        "from subprocess import check_output\n"
        "ctypes.util.find_library('X11')\n"
        "subprocess.TimeoutExpired\n")
    assert [what for _, what in process_starts(source)] == [
        "subprocess.Popen", "preexec_fn", "subprocess.run", "os.fork", "os.posix_spawn",
        "create_subprocess_exec", "subprocess_exec", "from subprocess import check_output",
        "find_library"]


def test_only_the_supervisor_starts_processes() -> None:
    assert SUPERVISOR in MODULES and all(name in MODULES for name in EXEMPT)
    starts = {name: process_starts(Path(path).read_text()) for name, path in MODULES.items()}
    assert starts[SUPERVISOR], "the supervisor itself is seen starting processes"
    outside = [f"{name}:{line} {what}" for name, found in starts.items()
               if name != SUPERVISOR and name not in EXEMPT for line, what in found]
    assert outside == []
    # And nothing in the package passes a preexec_fn, the supervisor included.
    assert [f"{n}:{line}" for n, found in starts.items() for line, what in found
            if what == "preexec_fn"] == []
