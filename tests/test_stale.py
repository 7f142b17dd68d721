"""Code whose latest save failed to load: responses and app listings say so."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from kernel import Kernel

from kernel_actions.runner.stale import STALE_HEADER, guess_app_name

from .conftest import RunnerProcess

GOOD = "from kernel_actions import App\napp = App('staleness')\n\n" \
       "@app.action('version')\ndef version(ctx):\n    return {v!r}\n"


def cli(runner: RunnerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KERNEL_BASE_URL": runner.url or ""}
    return subprocess.run([sys.executable, "-m", "kernel_actions.cli", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def invoke(c, **extra: object):
    r = c.post("/invocations", json={"app_name": "staleness", "action_name": "version", **extra})
    assert r.status_code in (200, 202), r.text
    return r


def test_responses_say_the_code_is_stale_until_a_save_loads(start_runner, tmp_path: Path):
    folder = tmp_path / "app"
    folder.mkdir()
    entry = folder / "main.py"
    entry.write_text(GOOD.format(v="v1"))
    runner: RunnerProcess = start_runner(entry, "--reload", cwd=folder)
    with runner.client() as c:
        fresh = invoke(c)
        assert fresh.json()["output"] == '"v1"' and STALE_HEADER not in fresh.headers
        entry.write_text(GOOD.format(v="v2") + "raise RuntimeError('caf\u00e9 is closed\\nand more')\n")
        runner.wait_line("reload failed", timeout=20)
        old = invoke(c)
        assert old.json()["output"] == '"v1"'  # the last good code still answers...
        stale = old.headers[STALE_HEADER]  # ...and says it is stale
        assert stale.startswith("RuntimeError: caf?") and "is closed" in stale
        assert "and more" not in stale  # the first line only
        queued = invoke(c, **{"async": True})
        assert queued.headers[STALE_HEADER] == stale
        got = c.get(f"/invocations/{queued.json()['id']}")
        assert got.headers[STALE_HEADER] == stale
        for mode in ("-s", "--detach", None):
            out = cli(runner, "invoke", "staleness", "version", *([mode] if mode else []))
            assert out.returncode == 0, out.stderr
            warnings = [ln for ln in out.stderr.splitlines() if ln.startswith("warning:")]
            assert warnings == ["warning: the latest save failed to load, so this ran the last "
                                f"code that did: {stale}"], out.stderr
        entry.write_text(GOOD.format(v="v3"))
        runner.wait_line("generation 2 serves new invocations", timeout=20)
        again = invoke(c)
        assert again.json()["output"] == '"v3"' and STALE_HEADER not in again.headers


def test_code_that_never_loaded_is_listed_with_its_error(start_runner, tmp_path: Path):
    folder = tmp_path / "app"
    folder.mkdir()
    entry = folder / "main.py"
    entry.write_text("from kernel_actions import App\napp = App('never-loaded')\nboom(\n")
    runner: RunnerProcess = start_runner(entry, "--reload", cwd=folder)
    with runner.client() as c:
        (app,) = c.get("/apps").json()
    assert app["app_name"] == "never-loaded" and app["stale"] is True
    assert app["actions"] == [] and app["code_generation"] == 0
    assert "SyntaxError" in app["load_error"]["message"]
    assert app["load_error"]["location"] == f"{entry}:3"
    listed = Kernel(base_url=runner.url, api_key="local", max_retries=0).apps.list()
    assert [a.app_name for a in listed] == ["never-loaded"]


def test_the_app_name_is_read_without_running_the_code(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("import kernel\napp = kernel.App(\"sdk-app\")\n1/0\n")
    (tmp_path / "b.py").write_text("from kernel_actions import App\napp = App('b-app')\ndef (:\n")
    (tmp_path / "c.py").write_text("x = 1\n")
    assert guess_app_name("a.py", tmp_path) == "sdk-app"
    assert guess_app_name(f"{tmp_path / 'b.py'}:app", Path("/")) == "b-app"
    assert guess_app_name("c.py", tmp_path) is None
    assert guess_app_name("missing.py", tmp_path) is None
