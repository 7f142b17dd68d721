"""Hot reload: watch the app's folder, load new code into a new worker generation.

The reloader knows only its target (a :class:`CodePool`) and a source of file
changes. The source is injectable, so the logic is testable without a file
system; :func:`watchfiles_changes` is the real one.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..tooling.bundle import is_own_bundle
from ..tooling.not_app_code import GENERATED_SUFFIXES, NOT_APP_DIRS, is_not_app_dir, is_virtualenv

if TYPE_CHECKING:
    from .server import Runner

__all__ = ["Reloader", "ChangeFilter", "watchfiles_changes", "watch_and_reload"]

#: Folders never watched, and files never reloaded for: what is never app code.
IGNORED_DIRS = NOT_APP_DIRS
IGNORED_SUFFIXES = GENERATED_SUFFIXES


class ChangeFilter:
    """Which changed paths below ``root`` matter: not ignored dirs, not ``.gitignore``d."""

    def __init__(self, root: Path, also_ignore: Iterable[Path] = ()) -> None:
        self.root = root.resolve()
        #: Folders the runner writes to itself (a ``--data-dir`` inside the app's folder).
        self._own = [p.resolve() for p in also_ignore]
        self._spec = None
        gitignore = self.root / ".gitignore"
        if gitignore.is_file():
            import pathspec

            self._spec = pathspec.GitIgnoreSpec.from_lines(
                gitignore.read_text(errors="replace").splitlines())

    def __call__(self, path: Path) -> bool:
        try:
            rel = path.resolve().relative_to(self.root)
        except ValueError:
            return False
        parts = rel.parts
        if not parts:
            return False
        if any(path.resolve().is_relative_to(own) for own in self._own):
            return False
        if any(is_not_app_dir(p) for p in parts[:-1]):
            return False
        name = parts[-1]
        if name.endswith(IGNORED_SUFFIXES) or name.startswith(".#") or name == "4913":
            return False
        if len(parts) > 1 and is_virtualenv(self.root / parts[0]):
            return False
        if name.endswith(".zip") and is_own_bundle(path):
            return False  # written by `package -o`
        if name == ".env":
            return True  # ignored by git, but it configures the workers
        if self._spec is not None and self._spec.match_file(rel.as_posix()):
            return False
        return True


ChangeSource = Callable[[Path], AsyncIterator[set[Path]]]


async def watchfiles_changes(root: Path) -> AsyncIterator[set[Path]]:
    """Batches of changed paths below ``root``, from watchfiles."""
    from watchfiles import awatch

    async for changes in awatch(root, debounce=400, step=20, recursive=True):
        yield {Path(p) for _, p in changes}


class ReloadTarget(Protocol):
    generation: int

    async def reload(self) -> bool: ...
    def discard_standby(self) -> None: ...


class Reloader:
    """Turn change batches into reloads of ``target``; report through ``log``."""

    def __init__(
        self,
        target: ReloadTarget,
        root: Path,
        *,
        log: Callable[[str], None],
        describe_error: Callable[[], str | None] = lambda: None,
        path_filter: Callable[[Path], bool] | None = None,
    ) -> None:
        self.target = target
        self.root = root
        self.log = log
        self.describe_error = describe_error
        self.filter = path_filter or ChangeFilter(root)
        self.reloads = 0

    def relevant(self, paths: Iterable[Path]) -> list[Path]:
        return sorted(p for p in paths if self.filter(p))

    async def handle(self, paths: Iterable[Path]) -> bool | None:
        """Reload for one batch of changes; ``None`` when nothing relevant changed."""
        paths = list(paths)
        if isinstance(self.filter, ChangeFilter) and any(p.name == ".gitignore" for p in paths):
            self.filter = ChangeFilter(self.root)
        changed = self.relevant(paths)
        if not changed:
            return None
        names = ", ".join(_short(p, self.root) for p in changed[:3])
        if len(changed) > 3:
            names += f" and {len(changed) - 3} more"
        if any(p.name == ".env" for p in changed):
            self.target.discard_standby()  # its environment is stale
        started = time.perf_counter()
        previous = self.target.generation
        ok = await self.target.reload()
        self.reloads += 1
        took = (time.perf_counter() - started) * 1000
        if ok:
            self.log(f"reloaded ({names} changed): generation {self.target.generation} "
                     f"serves new invocations, loaded in {took:.0f} ms")
        else:
            error = self.describe_error() or "unknown error"
            keep = f"still serving generation {previous}" if previous else "nothing to serve yet"
            self.log(f"reload failed ({names} changed): {error}; {keep}. Fix it and save again.")
        return ok

    async def run(self, changes: AsyncIterator[set[Path]]) -> None:
        async for batch in changes:
            await self.handle(batch)


def _short(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


async def watch_and_reload(runner: Runner, source: ChangeSource | None = None) -> None:
    """Watch the live code's folder for as long as the runner runs."""
    pool = runner.live
    if pool is None:
        return
    root = runner.config.app_dir

    def describe() -> str | None:
        if pool.load_error is None:
            return None
        detail = pool.load_error.detail
        text = str(pool.load_error)
        if detail and "SyntaxError" not in text:
            text += "\n" + detail.rstrip()
        return text

    assert runner.config.data_dir is not None
    reloader = Reloader(pool, root, log=runner.log, describe_error=describe,
                        path_filter=ChangeFilter(root, also_ignore=[runner.config.data_dir]))
    await reloader.run((source or watchfiles_changes)(root))
