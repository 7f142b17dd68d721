"""The command line's small courtesies: -V, a taken port, "did you mean", the dev banner."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from kernel_actions import __version__
from kernel_actions.cli import cli
from kernel_actions.cli.exit_codes import ExitCode

from .conftest import APPS, RunnerProcess


def cli_process(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "KERNEL_BASE_URL"}
    return subprocess.run([sys.executable, "-m", "kernel_actions.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_dash_capital_v_prints_the_version() -> None:
    for flag in ("-V", "--version"):
        out = CliRunner().invoke(cli, [flag])
        assert out.exit_code == 0 and out.output.strip() == f"kernel-actions, version {__version__}"


def test_a_taken_port_suggests_port_0_and_has_its_own_exit_code(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text((APPS / "conformance_app.py").read_text())
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = cli_process(tmp_path, "dev", "main.py", "--port", str(port), "--no-reload",
                          "--data-dir", str(tmp_path / "data"))
    assert out.returncode == ExitCode.CANNOT_LISTEN == 6
    assert out.returncode != ExitCode.UNREACHABLE
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr
    assert "pass --port 0 to pick a free one" in out.stderr
    assert "Traceback" not in out.stderr


def test_did_you_mean_for_apps_actions_and_entrypoints(conformance: RunnerProcess,
                                                      tmp_path: Path) -> None:
    with conformance.client() as c:
        for app, action, hint in [("conformance", "gret", "did you mean 'greet'?"),
                                  ("conformence", "greet", "did you mean 'conformance'?")]:
            r = c.post("/invocations", json={"app_name": app, "action_name": action})
            assert r.status_code == 404 and r.json()["code"] == "not_found"
            assert hint in r.json()["message"]
        far = c.post("/invocations", json={"app_name": "conformance", "action_name": "zzz"})
        assert "did you mean" not in far.json()["message"]
    env = {**os.environ, "KERNEL_BASE_URL": conformance.url or ""}
    out = subprocess.run([sys.executable, "-m", "kernel_actions.cli", "invoke", "conformance",
                          "gret", "-s"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == ExitCode.API_4XX and "did you mean 'greet'?" in out.stderr
    (tmp_path / "main.py").write_text("from kernel_actions import App\napp = App('x')\n")
    typo = cli_process(tmp_path, "schema", "mian.py")
    assert typo.returncode == ExitCode.USAGE
    assert "no such file" in typo.stderr and "did you mean 'main.py'?" in typo.stderr
