"""The data dir and everything the runner puts in it are its owner's only (folders 0700,
files 0600), while the app's own code keeps the developer's umask; a data dir an older
runner left readable is tightened."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .conftest import NEEDS_CHROMIUM, RunnerProcess
from .helpers import invoke, sdk_client

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")


@pytest.fixture(autouse=True)
def developer_umask() -> Iterator[None]:
    """Runners inherit a usual umask (022) from this test, whatever the suite's was."""
    before = os.umask(0o022)
    yield
    os.umask(before)


def open_to_others(root: Path) -> list[str]:
    """Everything under ``root`` (itself included) that another user could read, write or
    enter; symbolic links are not followed (their own mode means nothing)."""
    found = []
    for path in [root, *root.rglob("*")]:
        try:
            info = path.lstat()
        except FileNotFoundError:
            continue  # a running Chromium's temporary file, gone since it was listed
        if stat.S_ISLNK(info.st_mode):
            continue
        if info.st_mode & 0o077:
            found.append(f"{stat.filemode(info.st_mode)} {path.relative_to(root.parent)}")
    return found


def test_a_runs_data_is_its_owners_only(start_runner: Callable[..., RunnerProcess],
                                        app_copy: Callable[[str], Path],
                                        tmp_path: Path) -> None:
    entry = app_copy("conformance_app.py")
    data = tmp_path / "data"
    runner = start_runner(entry, cwd=entry.parent, data_dir=data)
    meeting = tmp_path / "meeting"
    meeting.mkdir()
    with runner.client() as c:
        done = invoke(c, "echo", '{"secret": "s3cret"}', app="conformance")
        assert done["status"] == "succeeded"
        queued = invoke(c, "echo", '{"x": 1}', app="conformance", is_async=True)
        assert queued["status"] == "queued"
        # The app's code keeps the developer's umask: a file it makes is 0644.
        met = invoke(c, "meet", f'{{"folder": "{meeting}", "count": 1}}', app="conformance")
        assert met["status"] == "succeeded", met
    made = meeting / met["id"]
    assert stat.S_IMODE(made.stat().st_mode) == 0o644
    assert (data / "runner.db").exists() and (data / "runner.json").exists()
    assert open_to_others(data) == []
    runner.stop()
    assert open_to_others(data) == []


def test_an_open_data_dir_is_tightened(start_runner: Callable[..., RunnerProcess],
                                       tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    db = data / "runner.db"
    db.touch()
    os.chmod(db, 0o644)
    start_runner(None, command="serve", data_dir=data)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert open_to_others(data) == []


@NEEDS_CHROMIUM
def test_browser_profiles_and_files_are_private(start_runner: Callable[..., RunnerProcess],
                                                tmp_path: Path) -> None:
    data = tmp_path / "data"
    runner = start_runner(None, command="serve", data_dir=data)
    client = sdk_client(runner)
    browser = client.browsers.create(headless=True)
    try:
        client.browsers.fs.create_directory(browser.session_id, path="/tmp/out")
        client.browsers.fs.write_file(browser.session_id, b"hello", path="/tmp/out/a.txt")
        held = [p for p in data.rglob("*") if p.name == "a.txt"]
        assert held, "the browser's file system is not in the data dir"
        assert len(list(data.rglob("*"))) > 20  # Chromium's profile, among others
        # What the fs API was told to make keeps the mode it gives (Kernel's 755 and 644
        # by default, as file_info reports), behind folders no other user can enter.
        out = held[0].parent
        assert stat.S_IMODE(out.stat().st_mode) == 0o755
        assert stat.S_IMODE(held[0].stat().st_mode) == 0o644
        for folder in out.parent.relative_to(data.parent).parents:
            if folder != Path("."):
                assert stat.S_IMODE((data.parent / folder).stat().st_mode) == 0o700, folder
        assert [line for line in open_to_others(data) if "/tmp/out" not in line] == []
    finally:
        client.browsers.delete_by_id(browser.session_id)
