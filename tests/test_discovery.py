"""Client commands find a running runner from the app's folder, through its state file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from kernel_actions.tooling.client import RunnerClient, Unreachable
from kernel_actions.tooling.discovery import STATE_FILE, find_runner, remove_state, write_state

from .conftest import APPS, RunnerProcess


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KERNEL_BASE_URL", "KERNEL_API_KEY")}
    return subprocess.run([sys.executable, "-m", "kernel_actions.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def test_a_running_runner_is_found_from_the_app_folder(start_runner, tmp_path: Path) -> None:
    folder = tmp_path / "app"
    (folder / "sub").mkdir(parents=True)
    entry = folder / "main.py"
    entry.write_text((APPS / "conformance_app.py").read_text())
    runner: RunnerProcess = start_runner(entry, cwd=folder, data_dir=folder / ".kernel")
    state = json.loads((folder / ".kernel" / STATE_FILE).read_text())
    assert state == {"url": runner.url, "pid": runner.proc.pid}
    for where in (folder, folder / "sub"):
        out = cli(where, "invoke", "conformance", "echo", "-p", '"found"', "-s")
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == '"found"'
    assert runner.stop() == 0
    assert not (folder / ".kernel" / STATE_FILE).exists()  # removed on exit
    gone = cli(folder, "apps", "list")
    assert gone.returncode == 3
    assert "--api-url" in gone.stderr and f".kernel/{STATE_FILE}" in gone.stderr


def test_a_state_file_whose_process_is_gone_is_ignored(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    write_state(tmp_path / ".kernel", "http://127.0.0.1:1", pid=dead.pid)
    assert find_runner(tmp_path) is None
    # A live process that is not a runner (this test's own pytest counts as one: it imports
    # kernel_actions) vs. a live stranger such as `sleep`.
    stranger = subprocess.Popen(["sleep", "30"])
    try:
        write_state(tmp_path / ".kernel", "http://127.0.0.1:1", pid=stranger.pid)
        if sys.platform.startswith("linux"):
            assert find_runner(tmp_path) is None
    finally:
        stranger.kill()
        stranger.wait()
    (tmp_path / ".kernel" / STATE_FILE).write_text("{not json")
    assert find_runner(tmp_path) is None


def test_only_its_own_state_file_is_removed(tmp_path: Path) -> None:
    path = write_state(tmp_path, "http://127.0.0.1:9", pid=os.getpid() + 1)
    remove_state(tmp_path)
    assert path.exists()
    write_state(tmp_path, "http://127.0.0.1:9")
    remove_state(tmp_path)
    assert not path.exists()


@pytest.mark.parametrize(("source", "hint"), [
    ("default", f".kernel/{STATE_FILE}) or named with --api-url URL"),
    ("KERNEL_BASE_URL", "or check KERNEL_BASE_URL (--api-url overrides it)"),
    ("--api-url", "or check the URL given to --api-url"),
])
def test_cannot_reach_says_how_to_point_at_the_runner(source: str, hint: str) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    client = RunnerClient("http://127.0.0.1:8485", transport=httpx.MockTransport(refuse))
    client.url_source = source
    with pytest.raises(Unreachable) as refused:
        client.list_apps()
    assert hint in refused.value.message
    assert "kernel-actions dev main.py" in refused.value.message
