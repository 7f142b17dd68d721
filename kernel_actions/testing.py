"""Test a Kernel app against a real local runner.

``LocalRunner`` starts ``kernel-actions dev`` on a free loopback port with its own data
folder, the way a user would, and stops it (and every worker it started) afterwards. The
assertion helpers fail with what a person needs to see: the invocation's status, its
``status_reason``, its output and its log lines.

The pytest plugin (:mod:`kernel_actions.pytest_plugin`) builds its fixtures on these;
they work just as well from ``unittest`` or a plain script.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

__all__ = ["LocalRunner", "RunnerStartError", "assert_failed", "assert_succeeded"]


class RunnerStartError(RuntimeError):
    """The runner exited or never answered; carries its output."""


class LocalRunner:
    """A ``kernel-actions dev`` process serving ``entrypoint`` on ``127.0.0.1:<free port>``.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        entrypoint: str | os.PathLike[str],
        *,
        data_dir: str | os.PathLike[str] | None = None,
        args: tuple[str, ...] = (),
        env: Mapping[str, str] | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        self.entrypoint = Path(entrypoint).resolve()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="kernel-actions-test-")
            data_dir = self._tmp.name
        self.data_dir = Path(data_dir)
        self.args = args
        self.env = dict(env or {})
        self.start_timeout = start_timeout
        self.url: str | None = None
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> LocalRunner:
        if not self.entrypoint.exists():
            raise RunnerStartError(f"entrypoint {self.entrypoint} does not exist")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        env.pop("KERNEL_BASE_URL", None)  # the runner sets it for its own workers
        cmd = [sys.executable, "-m", "kernel_actions.cli", "dev", str(self.entrypoint),
               "--port", "0", "--data-dir", str(self.data_dir), "--no-reload", *self.args]
        self._proc = subprocess.Popen(
            cmd, cwd=self.entrypoint.parent, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                if self.url is None and "listening on " in line:
                    self.url = line.split("listening on ", 1)[1].strip()
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def _wait_ready(self) -> None:
        """The banner is printed once the code has loaded (or failed to)."""
        assert self._proc is not None
        deadline = time.monotonic() + self.start_timeout
        with self._cond:
            while not any(line.lstrip().startswith("data:") for line in self.lines):
                reader_done = self._reader is None or not self._reader.is_alive()
                if self._proc.poll() is not None and reader_done:
                    raise RunnerStartError(
                        f"kernel-actions dev exited with code {self._proc.returncode}:\n"
                        + "\n".join(self.lines))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RunnerStartError(
                        f"kernel-actions dev did not start within {self.start_timeout:g} s:\n"
                        + "\n".join(self.lines))
                self._cond.wait(min(left, 0.2))
            failed = next((ln for ln in self.lines if "code failed to load:" in ln), None)
        if failed is not None:
            raise RunnerStartError(failed.strip())

    def _reader_join(self) -> None:
        if self._reader is not None:
            self._reader.join(5)

    def stop(self, timeout: float = 20.0) -> int | None:
        """Stop as Ctrl-C would; kill the whole process group if it lingers."""
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # workers, browsers: nothing outlives a test
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait(5)
        self._reader_join()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        return proc.returncode

    def __enter__(self) -> LocalRunner:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- use ------------------------------------------------------------------------------

    @property
    def output(self) -> str:
        """Everything the runner printed so far."""
        with self._cond:
            return "\n".join(self.lines)

    def client(self, **kwargs: Any) -> httpx.Client:
        """An ``httpx.Client`` on the runner's URL."""
        if self.url is None:
            raise RunnerStartError("the runner is not started")
        kwargs.setdefault("timeout", 120)
        return httpx.Client(base_url=self.url, **kwargs)

    def apps(self) -> list[dict[str, Any]]:
        with self.client() as c:
            return list(c.get("/apps").json())

    def invoke(self, action: str, payload: Any = None, *, app: str | None = None,
               version: str = "latest") -> dict[str, Any]:
        """Invoke ``action`` synchronously and return the full invocation (with its logs)."""
        app_name = app or self._only_app()
        body: dict[str, Any] = {"app_name": app_name, "action_name": action,
                                "version": version}
        if payload is not None:
            body["payload"] = json.dumps(payload)
        with self.client() as c:
            created = c.post("/invocations", json=body)
            if created.status_code >= 400:
                raise AssertionError(
                    f"POST /invocations answered {created.status_code}: {created.text}")
            inv_id = created.json()["id"]
            invocation = dict(c.get(f"/invocations/{inv_id}").json())
        invocation["logs"] = self.logs(inv_id)
        return invocation

    def logs(self, invocation_id: str) -> list[str]:
        """The log lines of a finished invocation, in order."""
        lines: list[str] = []
        with self.client() as c, c.stream("GET", f"/invocations/{invocation_id}/events") as r:
            for raw in r.iter_lines():
                if not raw.startswith("data:"):
                    continue
                event = json.loads(raw[5:])
                if event.get("event") == "log":
                    lines.append(str(event.get("message", "")))
        return lines

    def _only_app(self) -> str:
        names = sorted({a["app_name"] for a in self.apps()})
        if len(names) != 1:
            raise ValueError(f"name the app: this runner serves {names or 'no app'}")
        return names[0]


def _describe(invocation: Mapping[str, Any]) -> str:
    lines = [f"invocation {invocation.get('id')} ({invocation.get('app_name')}/"
             f"{invocation.get('action_name')}) is {invocation.get('status')!r}"]
    if invocation.get("status_reason"):
        lines.append(f"  status_reason: {invocation['status_reason']}")
    output = invocation.get("output")
    if output:
        try:
            output = json.dumps(json.loads(output), indent=2)
        except (TypeError, ValueError):
            pass
        lines.append("  output: " + str(output).replace("\n", "\n  "))
    logs = invocation.get("logs")
    if logs:
        lines.append("  logs:")
        lines += [f"    {line}" for line in logs]
    return "\n".join(lines)


def _status(invocation: Any) -> tuple[Mapping[str, Any], str]:
    if isinstance(invocation, Mapping):
        return invocation, str(invocation.get("status"))
    # An Outcome from app.invoke(), or an SDK response object.
    data = {k: getattr(invocation, k, None) for k in
            ("id", "app_name", "action_name", "status", "status_reason", "output", "logs")}
    if data["output"] is None and getattr(invocation, "value", None) is not None:
        data["output"] = json.dumps(invocation.value, default=str)
    return data, str(data["status"])


def assert_succeeded(invocation: Any) -> None:
    """Fail, printing the reason, output and logs, unless the invocation succeeded."""
    data, status = _status(invocation)
    if status != "succeeded":
        raise AssertionError(_describe(data))


def assert_failed(invocation: Any, reason: str | None = None) -> None:
    """Fail unless the invocation failed (and its ``status_reason`` contains ``reason``)."""
    data, status = _status(invocation)
    if status != "failed":
        raise AssertionError("expected a failure, but " + _describe(data))
    if reason is not None and reason not in str(data.get("status_reason") or ""):
        raise AssertionError(f"expected status_reason to contain {reason!r}, but "
                             + _describe(data))
