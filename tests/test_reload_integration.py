"""Hot reload on real files, with a real runner process watching them."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from . import helpers
from .helpers import RunnerProcess, poll

APP = '''
import asyncio
import os
from kernel_actions import App

app = App("reloading")

@app.action("version")
def version(ctx):
    return {VERSION!r}

@app.action("slow")
async def slow(ctx, payload: float = 2.0):
    await asyncio.sleep(payload)
    return {VERSION!r}

@app.action("wait-for")
async def wait_for(ctx, payload: str):
    """Run until the file named in the payload exists."""
    while not os.path.exists(payload):
        await asyncio.sleep(0.02)
    return {VERSION!r}

@app.action("secret")
def secret(ctx):
    return os.environ.get("MY_SECRET")
'''


def write_app(path: Path, version: str, extra: str = "") -> None:
    path.write_text(APP.replace("{VERSION!r}", repr(version)) + extra)


invoke = functools.partial(helpers.invoke, app="reloading")


def write_env(folder: Path, text: str) -> None:
    """Replace ``.env`` in one step, as most editors save: the watcher sees it once, whole."""
    staged = folder.parent / "env.staged"
    staged.write_text(text)
    staged.replace(folder / ".env")


def reloaded_to(runner: RunnerProcess, generation: int) -> None:
    runner.wait_line(f"generation {generation} serves new invocations", timeout=15)


def start(start_runner, tmp_path: Path, version: str = "v1") -> tuple[RunnerProcess, Path]:
    folder = tmp_path / "app"
    folder.mkdir()
    entry = folder / "main.py"
    write_app(entry, version)
    runner = start_runner(entry, "--reload", cwd=folder)
    return runner, entry


def test_save_serves_new_code(start_runner, tmp_path: Path) -> None:
    runner, entry = start(start_runner, tmp_path)
    with runner.client() as c:
        assert invoke(c, "version")["output"] == '"v1"'
        write_app(entry, "v2")
        reloaded_to(runner, 2)
        done = invoke(c, "version")
        assert done["output"] == '"v2"'
        detail = c.get(f"/invocations/{done['id']}", params={"detail": 1}).json()
        assert detail["code_generation"] == 2


def test_in_flight_invocation_finishes_on_old_code_while_new_code_serves(
        start_runner, tmp_path: Path) -> None:
    runner, entry = start(start_runner, tmp_path)
    with runner.client() as c:
        release = tmp_path / "release"
        slow = invoke(c, "wait-for", json.dumps(str(release)), is_async=True)
        poll(lambda: c.get(f"/invocations/{slow['id']}").json()["status"] == "running")
        write_app(entry, "v2")
        reloaded_to(runner, 2)
        fresh = invoke(c, "version")
        assert fresh["output"] == '"v2"'  # new code serves while the old invocation runs
        assert c.get(f"/invocations/{slow['id']}").json()["status"] == "running"
        release.touch()
        final = poll(lambda: (r := c.get(f"/invocations/{slow['id']}").json())["status"]
                     in ("succeeded", "failed") and r, timeout=10)
        assert final["status"] == "succeeded" and final["output"] == '"v1"'  # type: ignore[index]
        detail = c.get(f"/invocations/{slow['id']}", params={"detail": 1}).json()
        assert detail["code_generation"] == 1


def test_broken_code_keeps_last_good_generation_until_fixed(start_runner, tmp_path: Path) -> None:
    runner, entry = start(start_runner, tmp_path)
    with runner.client() as c:
        write_app(entry, "v2", extra="\ndef broken(:\n")
        line = runner.wait_line("reload failed", timeout=15)
        assert "SyntaxError" in line and "main.py" in line and "still serving generation 1" in line
        assert invoke(c, "version")["output"] == '"v1"'
        app = c.get("/apps").json()[0]
        assert app["stale"] is True
        bad_line = entry.read_text().splitlines().index("def broken(:") + 1
        assert app["load_error"]["location"] == f"{entry}:{bad_line}"
        write_app(entry, "v3", extra="\nraise RuntimeError('boom at import')\n")
        runner.wait_for(lambda lines: sum("reload failed" in ln for ln in lines) >= 2)
        assert "boom at import" in [ln for ln in runner.lines if "reload failed" in ln][-1]
        assert invoke(c, "version")["output"] == '"v1"'
        write_app(entry, "v4")
        reloaded_to(runner, 2)
        assert invoke(c, "version")["output"] == '"v4"'
        assert c.get("/apps").json()[0]["stale"] is False


def test_env_file_reaches_workers_and_is_never_printed(start_runner, tmp_path: Path) -> None:
    runner, entry = start(start_runner, tmp_path)
    with runner.client() as c:
        assert invoke(c, "secret")["output"] == "null"
        write_env(entry.parent, "MY_SECRET=s3cr3t-value\n")
        reloaded_to(runner, 2)
        assert json.loads(invoke(c, "secret")["output"]) == "s3cr3t-value"
        write_env(entry.parent, "MY_SECRET=rotated\n")
        reloaded_to(runner, 3)
        assert json.loads(invoke(c, "secret")["output"]) == "rotated"
    assert "s3cr3t" not in runner.output and "rotated" not in runner.output


def test_ignored_files_do_not_reload(start_runner, tmp_path: Path) -> None:
    runner, entry = start(start_runner, tmp_path)
    (entry.parent / ".gitignore").write_text("scratch/\n")
    reloaded_to(runner, 2)  # .gitignore itself is a change
    (entry.parent / "scratch").mkdir()
    (entry.parent / "scratch" / "notes.py").write_text("x = 1\n")
    (entry.parent / "__pycache__").mkdir(exist_ok=True)
    (entry.parent / "__pycache__" / "junk.pyc").write_bytes(b"\0")
    # A relevant change afterwards gets the next generation number: nothing in between.
    write_app(entry, "v2")
    reloaded_to(runner, 3)
    assert not any("generation 4" in ln for ln in runner.lines)
    assert sum("reloaded (" in ln for ln in runner.lines) == 2
