"""WAL checkpoints on a thread of their own, off the event loop.

SQLite copies the write-ahead log back into the database file every 1,000 pages or so,
by default inside the commit that crosses the mark: on the event loop, with an fsync of
the log and one of the database file (``synchronous=NORMAL`` syncs at checkpoints). Every
request in flight waited for them (a few milliseconds each, up to tens on a busy disk:
measured, most of the time all commits took). The store's writer turns that off and
tells a :class:`Checkpointer` of its commits; every ``every`` commits the checkpointer
runs a passive checkpoint on its own connection, which never blocks the writer (SQLite
releases the GIL while it copies and syncs).

A passive checkpoint copies what was in the log when it began; the log can only start
over once *everything* in it is copied, and a writer that keeps committing always adds
more meanwhile. So once the log passes ``restart_bytes`` the thread, when done, calls
``catch_up`` (on the writer's thread, between commits), which checkpoints the few pages
written since (a sync of each file, on the writer's thread, but once per ``restart_bytes``
of log instead of once per thousand pages), and the next commit starts the log from its
beginning again.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

__all__ = ["Checkpointer"]


class Checkpointer:
    def __init__(self, connect: Callable[[], sqlite3.Connection], wal: Path,
                 catch_up: Callable[[], None], every: int = 100,
                 restart_bytes: int = 32 * 1024 * 1024) -> None:
        self._connect = connect
        self._wal = wal
        self._catch_up = catch_up
        self._restart_bytes = restart_bytes
        self._every = every
        self._commits = 0
        self._wake = threading.Event()
        self._stopping = False
        #: Checkpoints run so far (for tests).
        self.runs = 0
        self._thread = threading.Thread(target=self._run, name="store-checkpoints",
                                        daemon=True)
        self._thread.start()

    def committed(self) -> None:
        """A commit was made (called by the writer, on its thread)."""
        self._commits += 1
        if self._commits >= self._every:
            self._commits = 0
            self._wake.set()

    def _run(self) -> None:
        conn = self._connect()
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stopping:
                    return
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                self.runs += 1
                if not self._stopping and self._wal_bytes() > self._restart_bytes:
                    with contextlib.suppress(RuntimeError):  # the writer's loop is closed
                        self._catch_up()
        finally:
            conn.close()

    def _wal_bytes(self) -> int:
        try:
            return self._wal.stat().st_size
        except OSError:
            return 0

    def close(self) -> None:
        """Stop the thread (the writer's connection, closed last, checkpoints what is left)."""
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout=30)
