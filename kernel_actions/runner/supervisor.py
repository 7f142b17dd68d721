"""The one place the runner starts a process, and the one that knows what it started.

Why it exists: the runner is a threaded process (replay encoders, display grabbers, the
store's checkpointer), and a ``fork()`` of a threaded process copies every lock some
other thread held at that moment, with no thread left to release it. Any Python that
runs in the child before ``exec`` (a ``preexec_fn``, ``PyOS_AfterFork_Child``, uvloop's
after-fork hook: uvloop issue #749) may touch such a lock (freeing a PyAV object waits
on FFmpeg's) and hang forever, and with it the parent, which waits on the child's exec
pipe. So every process here starts on a path that runs no Python in the child:

* ``subprocess.Popen`` without ``preexec_fn`` (CPython then uses ``vfork`` and plain C
  between it and ``exec``; ``start_new_session``, ``pass_fds`` and ``cwd`` are done
  there too). Another user is taken through ``setpriv`` rather than ``user=``, which
  would make CPython ``fork`` (and run every ``pthread_atfork`` handler);
* ``os.posix_spawn`` when descriptors must land on given numbers (Chromium's DevTools
  pipe on fds 3 and 4): ``dup2`` file actions, no Python at all.

Never ``asyncio.create_subprocess_exec`` (uvloop's runs its after-fork hook) and never
``os.fork``: ``tests/test_processes_start_in_one_place.py`` fails if a runner module does.

Starting happens off the event loop, on the supervisor's own threads (long-lived ones:
``PR_SET_PDEATHSIG`` fires when the *thread* that started a child ends), within a
deadline: a start that has not returned by then has its un-exec'd child killed and fails
with a clear error instead of waiting.

What it started, it tracks: pid and start time (the pair that names a process even after
its pid is reused), a name, and an *owner* token put in the child's environment
(``KERNEL_ACTIONS_OWNER``), which whatever the child starts inherits, ``setsid`` or not.
The runner is a child subreaper, so an orphan of anything it started comes back to it
rather than to init; :meth:`Supervisor.kill_owner` kills every process that carries a
token (a worker's whole tree when the worker ends, a browser's when it closes), and
:meth:`Supervisor.stop` every group it started. The record lives in the data dir
(``processes.json``), so the next runner on it kills what a crashed one left.

Linux is the platform this targets; elsewhere it starts and stops processes the same
way and the ``/proc``-based parts (owners, leftovers) find nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

__all__ = ["Child", "Process", "Supervisor", "SpawnError", "supervisor", "OWNER_ENV",
           "RECORD_FILE", "PIPE", "DEVNULL", "STDOUT", "process_start_time", "new_owner",
           "kill_if_named", "process_stat", "command_line", "is_runner"]

PIPE = subprocess.PIPE
DEVNULL = subprocess.DEVNULL
STDOUT = subprocess.STDOUT
#: The environment variable that carries a process's owner token to all it starts.
OWNER_ENV = "KERNEL_ACTIONS_OWNER"
#: The record of what the runner started, in its data dir.
RECORD_FILE = "processes.json"
#: How long one start may take before its child is killed and the start fails.
START_DEADLINE_S = 10.0
#: How many starts may be in progress at once.
SPAWN_THREADS = 4
_PROC = Path("/proc")
_PR_SET_CHILD_SUBREAPER = 36
T = TypeVar("T")


class SpawnError(OSError):
    """A process could not be started (the message says which and why)."""


def process_start_time(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot (``None`` when it is gone)."""
    try:
        raw = (_PROC / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    try:
        return int(raw[raw.rfind(b")") + 2:].split()[19])
    except (IndexError, ValueError):
        return None


def process_stat(pid: int) -> tuple[str, int, int] | None:
    """``(state, ppid, pgrp)`` of a process, or ``None`` when it is gone."""
    try:
        raw = (_PROC / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2:].split()
    try:
        return fields[0].decode(), int(fields[1]), int(fields[2])
    except (IndexError, ValueError):
        return None


def _pids() -> list[int]:
    try:
        return [int(name) for name in os.listdir(_PROC) if name.isdigit()]
    except OSError:
        return []


def _owner_of(pid: int) -> str | None:
    """The owner token in a process's environment (``None``: none, or not ours to read)."""
    try:
        environ = (_PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return None
    key = OWNER_ENV.encode() + b"="
    for entry in environ.split(b"\0"):
        if entry.startswith(key):
            return entry[len(key):].decode(errors="replace")
    return None


_owner_counter = iter(range(1, sys.maxsize))
_owner_lock = threading.Lock()


def new_owner(prefix: str = "") -> str:
    """A fresh owner token, unique in this runner and across runners (pid and time)."""
    with _owner_lock:
        n = next(_owner_counter)
    return f"{prefix or 'p'}.{os.getpid()}.{time.time_ns():x}.{n}"


def _kill(pid: int, group: bool, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


@dataclass(eq=False)
class Child:
    """One process the supervisor started."""

    pid: int
    name: str
    #: Its start time (see :func:`process_start_time`): with ``pid``, its identity.
    started: int | None
    #: Whether it leads its own process group (then signals go to the whole group).
    group: bool
    owner: str
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    returncode: int | None = None
    _supervisor: Supervisor | None = field(default=None, repr=False)

    def poll(self) -> int | None:
        """Its exit status once it ended (reaped then), else ``None``; as ``Popen.poll``."""
        if self.returncode is not None:
            return self.returncode
        if self.popen is not None:
            code = self.popen.poll()
        else:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                pid, status = self.pid, 0
            code = os.waitstatus_to_exitcode(status) if pid == self.pid else None
        if code is not None:
            self.returncode = code
            if self._supervisor is not None:
                self._supervisor._ended(self)
        return code

    def wait(self, timeout: float | None = None) -> int:
        """Block until it ends (``subprocess.TimeoutExpired`` after ``timeout``)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        interval = 0.001
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(self.name, timeout or 0)
            time.sleep(interval)
            interval = min(interval * 2, 0.05)
        return code

    async def wait_async(self, interval: float = 0.002) -> int:
        """Wait on the event loop until it ends: a pidfd where Linux has one, else polls."""
        import asyncio

        if (code := self.poll()) is not None:
            return code
        loop = asyncio.get_running_loop()
        pidfd = -1
        with contextlib.suppress(OSError, AttributeError):
            pidfd = os.pidfd_open(self.pid)
        if pidfd >= 0:
            try:
                while (code := self.poll()) is None:
                    readable = loop.create_future()
                    loop.add_reader(pidfd, lambda f=readable: f.done() or f.set_result(None))
                    try:
                        # A bounded wait: a pidfd that never reports (it should) costs a poll.
                        await asyncio.wait_for(asyncio.shield(readable), 1.0)
                    except TimeoutError:
                        pass
                    finally:
                        loop.remove_reader(pidfd)
                return code
            finally:
                os.close(pidfd)
        while (code := self.poll()) is None:
            await asyncio.sleep(interval)
            interval = min(interval * 2, 0.1)
        return code

    @property
    def alive(self) -> bool:
        return self.poll() is None

    def signal(self, sig: int) -> None:
        """Send ``sig`` to it (its whole group when it leads one), unless it was reaped."""
        if self.poll() is None:
            _kill(self.pid, self.group, sig)

    def send_signal(self, sig: int) -> None:
        """Send ``sig`` to it alone (not its group), as ``Popen.send_signal`` does."""
        if self.poll() is None:
            _kill(self.pid, False, sig)

    def kill(self) -> None:
        """SIGKILL it, with its group when it leads one."""
        self.signal(signal.SIGKILL)

    def stop(self, grace: float = 2.0) -> int:
        """SIGTERM, then SIGKILL if it lingers ``grace`` s; reaped; blocking."""
        if self.poll() is not None:
            return self.returncode or 0
        self.signal(signal.SIGTERM)
        try:
            return self.wait(grace)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.wait()


class Process:
    """A child with asyncio streams, used as ``asyncio.subprocess.Process`` is."""

    def __init__(self, child: Child, stdin: asyncio.StreamWriter | None,
                 stdout: asyncio.StreamReader | None, stderr: asyncio.StreamReader | None
                 ) -> None:
        self.child = child
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr

    @property
    def pid(self) -> int:
        return self.child.pid

    @property
    def returncode(self) -> int | None:
        return self.child.poll()

    async def wait(self) -> int:
        return await self.child.wait_async()

    def kill(self) -> None:
        self.child.kill()

    def send_signal(self, sig: int) -> None:
        self.child.signal(sig)

    async def communicate(self, input: bytes | None = None) -> tuple[bytes, bytes]:
        import asyncio

        async def feed() -> None:
            if self.stdin is None:
                return
            if input:
                self.stdin.write(input)
                with contextlib.suppress(ConnectionError):
                    await self.stdin.drain()
            self.stdin.close()

        async def read(stream: asyncio.StreamReader | None) -> bytes:
            return b"" if stream is None else await stream.read()

        _, out, err = await asyncio.gather(feed(), read(self.stdout), read(self.stderr))
        await self.wait()
        return out, err


class Supervisor:
    """Starts, tracks, reaps and stops every process of this runner. One per process
    (:data:`supervisor`), since children are per process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._children: dict[int, Child] = {}
        self._executor: ThreadPoolExecutor | None = None
        #: Where the record is kept (one file per data dir a runner in this process uses).
        self._records: set[Path] = set()
        #: Owner tokens in use (a live child carries each); orphans of others are killed.
        self._owners: dict[str, int] = {}
        #: Starts under way (their children exist before they are tracked).
        self._spawning = 0
        self.subreaper = False
        self._setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None

    # -- setting up ----------------------------------------------------------------------

    def attach(self, data_dir: Path) -> list[int]:
        """Keep the record in ``data_dir``, after killing what a crashed runner that used
        it left (returns those pids); become a child subreaper."""
        killed = self.kill_leftovers(data_dir)
        with self._lock:
            self._records.add(data_dir / RECORD_FILE)
        self._write_record()
        self.become_subreaper()
        return killed

    def detach(self, data_dir: Path) -> None:
        """Stop keeping the record in ``data_dir`` (its runner stopped cleanly)."""
        path = data_dir / RECORD_FILE
        with self._lock:
            self._records.discard(path)
        with contextlib.suppress(OSError):
            path.unlink()

    def become_subreaper(self) -> bool:
        """Orphans of what this process started come back to it (Linux 3.4+)."""
        if self.subreaper or not sys.platform.startswith("linux"):
            return self.subreaper
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            self.subreaper = libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
        except (OSError, AttributeError):
            self.subreaper = False
        return self.subreaper

    # -- starting ------------------------------------------------------------------------

    def spawn(self, argv: Sequence[str], *, name: str | None = None,
              cwd: str | Path | None = None, env: Mapping[str, str] | None = None,
              stdin: int | IO[Any] | None = DEVNULL, stdout: int | IO[Any] | None = None,
              stderr: int | IO[Any] | None = None, pass_fds: Iterable[int] = (),
              fd_map: Mapping[int, int] | None = None, new_session: bool = True,
              user: int | None = None, owner: str | None = None) -> Child:
        """Start ``argv`` now, on this thread (blocking: from the event loop use
        :meth:`start`). ``fd_map`` ``{target: source}`` puts descriptors on given numbers
        (then ``os.posix_spawn``; ``cwd`` and pipes are not available there).
        ``user``: run as that uid (through ``setpriv``). ``owner``: the token its tree
        carries (a new one by default)."""
        owner = owner or new_owner(name or "")
        full_env = dict(os.environ if env is None else env)
        full_env[OWNER_ENV] = owner
        argv = list(argv)
        name = name or os.path.basename(argv[0])
        if user is not None and user != os.geteuid():
            argv = self._as_user(user, argv)
        popen: subprocess.Popen[bytes] | None = None
        # Its owner counts as live (and a start as under way) before the child exists, so
        # reap_orphans on another thread never takes the new child, untracked for a moment,
        # for an orphan whose owner has gone.
        with self._lock:
            self._owners[owner] = self._owners.get(owner, 0) + 1
            self._spawning += 1
        try:
            if fd_map:
                pid = self._posix_spawn(argv, full_env, fd_map, stdout, new_session)
            else:
                popen = subprocess.Popen(
                    argv, cwd=cwd, env=full_env, stdin=stdin, stdout=stdout, stderr=stderr,
                    pass_fds=tuple(pass_fds), start_new_session=new_session)
                pid = popen.pid
        except BaseException as exc:
            with self._lock:
                self._spawning -= 1
                self._release_owner(owner)
            if isinstance(exc, OSError):
                raise SpawnError(exc.errno, f"cannot start {argv[0]}: {exc.strerror or exc}"
                                 ) from None
            raise
        child = Child(pid, name, process_start_time(pid), new_session, owner, popen,
                      _supervisor=self)
        with self._lock:
            self._children[pid] = child
            self._spawning -= 1
        self._write_record()
        return child

    def _release_owner(self, owner: str) -> None:
        """One process fewer carries ``owner`` (call with the lock held)."""
        left = self._owners.get(owner, 1) - 1
        if left > 0:
            self._owners[owner] = left
        else:
            self._owners.pop(owner, None)

    def _as_user(self, uid: int, argv: list[str]) -> list[str]:
        if self._setpriv is None:
            raise SpawnError(0, "running as another user needs setpriv (util-linux)")
        import pwd

        entry = pwd.getpwuid(uid)
        return [self._setpriv, f"--reuid={uid}", f"--regid={entry.pw_gid}", "--clear-groups",
                "--", *argv]

    @staticmethod
    def _posix_spawn(argv: list[str], env: dict[str, str], fd_map: Mapping[int, int],
                     output: int | IO[Any] | None, new_session: bool) -> int:
        path = argv[0] if os.sep in argv[0] else shutil.which(argv[0])
        if path is None:
            raise FileNotFoundError(2, "No such file or directory", argv[0])
        actions: list[tuple[Any, ...]] = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)]
        if output is not None:
            out_fd = output if isinstance(output, int) else output.fileno()
            actions += [(os.POSIX_SPAWN_DUP2, out_fd, 1), (os.POSIX_SPAWN_DUP2, out_fd, 2)]
        sources = set(fd_map.values())
        if sources & set(fd_map):
            raise ValueError("fd_map: a source descriptor must not also be a target")
        actions += [(os.POSIX_SPAWN_DUP2, source, target) for target, source in fd_map.items()]
        # Every other inheritable descriptor closed: the child gets 0-2 and the map only.
        keep = {0, 1, 2, *fd_map}
        for fd in _inheritable_fds():
            if fd not in keep:
                actions.append((os.POSIX_SPAWN_CLOSE, fd))
        actions += [(os.POSIX_SPAWN_CLOSE, fd) for fd in sources]
        return os.posix_spawn(path, argv, env, file_actions=actions, setsid=new_session,
                              setsigdef=(signal.SIGPIPE, signal.SIGXFSZ), setsigmask=())

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                from concurrent.futures import ThreadPoolExecutor

                # Long-lived threads: a child's PR_SET_PDEATHSIG fires when the thread that
                # started it ends, so these never end while the runner runs.
                self._executor = ThreadPoolExecutor(SPAWN_THREADS, "spawn")
            return self._executor

    async def start(self, argv: Sequence[str], *, deadline: float = START_DEADLINE_S,
                    **options: Any) -> Child:
        """:meth:`spawn` off the event loop, failing with :class:`SpawnError` (its child
        killed) if it has not started within ``deadline`` seconds."""
        def abandon(child: Child) -> None:
            child.kill()
            child.wait()

        return await self.off_loop(lambda: self.spawn(argv, **options), what=argv[0],
                                   deadline=deadline, abandon=abandon)

    async def off_loop(self, start: Callable[[], T], *, what: str,
                       deadline: float = START_DEADLINE_S,
                       abandon: Callable[[T], None] | None = None) -> T:
        """Run ``start`` (something that starts processes through :meth:`spawn`) on the
        supervisor's threads. Past ``deadline`` the children that never reached ``exec``
        are killed and :class:`SpawnError` raised; a result that comes later still is
        given to ``abandon``."""
        import asyncio

        loop = asyncio.get_running_loop()
        abandoned = threading.Event()

        def run() -> T:
            result = start()
            if abandoned.is_set() and abandon is not None:  # too late: nobody will use it
                abandon(result)
            return result

        future = loop.run_in_executor(self._pool(), run)
        try:
            return await asyncio.wait_for(asyncio.shield(future), deadline)
        except TimeoutError:
            abandoned.set()
            killed = self._kill_unexeced(older_than=deadline * 0.9)
            raise SpawnError(0, f"{what} did not start within {deadline:g} s"
                             f"{' (its stuck child was killed)' if killed else ''}") from None

    async def start_process(self, argv: Sequence[str], *, stdin: int | None = PIPE,
                            stdout: int | None = PIPE, stderr: int | None = PIPE,
                            limit: int = 2**16, **options: Any) -> Process:
        """:meth:`start` with the pipes asked for as asyncio streams (``PIPE``)."""
        import asyncio

        child = await self.start(argv, stdin=stdin, stdout=stdout, stderr=stderr, **options)
        popen = child.popen
        assert popen is not None
        loop = asyncio.get_running_loop()
        try:
            writer = None
            if popen.stdin is not None:
                protocol = asyncio.StreamReaderProtocol(asyncio.StreamReader(loop=loop))
                transport, _ = await loop.connect_write_pipe(lambda: protocol, popen.stdin)
                writer = asyncio.StreamWriter(transport, protocol, None, loop)
            readers: list[asyncio.StreamReader | None] = []
            for pipe in (popen.stdout, popen.stderr):
                if pipe is None:
                    readers.append(None)
                    continue
                reader = asyncio.StreamReader(limit=limit, loop=loop)
                await loop.connect_read_pipe(
                    lambda r=reader: asyncio.StreamReaderProtocol(r), pipe)
                readers.append(reader)
        except BaseException:
            child.kill()
            raise
        return Process(child, writer, readers[0], readers[1])

    def _kill_unexeced(self, older_than: float) -> list[int]:
        """Kill children of this process that forked but never exec'd (they still run
        this program with this command line), are not tracked, and started at least
        ``older_than`` seconds ago (a start under way on another thread is younger)."""
        try:
            mine = (_PROC / "self" / "cmdline").read_bytes()
            uptime = float((_PROC / "uptime").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return []
        ticks = os.sysconf("SC_CLK_TCK")
        me = os.getpid()
        killed = []
        for pid in _pids():
            info = process_stat(pid)
            if info is None or info[1] != me or pid in self._children:
                continue
            started = process_start_time(pid)
            if started is None or uptime - started / ticks < older_than:
                continue
            with contextlib.suppress(OSError):
                if (_PROC / str(pid) / "cmdline").read_bytes() == mine:
                    _kill(pid, False)
                    killed.append(pid)
        return killed

    # -- tracking ------------------------------------------------------------------------

    def _ended(self, child: Child) -> None:
        with self._lock:
            if self._children.get(child.pid) is not child:
                return
            del self._children[child.pid]
            self._release_owner(child.owner)
        self._write_record()

    def children(self) -> list[Child]:
        with self._lock:
            return list(self._children.values())

    def _write_record(self) -> None:
        with self._lock:
            paths = list(self._records)
            if not paths:
                return
            entries = [[c.pid, c.started, c.name, c.group, c.owner]
                       for c in self._children.values()]
            owners = sorted(self._owners)
        body = {"runner": [os.getpid(), process_start_time(os.getpid())],
                "children": entries, "owners": owners}
        text = json.dumps(body)
        for path in paths:
            tmp = path.with_name(f".{path.name}.{threading.get_ident()}")
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(text)
                os.replace(tmp, path)
            except OSError:
                with contextlib.suppress(OSError):
                    tmp.unlink()

    # -- ending --------------------------------------------------------------------------

    def owned_by(self, owners: set[str] | Callable[[str], bool]) -> list[int]:
        """Live processes (not this one) whose owner token is in ``owners``."""
        test = owners if callable(owners) else owners.__contains__
        me = os.getpid()
        found = []
        for pid in _pids():
            if pid == me:
                continue
            owner = _owner_of(pid)
            if owner is not None and test(owner):
                info = process_stat(pid)
                if info is not None and info[0] != "Z":
                    found.append(pid)
        return found

    def kill_owner(self, owner: str) -> list[int]:
        """SIGKILL every process that carries ``owner`` (and reap those that are ours)."""
        killed = self.owned_by({owner})
        for pid in killed:
            _kill(pid, False)
        self.reap_orphans()
        return killed

    def reap_orphans(self) -> list[int]:
        """Reap untracked children that exited (orphans adopted as a subreaper), and kill
        adopted orphans whose owner has no live process left."""
        me = os.getpid()
        reaped = []
        for pid in _pids():
            info = process_stat(pid)
            if info is None or info[1] != me:
                continue
            owner = _owner_of(pid) if info[0] != "Z" else None
            # Decided under the lock: a child being started exists a moment before it is
            # tracked, and then a start is under way (and its owner counted as live).
            with self._lock:
                if pid in self._children or self._spawning:
                    continue
                if info[0] != "Z":
                    if owner is not None and owner not in self._owners:
                        _kill(pid, False)
                    continue
                with contextlib.suppress(ChildProcessError):
                    if os.waitpid(pid, os.WNOHANG)[0] == pid:
                        reaped.append(pid)
        return reaped

    def stop(self) -> None:
        """Kill every process this runner started, with their groups and owned trees."""
        children = self.children()
        owners = {c.owner for c in children}
        for child in children:
            child.kill()
        for pid in self.owned_by(owners):
            _kill(pid, False)
        for child in children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(2.0)
        self.reap_orphans()

    def kill_leftovers(self, data_dir: Path) -> list[int]:
        """Kill what a runner that crashed on ``data_dir`` started: each recorded process
        still alive with the same start time (its group too), and every process carrying
        one of its owner tokens."""
        path = data_dir / RECORD_FILE
        try:
            body = json.loads(path.read_text())
            runner_pid, runner_started = body["runner"]
            entries = body.get("children", [])
            owners = set(body.get("owners", []))
        except (OSError, ValueError, TypeError, KeyError):
            return []
        if runner_pid == os.getpid():
            return []
        if runner_started is not None and process_start_time(runner_pid) == runner_started:
            return []  # that runner is alive: what it runs is its own
        killed = []
        for entry in entries:
            try:
                pid, started, _name, group, owner = entry
            except (TypeError, ValueError):
                continue
            owners.add(str(owner))
            if isinstance(pid, int) and started is not None and (
                    process_start_time(pid) == started):
                _kill(pid, bool(group) and process_stat(pid) is not None and process_stat(pid)[2] == pid)
                killed.append(pid)
        for pid in self.owned_by(owners):
            _kill(pid, False)
            killed.append(pid)
        self.reap_orphans()
        return sorted(set(killed))


def command_line(pid: int) -> str:
    """A process's command line, its arguments joined by spaces ("" when it is gone, a
    zombie, or not ours to read)."""
    try:
        raw = (_PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def is_runner(pid: int) -> bool:
    """Whether ``pid`` is a live kernel-actions process (a runner sharing a data folder)."""
    cmd = command_line(pid)
    return "kernel_actions" in cmd or "kernel-actions" in cmd


def kill_if_named(pid: int, marker: str) -> bool:
    """SIGKILL ``pid`` (its group when it leads one) if its command line contains ``marker``:
    for a pid a file kept, which may by now name another process."""
    if marker not in command_line(pid):
        return False
    info = process_stat(pid)
    _kill(pid, info is not None and info[2] == pid)
    return True


def _inheritable_fds() -> list[int]:
    """This process's descriptors above stderr that a child would inherit."""
    found = []
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return found
    for name in names:
        fd = int(name)
        if fd <= 2:
            continue
        with contextlib.suppress(OSError):
            if os.get_inheritable(fd):
                found.append(fd)
    return found


#: This process's supervisor.
supervisor = Supervisor()
