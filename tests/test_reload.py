"""Reload logic with an injected change source (no file system watching)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from kernel_actions.runner.reload import ChangeFilter, Reloader


class FakeTarget:
    def __init__(self, results: list[bool]) -> None:
        self.results = results
        self.generation = 1
        self.reloads = 0
        self.standby_discarded = 0

    async def reload(self) -> bool:
        self.reloads += 1
        ok = self.results.pop(0)
        if ok:
            self.generation += 1
        return ok

    def discard_standby(self) -> None:
        self.standby_discarded += 1


async def batches(*items: set[Path]) -> AsyncIterator[set[Path]]:
    for item in items:
        yield item


def test_filter_ignores_data_vcs_venvs_caches_and_gitignored(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("*.log\nout/\n!keep.log\n")
    (tmp_path / "myenv").mkdir()
    (tmp_path / "myenv" / "pyvenv.cfg").write_text("")
    f = ChangeFilter(tmp_path)
    assert f(tmp_path / "main.py")
    assert f(tmp_path / "pkg" / "mod.py")
    assert f(tmp_path / ".env")
    assert f(tmp_path / "keep.log")
    for ignored in (".kernel/runner.db", ".git/index", ".venv/lib/x.py", "__pycache__/m.pyc",
                    "debug.log", "out/result.json", "main.py~", ".main.py.swp",
                    "myenv/lib/site.py", "node_modules/x/index.js"):
        assert not f(tmp_path / ignored), ignored
    assert not f(tmp_path.parent / "elsewhere.py")


def test_filter_ignores_a_data_dir_placed_in_the_app_folder(tmp_path: Path) -> None:
    f = ChangeFilter(tmp_path, also_ignore=[tmp_path / "state"])
    assert not f(tmp_path / "state" / "runner.db-wal")
    assert not f(tmp_path / "state" / "browsers" / "x" / "profile" / "Cookies")
    assert f(tmp_path / "stateful.py") and f(tmp_path / "main.py")


def test_reloads_once_per_relevant_batch_and_reports(tmp_path: Path) -> None:
    target = FakeTarget([True, False, True])
    lines: list[str] = []
    reloader = Reloader(target, tmp_path, log=lines.append,
                        describe_error=lambda: "SyntaxError (main.py:3)")
    anyio.run(reloader.run, batches(
        {tmp_path / "main.py"},
        {tmp_path / ".kernel" / "runner.db-wal"},  # ignored: no reload
        {tmp_path / "main.py", tmp_path / "util.py"},
        {tmp_path / "main.py"},
    ))
    assert target.reloads == 3
    assert "generation 2" in lines[0] and "main.py changed" in lines[0]
    assert "reload failed" in lines[1] and "SyntaxError (main.py:3)" in lines[1]
    assert "still serving generation 2" in lines[1]
    assert "generation 3" in lines[2]
    assert target.standby_discarded == 0


def test_env_change_discards_the_warm_standby(tmp_path: Path) -> None:
    target = FakeTarget([True])
    reloader = Reloader(target, tmp_path, log=lambda _: None)
    assert anyio.run(reloader.handle, {tmp_path / ".env"}) is True
    assert target.standby_discarded == 1


def test_irrelevant_batch_is_not_a_reload(tmp_path: Path) -> None:
    target = FakeTarget([])
    reloader = Reloader(target, tmp_path, log=pytest.fail)
    assert anyio.run(reloader.handle, {tmp_path / "__pycache__" / "main.cpython-311.pyc"}) is None
    assert target.reloads == 0
