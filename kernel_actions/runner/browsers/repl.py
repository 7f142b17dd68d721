"""``browsers.repl``: a persistent Node.js runtime per browser.

Each browser gets at most one REPL: a Node process running ``repl.mjs`` (started, like the
Playwright executors, through :class:`~.playwright_exec.Executor` and so through the process
supervisor), lazily on the first call. Its top-level bindings persist from call to call until
``reset``, a crash, or a timeout; each of those ends the process, and the next call starts a
fresh one with a new ``repl_id``. Calls are serialised: one runs at a time, the others wait.

The REPL's Playwright connects to a DevTools URL of its own (see :mod:`.repl_routes`) that
the runner serves without counting it as use of the browser, so a REPL that holds its
``page`` across calls doesn't keep an unused browser from timing out.

This is code execution as the developer who started the runner, as ``playwright.execute``
and actions are.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path
from typing import Any

from ..errors import bad_request
from .playwright_exec import Executor, ExecutorGone, PlaywrightRuntime

__all__ = ["BrowserRepl", "REPL_SCRIPT", "new_repl_id", "parse_repl"]

REPL_SCRIPT = Path(__file__).with_name("repl.mjs")
DEFAULT_TIMEOUT_SEC = 60
MAX_TIMEOUT_SEC = 3600
MAX_CODE_CHARS = 1_000_000
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_ALPHABET = _LETTERS + "0123456789"


def new_repl_id() -> str:
    """A CUID2-shaped id: 24 lowercase alphanumerics starting with a letter."""
    return secrets.choice(_LETTERS) + "".join(secrets.choice(_ALPHABET) for _ in range(23))


def parse_repl(body: dict[str, Any]) -> tuple[str, bool, int]:
    """``(code, reset, timeout_sec)`` of a REPL request, or a 400 saying what is wrong."""
    code = body.get("code")
    reset = body.get("reset", False)
    if reset is None:
        reset = False
    if not isinstance(reset, bool):
        raise bad_request(f"'reset' must be true or false, got {reset!r}")
    if not isinstance(code, str):
        raise bad_request("'code' is required: a string of JavaScript (empty only with "
                          "reset: true)")
    if not code.strip() and not reset:
        raise bad_request("'code' is empty: send JavaScript, or reset: true to only restart "
                          "the REPL")
    if len(code) > MAX_CODE_CHARS:
        raise bad_request(f"'code' is longer than {MAX_CODE_CHARS} characters")
    timeout = body.get("timeout_sec", DEFAULT_TIMEOUT_SEC)
    if timeout is None:
        timeout = DEFAULT_TIMEOUT_SEC
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not (
            1 <= timeout <= MAX_TIMEOUT_SEC):
        raise bad_request(f"'timeout_sec' must be an integer between 1 and {MAX_TIMEOUT_SEC}, "
                          f"got {timeout!r}")
    return code, reset, timeout


class BrowserRepl:
    """One browser's REPL process (none until the first call) and its lock."""

    def __init__(self, browser_id: str, cdp_ws_url: str, folder: Path,
                 owner: str | None = None) -> None:
        self.browser_id = browser_id
        #: The DevTools URL the REPL's Playwright connects to (one that keeps nothing alive).
        self.cdp_ws_url = cdp_ws_url
        self.marker = folder / "repl"
        self.owner = owner
        self.lock = asyncio.Lock()
        self.executor: Executor | None = None
        self.closed: str | None = None

    @property
    def busy(self) -> bool:
        return self.lock.locked()

    async def execute(self, code: str, reset: bool, timeout_s: int,
                      runtime: PlaywrightRuntime) -> dict[str, Any]:
        """Run ``code`` (after a fresh start if ``reset``); the SDK's ``BrowserReplResult``."""
        async with self.lock:
            if self.closed is not None:
                raise ExecutorGone(self.closed)
            started = time.monotonic()
            if reset and self.executor is not None:
                await self.executor.stop("reset")
                self.executor = None
            if self.executor is None or not self.executor.alive:
                if self.executor is not None:  # it crashed since the last call
                    await self.executor.stop("it exited")
                self.executor = Executor(new_repl_id(), script=REPL_SCRIPT,
                                         node_options=("--expose-internals",),
                                         what="browser REPL")
            executor = self.executor
            result: dict[str, Any] = {"repl_id": executor.name}
            try:
                if not executor.alive:
                    await executor.start(runtime, self.cdp_ws_url, self.marker, self.owner)
                if not code.strip():
                    result.update(success=True, content=[])
                else:
                    remaining = max(0.001, timeout_s - (time.monotonic() - started))
                    reply = await executor.request({"op": "run", "code": code}, remaining)
                    for key in ("success", "content", "content_truncated", "error", "stack"):
                        if reply.get(key) is not None:
                            result[key] = reply[key]
                    result.setdefault("success", False)
            except TimeoutError:
                await executor.stop("timed out")
                self.executor = None
                result.update(success=False, repl_terminated=True,
                              error=f"execution timed out after {timeout_s} s: the REPL was "
                                    "terminated; the next call starts a fresh one")
            except ExecutorGone:
                why = executor.stopped or "its process exited"
                detail = "".join(executor.stray_err).strip()[-2000:]
                await executor.stop(why)
                self.executor = None
                result.update(success=False, repl_terminated=True,
                              error=f"the REPL stopped ({why})"
                                    + (f": {detail}" if detail else "")
                                    + "; the next call starts a fresh one")
            result["duration_ms"] = int((time.monotonic() - started) * 1000)
            return result

    async def close(self, why: str) -> None:
        self.closed = why
        if self.executor is not None:
            await self.executor.stop(why)
