"""Shared fixtures: a real runner process on a free loopback port, an app to serve,
and the official SDK pointed at it. The pieces they are made of are in ``helpers``."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kernel import Kernel

from kernel_actions.runner.browsers.chromium import find_chromium
from kernel_actions.runner.errors import ApiError

from .helpers import APPS, TESTS, Answer, RunnerProcess, http_server, poll, sdk_client

__all__ = ["APPS", "TESTS", "Answer", "RunnerProcess", "http_server", "poll", "CHROMIUM",
           "NEEDS_CHROMIUM", "BROWSER_MARKS"]

try:
    #: The Chromium the runner would start here (``None``: there is none).
    CHROMIUM: str | None = find_chromium()
except ApiError:
    CHROMIUM = None

#: Skip a test that starts a browser where no Chromium is installed.
NEEDS_CHROMIUM = pytest.mark.skipif(CHROMIUM is None,
                                    reason="no Chromium or Chrome on this machine")
#: What a browser test needs: a Chromium, and Linux (processes are read from /proc).
BROWSER_MARKS = [
    NEEDS_CHROMIUM,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux: reads /proc"),
]


@pytest.fixture
def start_runner(tmp_path: Path) -> Iterator[Callable[..., RunnerProcess]]:
    """Start runners; each is stopped (and its process group killed) at teardown."""
    started: list[RunnerProcess] = []

    def start(entry: str | Path | None = None, *extra: str, command: str = "dev",
              cwd: Path | None = None, data_dir: Path | None = None, wait: bool = True,
              env: dict[str, str] | None = None) -> RunnerProcess:
        args = [command]
        if entry is not None:
            args.append(str(entry))
        args += ["--port", "0", "--data-dir", str(data_dir or tmp_path / "data")]
        if command == "dev" and "--reload" not in extra:
            args.append("--no-reload")
        args += list(extra)
        runner = RunnerProcess(args, cwd or tmp_path, env)
        started.append(runner)
        if wait:
            runner.wait_ready()
        return runner

    yield start
    for runner in started:
        runner.stop(timeout=10)
        print(f"--- runner {' '.join(runner.args)} output ---\n{runner.output}")
        runner.kill_group()


@pytest.fixture
def app_copy(tmp_path: Path) -> Callable[[str], Path]:
    """Copy an app from tests/apps into a fresh folder; returns its entrypoint."""

    def copy(name: str = "conformance_app.py") -> Path:
        folder = tmp_path / "app"
        folder.mkdir(exist_ok=True)
        target = folder / "main.py"
        shutil.copy(APPS / name, target)
        return target

    return copy


@pytest.fixture
def conformance(start_runner: Callable[..., RunnerProcess],
                app_copy: Callable[[str], Path]) -> RunnerProcess:
    """A runner serving tests/apps/conformance_app.py."""
    entry = app_copy("conformance_app.py")
    return start_runner(entry, "--sync-timeout", "3", cwd=entry.parent)


@pytest.fixture
def sdk(conformance: RunnerProcess) -> Kernel:
    """The official ``kernel`` SDK, talking to the ``conformance`` runner."""
    return sdk_client(conformance, api_key="any-key")
