"""The official ``@onkernel/sdk`` under node, unchanged, against a real runner."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from .helpers import RunnerProcess

NODE_DIR = Path(__file__).parent / "node"


def test_node_sdk_against_runner(conformance: RunnerProcess) -> None:
    node = shutil.which("node")
    assert node, "node is required for the @onkernel/sdk conformance test (see .ci/run)"
    assert (NODE_DIR / "node_modules" / "@onkernel" / "sdk").is_dir(), (
        "run `npm ci --prefix tests/node` first (.ci/run does)")
    env = {**os.environ, "KERNEL_BASE_URL": conformance.url, "KERNEL_API_KEY": "local"}
    proc = subprocess.run([node, "conformance.mjs"], cwd=NODE_DIR, env=env,
                          capture_output=True, text=True, timeout=120)
    lines = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
    failures = [f"{r['name']}: {r['error']}" for r in lines if not r["ok"]]
    assert not failures, "\n".join(failures) + "\n" + proc.stderr
    assert len(lines) == 7 and proc.returncode == 0, proc.stdout + proc.stderr
