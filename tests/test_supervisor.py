"""The process supervisor on its own: how it starts, tracks and ends processes."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from kernel_actions.runner.supervisor import (
    OWNER_ENV,
    RECORD_FILE,
    SpawnError,
    Supervisor,
    process_start_time,
)

from .helpers import poll


def alive(pid: int) -> bool:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return raw[raw.rfind(")") + 2] != "Z"


def test_descriptors_land_on_the_numbers_asked_for_and_nothing_else_leaks(
        tmp_path: Path) -> None:
    sup = Supervisor()
    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()
    leak_r, leak_w = os.pipe()
    os.set_inheritable(leak_w, True)  # an inheritable fd of the runner's must not reach it
    src_r, src_w = os.dup(to_child_r) + 20, os.dup(from_child_w) + 20
    os.dup2(to_child_r, src_r, inheritable=False)
    os.dup2(from_child_w, src_w, inheritable=False)
    try:
        with open(tmp_path / "out", "wb") as out:
            child = sup.spawn(
                ["sh", "-c", 'read line <&3; echo "got $line" >&4; for fd in 3 4 '
                 f'{leak_w} {src_r} {src_w}; do [ -e /proc/$$/fd/$fd ] && echo $fd; done; true'],
                fd_map={3: src_r, 4: src_w}, stdout=out)
        os.write(to_child_w, b"hello\n")
        assert os.read(from_child_r, 100) == b"got hello\n"
        assert child.wait(30) == 0
        assert (tmp_path / "out").read_text().split() == ["3", "4"]
    finally:
        for fd in (to_child_r, to_child_w, from_child_r, from_child_w, leak_r, leak_w,
                   src_r, src_w):
            os.close(fd)


def test_a_started_process_carries_its_owner_and_its_setsid_grandchild_goes_with_it(
        tmp_path: Path) -> None:
    sup = Supervisor()
    pid_file = tmp_path / "pid"
    # The shell puts `setsid sleep` in a session of its own and exits: an orphan.
    child = sup.spawn(["sh", "-c", f"setsid sleep 300 & echo $! > {pid_file}"], name="probe")
    assert child.wait(30) == 0
    grandchild = int(poll(lambda: pid_file.exists() and pid_file.read_text().strip(),
                          timeout=10))  # type: ignore[arg-type]
    assert alive(grandchild)
    # Read once it has exec'd `sleep` (mid-exec a process's environment reads empty).
    token = f"{OWNER_ENV}={child.owner}".encode()
    poll(lambda: token in Path(f"/proc/{grandchild}/environ").read_bytes().split(b"\0"),
         timeout=10)
    assert sup.owned_by({child.owner}) == [grandchild]
    assert sup.kill_owner(child.owner) == [grandchild]
    poll(lambda: not alive(grandchild), timeout=10)
    assert sup.children() == []  # the shell was reaped and forgotten


def test_what_a_crashed_runner_left_is_killed_by_the_next_one_on_its_data_dir(
        tmp_path: Path) -> None:
    # A "runner" that records what it starts, then dies without stopping anything.
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from kernel_actions.runner.supervisor import supervisor\n"
        "supervisor.attach(Path(sys.argv[1]))\n"
        "supervisor.spawn(['sleep', '300'], name='tool')\n"
        "supervisor.spawn(['sh', '-c', 'setsid sleep 300 & wait'], name='shell')\n"
        "print('started', flush=True)\n"
        "time.sleep(300)\n")
    crashed = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)],
                               stdout=subprocess.PIPE, text=True)
    try:
        assert crashed.stdout is not None and crashed.stdout.readline() == "started\n"
        record = json.loads((tmp_path / RECORD_FILE).read_text())
        assert record["runner"][0] == crashed.pid
        assert sorted(e[2] for e in record["children"]) == ["shell", "tool"]
        sup = Supervisor()
        assert sup.kill_leftovers(tmp_path) == []  # that runner is alive: hands off
        crashed.kill()
        crashed.wait(10)
        owners = set(record["owners"])
        # sleep, sh and its setsid sleep (which the shell may still be starting)
        def all_three() -> list[int] | None:
            found = sup.owned_by(owners)
            return found if len(found) >= 3 else None

        left = poll(all_three, timeout=10)
        assert isinstance(left, list)
        killed = sup.kill_leftovers(tmp_path)
        assert {entry[0] for entry in record["children"]} <= set(killed)
        poll(lambda: not sup.owned_by(owners), timeout=10)
    finally:
        crashed.kill()
        crashed.wait(10)


def test_a_start_that_never_reaches_exec_is_killed_at_its_deadline(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A child stuck between fork and exec (what a lock copied by fork does) is killed
    when the start's deadline passes, and the start fails instead of waiting forever."""
    sup = Supervisor()
    release = threading.Event()

    def stuck_spawn(argv: list[str], **options: object) -> object:
        pid = os.fork()  # the test's own stand-in for a child that never exec's
        if pid == 0:
            while True:
                signal.pause()
        try:
            status = os.waitpid(pid, 0)[1]
            release.set()
            return status
        except ChildProcessError:
            return None

    monkeypatch.setattr(sup, "spawn", stuck_spawn)

    async def main() -> None:
        with pytest.raises(SpawnError, match="did not start within 0.5 s .its stuck child"):
            await sup.start(["chromium"], deadline=0.5)

    asyncio.run(main())
    assert release.wait(10)  # the stuck child was killed, so its waiter returned


def test_streams_and_another_user() -> None:
    sup = Supervisor()

    async def main() -> tuple[bytes, bytes, int, bytes]:
        proc = await sup.start_process(["sh", "-c", "cat; echo err >&2; exit 3"])
        out, err = await proc.communicate(b"in")
        code = proc.returncode
        assert code is not None
        as_nobody = b""
        if os.geteuid() == 0 and shutil.which("setpriv"):
            other = await sup.start_process(["id", "-u"], user=65534, stdin=None)
            as_nobody, _ = await other.communicate()
        return out, err, code, as_nobody

    out, err, code, as_nobody = asyncio.run(main())
    assert (out, err, code) == (b"in", b"err\n", 3)
    if os.geteuid() == 0 and shutil.which("setpriv"):
        assert as_nobody == b"65534\n"


def test_start_time_names_a_process() -> None:
    assert process_start_time(os.getpid()) == process_start_time(os.getpid())
    assert process_start_time(2**22 + 12345) is None
    sup = Supervisor()
    child = sup.spawn(["sleep", "300"])
    try:
        assert child.started == process_start_time(child.pid)
        assert [c.pid for c in sup.children()] == [child.pid]
    finally:
        child.kill()
        assert child.wait(10) == -signal.SIGKILL
    assert sup.children() == []


def test_reaping_orphans_beside_starts_never_takes_a_child_being_started() -> None:
    """A child exists a moment before it is tracked: reaping orphans on another thread
    then must neither kill it (its owner counts as live) nor reap it."""
    sup = Supervisor()
    stop = threading.Event()

    def reap() -> None:
        while not stop.is_set():
            sup.reap_orphans()

    reaper = threading.Thread(target=reap)
    reaper.start()
    children = []
    try:
        for _ in range(60):
            children.append(sup.spawn(["sh", "-c", "exit 7"]))
            children.append(sup.spawn(["sleep", "300"]))
    finally:
        stop.set()
        reaper.join(30)
    try:
        assert [c.wait(30) for c in children[::2]] == [7] * 60  # statuses not taken
        assert all(c.poll() is None for c in children[1::2])  # none killed
    finally:
        for child in children[1::2]:
            child.kill()
            child.wait(10)
