"""The invocation store: SQLite in WAL mode, with group commit on the event loop.

Writes are queued and run in one transaction, and whoever waits for that commit is
woken: a burst of state changes costs one commit, not one each. A write somebody
waits for is committed at the end of the loop's turn, with everything else queued by
then: what a client is about to be told (``queued`` before a 202, a final state before
a sync answer, a ``PATCH`` answer, or its stream's last event). So every invocation
that finished in one turn shares one commit, and nothing a client was told is lost to
a crash of the runner. Any other write (a state change nobody is told of yet, log
lines) is committed within :data:`LAZY_COMMIT_S`, with whatever else comes meanwhile,
or sooner with the next write somebody waits for: each commit writes every page it
touched to the log (two system calls a page, ~9 pages for a few rows with this table's
indexes), so rows committed by tens cost a third less than rows committed by threes.
Every read through the API first commits what is pending (:meth:`Store.commit_pending`).

A commit in WAL mode with ``synchronous=NORMAL`` survives the process being killed;
it does not fsync, so a power loss may lose the last moments. Reads use their own
connections (one per thread), which WAL lets run beside the writer, and the log is
copied back into the database file on a thread of its own (:mod:`.checkpoints`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .checkpoints import Checkpointer
from .invocation import Invocation, Status
from .private_files import private_dir

__all__ = ["Store", "ListFilters", "LogRecord", "LAZY_COMMIT_S"]

#: Longest a write nobody waits for stays uncommitted.
LAZY_COMMIT_S = 0.005
#: Queued writes past which they are committed at the end of the turn all the same.
LAZY_MAX_WRITES = 512

_SCHEMA = """
CREATE TABLE IF NOT EXISTS invocations (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    app_name TEXT NOT NULL,
    action_name TEXT NOT NULL,
    version TEXT NOT NULL,
    payload TEXT,
    status TEXT NOT NULL,
    created_ns INTEGER NOT NULL,
    timeout_s REAL NOT NULL,
    is_async INTEGER NOT NULL,
    output TEXT,
    status_reason TEXT,
    running_ns INTEGER,
    finished_ns INTEGER,
    generation INTEGER,
    deployment_id TEXT
);
CREATE INDEX IF NOT EXISTS inv_app ON invocations(app_name, seq);
CREATE INDEX IF NOT EXISTS inv_action ON invocations(action_name, seq);
CREATE INDEX IF NOT EXISTS inv_status ON invocations(status, seq);
CREATE INDEX IF NOT EXISTS inv_created ON invocations(created_ns);
CREATE INDEX IF NOT EXISTS inv_seq ON invocations(seq);
CREATE TABLE IF NOT EXISTS logs (
    seq INTEGER PRIMARY KEY,
    invocation_id TEXT NOT NULL,
    ts_ns INTEGER NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_inv ON logs(invocation_id, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_COLUMNS = (
    "id, app_name, action_name, version, payload, status, created_ns, timeout_s, is_async, "
    "output, status_reason, running_ns, finished_ns, generation, deployment_id"
)
#: The same columns with the two that can be megabytes (payload, output) left out.
_SUMMARY_COLUMNS = _COLUMNS.replace("payload", "NULL").replace("output", "NULL")
_INSERT = f"INSERT INTO invocations ({_COLUMNS}) VALUES ({', '.join('?' * 15)})"
_UPDATE = (
    "UPDATE invocations SET status=?, output=?, status_reason=?, running_ns=?, finished_ns=?, "
    "generation=? WHERE id=?"
)


@dataclass(frozen=True, slots=True)
class LogRecord:
    seq: int
    ts_ns: int
    message: str


@dataclass(frozen=True, slots=True)
class ListFilters:
    app_name: str | None = None
    action_name: str | None = None
    status: Status | None = None
    version: str | None = None
    deployment_id: str | None = None
    since_ns: int | None = None
    query: str | None = None


def _row(r: Sequence[Any]) -> Invocation:
    return Invocation(
        id=r[0], app_name=r[1], action_name=r[2], version=r[3], payload=r[4], status=r[5],
        created_ns=r[6], timeout_s=r[7], is_async=bool(r[8]), output=r[9], status_reason=r[10],
        running_ns=r[11], finished_ns=r[12], generation=r[13], deployment_id=r[14],
    )


def _insert_params(inv: Invocation) -> tuple[Any, ...]:
    return (
        inv.id, inv.app_name, inv.action_name, inv.version, inv.payload, inv.status,
        inv.created_ns, inv.timeout_s, int(inv.is_async), inv.output, inv.status_reason,
        inv.running_ns, inv.finished_ns, inv.generation, inv.deployment_id,
    )


def _update_params(inv: Invocation) -> tuple[Any, ...]:
    return (
        inv.status, inv.output, inv.status_reason, inv.running_ns, inv.finished_ns,
        inv.generation, inv.id,
    )


#: Size of the write-ahead log past which it is made to start over (see :mod:`.checkpoints`).
WAL_LIMIT_BYTES = 32 * 1024 * 1024

#: What one bad write raises: SQLite's errors, and the driver's for values it can't bind
#: (text that isn't valid Unicode, an integer too large).
_WRITE_ERRORS = (sqlite3.Error, ValueError, OverflowError)

#: A queued write: SQL, its parameters (an :class:`Invocation` for an insert: its state
#: is read when the batch is written), whether they are many rows, who waits for it.
_Op = tuple[str, Any, bool, "asyncio.Future[None] | None"]


def _params(sql: str, params: Any) -> Any:
    return _insert_params(params) if sql is _INSERT else params


class Store:
    """SQLite-backed invocations and logs. Create with :meth:`open`; close when done."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._rows: int | None = None
        self._local = threading.local()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        #: The one writing connection, from :meth:`open` on. Each connection opened and
        #: closed costs a WAL checkpoint and an fsync: at start-up, three of them were most
        #: of the time to open the store.
        self._conn: sqlite3.Connection | None = None
        self._checkpointer: Checkpointer | None = None

    @classmethod
    def open(cls, path: Path) -> Store:
        private_dir(path.parent)
        # Made 0600 whatever the umask: SQLite gives the files it makes beside the
        # database (the log, the shared memory) the database's mode.
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        for name in (path.name, path.name + "-wal", path.name + "-shm"):
            _owner_only(path.with_name(name))
        store = cls(path)
        store._conn = store._connect()
        store._conn.executescript(_SCHEMA)
        return store

    def declare_schema(self, sql: str) -> None:
        """Create a feature's own tables (``CREATE TABLE IF NOT EXISTS ...``) beside these.

        Run before :meth:`start`, or between batches (it commits at once, and a batch's
        writes are only executed when the batch is written).
        """
        assert self._conn is not None, "the store is closed"
        self._conn.executescript(sql)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read (any thread): for features' own tables."""
        return [tuple(r) for r in self._reader().execute(sql, params).fetchall()]

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=5000")
        return conn

    # -- writing ------------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Write from now on in batches on ``loop`` (see the module's docstring)."""
        self._loop = loop
        if self._conn is None:
            self._conn = self._connect()
        self._conn.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer's job
        # A log that grew past the limit is cut back to it when it starts over: its file
        # stays allocated (overwritten, not extended), and passing the limit again means
        # that much of it is in use (the checkpointer reads its size).
        self._conn.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
        self._checkpointer = Checkpointer(
            self._connect, self.path.with_name(self.path.name + "-wal"),
            lambda: loop.call_soon_threadsafe(self._checkpoint_rest),
            restart_bytes=WAL_LIMIT_BYTES)
        self._pending: list[_Op] = []
        #: Invocation state writes by id: only the latest state of each is written.
        self._saves: dict[str, tuple[Any, ...]] = {}
        #: Who waits for an invocation's state to be committed, by id.
        self._save_waiters: dict[str, list[asyncio.Future[None]]] = {}
        #: The commit at the end of this turn, when one is due.
        self._soon = False
        #: The commit of writes nobody waits for, when one is due.
        self._lazy: asyncio.TimerHandle | None = None
        #: Inserts kept back (``insert_nowait(hold=...)``): invocation and when it is due.
        self._held: dict[str, tuple[Invocation, float]] = {}
        self._held_timer: asyncio.TimerHandle | None = None
        #: Rows in ``invocations``, kept up to date by the batches (see ``_seq_at``).
        self._rows = int(
            self._conn.execute("SELECT count(*) FROM invocations").fetchone()[0])

    def _schedule(self, urgent: bool) -> None:
        """See that what was just queued is committed: this turn, or within the lazy delay."""
        if self._soon:
            return
        assert self._loop is not None
        if urgent or len(self._pending) + len(self._saves) >= LAZY_MAX_WRITES:
            if self._lazy is not None:
                self._lazy.cancel()
                self._lazy = None
            self._soon = True
            self._loop.call_soon(self._flush)
        elif self._lazy is None:
            self._lazy = self._loop.call_later(LAZY_COMMIT_S, self._flush)

    def commit_pending(self) -> None:
        """Commit now what waits for a commit (on the loop): a read that follows, on any
        connection, sees every write made so far. Call it before reading for a client."""
        if self._loop is not None and not self._closed and (self._pending or self._saves):
            self._flush()

    def _flush(self) -> None:
        self._soon = False
        if self._lazy is not None:
            self._lazy.cancel()
            self._lazy = None
        batch, self._pending = self._pending, []
        saves, self._saves = self._saves, {}
        waiters, self._save_waiters = self._save_waiters, {}
        if not batch and not saves:
            return
        try:
            self._commit_all(batch, saves)
        except _WRITE_ERRORS:
            # One bad write must not cost the others theirs: write them again one by
            # one, each in its own savepoint, and fail only the writes that fail.
            self._commit_each(batch, saves, waiters)
            return
        except BaseException as exc:  # pragma: no cover - the loop is stopping
            _resolve([f for *_, f in batch if f is not None]
                     + [f for fs in waiters.values() for f in fs], exc)
            raise
        if self._rows is not None:
            self._rows += sum(1 for sql, *_ in batch if sql is _INSERT)
        if self._checkpointer is not None:
            self._checkpointer.committed()
        _resolve([f for *_, f in batch if f is not None]
                 + [f for fs in waiters.values() for f in fs], None)

    def _checkpoint_rest(self) -> None:
        """Copy what the checkpointer's thread left (written since it began) into the file."""
        if self._conn is not None and not self._closed:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _commit_all(self, batch: list[_Op], saves: dict[str, tuple[Any, ...]]) -> None:
        """The whole batch in one transaction; on any error nothing of it is written.

        An invocation inserted in this batch is inserted in its latest state, so a state
        saved in the same batch needs no update of its own; inserts in a row go as one
        ``executemany``.
        """
        conn = self._conn
        assert conn is not None
        conn.execute("BEGIN")
        try:
            rows: list[tuple[Any, ...]] = []
            for sql, params, many, _ in batch:
                if sql is _INSERT:
                    rows.append(_insert_params(params))
                    saves.pop(params.id, None)
                    continue
                if rows:
                    conn.executemany(_INSERT, rows)
                    rows = []
                if many:
                    conn.executemany(sql, params)
                else:
                    conn.execute(sql, params)
            if rows:
                conn.executemany(_INSERT, rows)
            if saves:  # after the inserts they may update
                conn.executemany(_UPDATE, saves.values())
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise

    def _commit_each(self, batch: list[_Op], saves: dict[str, tuple[Any, ...]],
                     waiters: dict[str, list[asyncio.Future[None]]]) -> None:
        """The batch again, one write per savepoint: a failing write is skipped and its
        waiter told, the rest commit together (rows of a multi-row write one by one)."""
        conn = self._conn
        assert conn is not None
        inserted = 0

        def attempt(sql: str, params: Sequence[Any]) -> BaseException | None:
            conn.execute("SAVEPOINT one")
            try:
                conn.execute(sql, params)
            except _WRITE_ERRORS as exc:
                conn.execute("ROLLBACK TO one")
                conn.execute("RELEASE one")
                return exc
            conn.execute("RELEASE one")
            return None

        outcomes: list[tuple[list[asyncio.Future[None]], BaseException | None]] = []
        try:
            conn.execute("BEGIN")
            for sql, params, many, fut in batch:
                rows = list(params) if many else [_params(sql, params)]
                errors = [e for e in (attempt(sql, row) for row in rows) if e is not None]
                if sql is _INSERT and not errors:
                    inserted += 1
                if fut is not None:
                    outcomes.append(([fut], errors[0] if errors else None))
            for inv_id, params in saves.items():
                outcomes.append((waiters.pop(inv_id, []), attempt(_UPDATE, params)))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:  # pragma: no cover - disk full, corruption
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            _resolve([f for *_, f in batch if f is not None]
                     + [f for fs in waiters.values() for f in fs]
                     + [f for fs, _ in outcomes for f in fs], exc)
            return
        if self._rows is not None:
            self._rows += inserted
        for futures, error in outcomes:
            _resolve(futures, error)
        _resolve([f for fs in waiters.values() for f in fs], None)

    def _put(self, sql: str, params: Any, many: bool, wait: bool) -> asyncio.Future[None] | None:
        if self._loop is None:
            # Not started (tools, tests): write synchronously.
            self._rows = None
            conn = self._reader()
            if many:
                conn.executemany(sql, params)
            else:
                conn.execute(sql, _params(sql, params))
            return None
        fut = self._loop.create_future() if wait else None
        self._pending.append((sql, params, many, fut))
        self._schedule(wait)
        return fut

    async def insert(self, inv: Invocation) -> None:
        """Insert a new invocation; returns once it is committed.

        The row holds the invocation's state as it is when the batch is written: the
        caller saves every later change (:meth:`save`), as it would anyway."""
        fut = self._put(_INSERT, inv, False, True)
        if fut is not None:
            await fut

    def insert_nowait(self, inv: Invocation, *, hold: float = 0.0) -> None:
        """Queue an insert without waiting for its commit (later writes still follow it).

        With ``hold``, the row is kept back for up to that many seconds: an invocation
        whose final state is saved within them is written once, in that state, instead
        of inserted and then updated (a quick sync invocation: one row write, not two,
        and no index entry changed twice). Past ``hold`` it is written as it is then,
        and every later state as usual.
        """
        if hold > 0 and self._loop is not None:
            due = self._loop.time() + hold
            self._held[inv.id] = (inv, due)
            timer = self._held_timer
            if timer is None or timer.when() > due:
                if timer is not None:
                    timer.cancel()
                self._held_timer = self._loop.call_at(due, self._release_held)
            return
        self._put(_INSERT, inv, False, False)

    def _release_held(self) -> None:
        """Write the held rows whose time is up; wake again for the next one due."""
        self._held_timer = None
        assert self._loop is not None
        now = self._loop.time()
        held = self._held
        due = [inv_id for inv_id, (_, when) in held.items() if when <= now]
        for inv_id in due:
            self._put(_INSERT, held.pop(inv_id)[0], False, False)
        if held:
            self._held_timer = self._loop.call_at(min(when for _, when in held.values()),
                                                  self._release_held)

    def save(self, inv: Invocation, *, wait: bool = False) -> asyncio.Future[None] | None:
        """Write an invocation's state; with ``wait``, a future resolved at commit.

        States saved before their commit are coalesced: only the latest is written (a
        sync invocation that runs and finishes at once costs one update).
        """
        if self._loop is None:
            return self._put(_UPDATE, _update_params(inv), False, False)
        if self._held and inv.id in self._held:
            if not wait and not inv.terminal:
                return None  # the held insert writes the state it has when written
            del self._held[inv.id]
            return self._put(_INSERT, inv, False, wait)
        self._saves[inv.id] = _update_params(inv)
        fut = None
        if wait:
            fut = self._loop.create_future()
            self._save_waiters.setdefault(inv.id, []).append(fut)
        self._schedule(wait)
        return fut

    def add_logs(self, rows: list[tuple[str, int, str]]) -> None:
        """Append log lines ``(invocation_id, ts_ns, message)`` (not awaited)."""
        if rows:
            self._put(
                "INSERT INTO logs (invocation_id, ts_ns, message) VALUES (?, ?, ?)",
                rows, True, False,
            )

    def execute(self, sql: str, params: Sequence[Any] = ()) -> asyncio.Future[None] | None:
        """Any other write, in the same batches (a future resolved at commit)."""
        return self._put(sql, params, False, True)

    async def flush(self) -> None:
        """Wait until every write queued so far is committed."""
        fut = self._put("SELECT 1", (), False, True)
        if fut is not None:
            await fut

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._loop is not None:
            for inv, _ in self._held.values():
                self._put(_INSERT, inv, False, False)
            self._held.clear()
            if self._held_timer is not None:
                self._held_timer.cancel()
            self._flush()
        if self._checkpointer is not None:
            self._checkpointer.close()
        if self._conn is not None:
            self._conn.close()

    # -- reading (any thread) -----------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    def get(self, invocation_id: str) -> Invocation | None:
        row = self._reader().execute(
            f"SELECT {_COLUMNS} FROM invocations WHERE id=?", (invocation_id,)
        ).fetchone()
        return _row(row) if row else None

    def stored_bytes(self, invocation_id: str) -> int:
        """The size of an invocation's stored payload and output, in bytes, read from the
        row's header (neither is loaded); 0 for an unknown id."""
        conn = self._reader()
        row = conn.execute("SELECT seq FROM invocations WHERE id=?",
                           (invocation_id,)).fetchone()
        if row is None:
            return 0
        total = 0
        for column in ("payload", "output"):
            try:
                with conn.blobopen("invocations", column, row[0], readonly=True) as blob:
                    total += len(blob)
            except sqlite3.OperationalError:
                pass  # NULL (or the row is gone)
        return total

    #: Past this offset, a page is found in two steps: the boundary through a slim index,
    #: then the rows from there (skipping a million full rows costs ~50 ms, index entries ~15).
    DEEP_OFFSET = 1000

    def list(
        self, filters: ListFilters, limit: int, offset: int, *, summary: bool = False
    ) -> tuple[list[Invocation], bool]:
        """Newest first; returns the page and whether more follow.

        ``summary`` leaves ``payload`` and ``output`` out (``None``): a page of those can
        weigh gigabytes, so a caller that needs them fetches them row by row.
        """
        where: list[str] = []
        params: list[Any] = []
        for column in ("app_name", "action_name", "status", "version", "deployment_id"):
            value = getattr(filters, column)
            if value is not None:
                where.append(f"{column}=?")
                params.append(value)
        if filters.since_ns is not None:
            where.append("created_ns>=?")
            params.append(filters.since_ns)
        if filters.query:
            # A prefix of an id, an app name or an action name: three index range scans.
            q = filters.query
            hi = q + "\U0010ffff"
            where.append(
                "seq IN (SELECT seq FROM invocations WHERE id>=? AND id<? "
                "UNION ALL SELECT seq FROM invocations WHERE app_name>=? AND app_name<? "
                "UNION ALL SELECT seq FROM invocations WHERE action_name>=? AND action_name<?)")
            params += [q, hi, q, hi, q, hi]
        conn = self._reader()
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        if offset > self.DEEP_OFFSET:
            seq = None if where else self._seq_at(conn, offset)
            if seq is None:
                hint = "" if where else " INDEXED BY inv_seq"
                row = conn.execute(
                    f"SELECT seq FROM invocations{hint}{clause} ORDER BY seq DESC LIMIT 1 "
                    "OFFSET ?", [*params, offset]).fetchone()
                seq = row[0] if row is not None else -1
            if seq < 0:
                return [], False
            clause = (clause + " AND " if clause else " WHERE ") + "seq<=?"
            params.append(seq)
            offset = 0
        columns = _SUMMARY_COLUMNS if summary else _COLUMNS
        sql = (f"SELECT {columns} FROM invocations{clause} ORDER BY seq DESC LIMIT ? OFFSET ?")
        rows = conn.execute(sql, [*params, limit + 1, offset]).fetchall()
        return [_row(r) for r in rows[:limit]], len(rows) > limit

    def _seq_at(self, conn: sqlite3.Connection, offset: int) -> int | None:
        """The ``seq`` of the row ``offset`` rows from the newest, without walking to it.

        Rows are only ever inserted, so their ``seq`` runs without gaps and the answer is
        arithmetic. That is checked, not assumed: when the span of ``seq`` is not the row
        count (a gap, or a batch committed between the two reads) this returns ``None``
        and the caller walks the index. ``-1`` means past the end.
        """
        rows = self._rows
        if rows is None:
            return None
        lo, hi = conn.execute("SELECT (SELECT min(seq) FROM invocations), "
                              "(SELECT max(seq) FROM invocations)").fetchone()
        if hi is None:
            return -1
        if hi - lo + 1 != rows:
            return None
        return hi - offset if hi - offset >= lo else -1

    def logs(self, invocation_id: str, since_ns: int | None = None) -> list[LogRecord]:
        sql = "SELECT seq, ts_ns, message FROM logs WHERE invocation_id=?"
        params: list[Any] = [invocation_id]
        if since_ns is not None:
            sql += " AND ts_ns>=?"
            params.append(since_ns)
        rows = self._reader().execute(sql + " ORDER BY seq", params).fetchall()
        return [LogRecord(*r) for r in rows]

    def unfinished(self) -> list[Invocation]:
        """Invocations left queued or running (a restart's work), oldest first."""
        rows = self._reader().execute(
            f"SELECT {_COLUMNS} FROM invocations WHERE status IN ('queued', 'running') "
            "ORDER BY seq"
        ).fetchall()
        return [_row(r) for r in rows]

    def run_in_reader(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        return fn(self._reader())


def _owner_only(path: Path) -> None:
    """Tighten a file of this user that others could read (left by an older runner)."""
    with contextlib.suppress(OSError):
        info = path.stat()
        if info.st_mode & 0o077 and info.st_uid == os.geteuid():
            path.chmod(0o600)


def _resolve(waiters: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for fut in waiters:
        if fut.done():
            continue
        if error is None:
            fut.set_result(None)
        else:
            fut.set_exception(RuntimeError(f"store write failed: {error}"))
