"""The official ``@onkernel/sdk`` under node, unchanged: a browser's file system,
profiles and the cloud-only 501s against a real runner and a real Chromium."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from .conftest import NEEDS_CHROMIUM, RunnerProcess

NODE_DIR = Path(__file__).parent / "node"


@NEEDS_CHROMIUM
def test_node_sdk_files_profiles_and_501s(start_runner: Callable[..., RunnerProcess]) -> None:
    node = shutil.which("node")
    assert node, "node is required for the @onkernel/sdk tests (see .ci/run)"
    assert (NODE_DIR / "node_modules" / "@onkernel" / "sdk").is_dir(), (
        "run `npm ci --prefix tests/node` first (.ci/run does)")
    runner = start_runner(None, command="serve")
    env = {**os.environ, "KERNEL_BASE_URL": runner.url, "KERNEL_API_KEY": "local"}
    proc = subprocess.run([node, "browsers_extras.mjs"], cwd=NODE_DIR, env=env,
                          capture_output=True, text=True, timeout=120)
    lines = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
    failures = [f"{r['name']}: {r['error']}" for r in lines if not r["ok"]]
    assert not failures, "\n".join(failures) + "\n" + proc.stderr
    assert len(lines) == 5 and proc.returncode == 0, proc.stdout + proc.stderr
