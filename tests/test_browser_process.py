"""``browsers.process`` through the official Python SDK: off (403 naming the flag) unless
the runner runs with ``--allow-process``; then exec, spawn, stdin, the output stream,
status, kill and resize on real processes."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from kernel import BadRequestError, Kernel, NotFoundError, PermissionDeniedError

from .conftest import BROWSER_MARKS, RunnerProcess, poll

pytestmark = BROWSER_MARKS


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_the_process_api_is_off_without_the_flag(
        start_runner: Callable[..., RunnerProcess]) -> None:
    runner = start_runner(None, command="serve")
    k = Kernel(base_url=runner.url, api_key="local", max_retries=0)
    browser = k.browsers.create(timeout_seconds=60)
    for call in (lambda: k.browsers.process.exec(browser.session_id, command="id"),
                 lambda: k.browsers.process.spawn(browser.session_id, command="id"),
                 lambda: k.browsers.process.status("p", id_or_name=browser.session_id)):
        with pytest.raises(PermissionDeniedError) as refused:
            call()
        assert refused.value.status_code == 403
        assert "--allow-process" in str(refused.value.body)
        assert refused.value.response.headers["x-should-retry"] == "false"


def test_exec_spawn_stream_stdin_status_kill_and_resize(
        start_runner: Callable[..., RunnerProcess], tmp_path: Path) -> None:
    runner = start_runner(None, "--allow-process", command="serve")
    k = Kernel(base_url=runner.url, api_key="local", max_retries=0)
    bid = k.browsers.create(timeout_seconds=120).session_id
    process = k.browsers.process
    k.browsers.fs.create_directory(bid, path="/work")

    done = process.exec(bid, command="printf", args=["%s|", "a b", "c"], cwd="/work")
    assert done.exit_code == 0 and base64.b64decode(done.stdout_b64 or "") == b"a b|c|"
    shell = process.exec(bid, command="echo out; echo err >&2; pwd; exit 3",
                         env={"X": "1"})
    assert shell.exit_code == 3
    assert base64.b64decode(shell.stderr_b64 or "") == b"err\n"
    out = base64.b64decode(shell.stdout_b64 or "").decode().splitlines()
    assert out[0] == "out"
    assert Path(out[1]).resolve() == (
        tmp_path / "data" / "browsers" / bid / "fs").resolve()  # its file system's root
    slow = process.exec(bid, command="sleep", args=["30"], timeout_sec=1)
    assert slow.exit_code == 137
    with pytest.raises(BadRequestError):
        process.exec(bid, command="/no/such/binary", args=["x"])
    with pytest.raises(BadRequestError):
        process.exec(bid, command="true", cwd="/no/such/dir")

    # A spawned cat echoes its stdin on the stream, then exits when killed.
    spawned = process.spawn(bid, command="cat")
    assert spawned.process_id and spawned.pid
    pid = spawned.process_id
    assert process.status(pid, id_or_name=bid).state == "running"
    got: list[bytes] = []
    exits: list[int | None] = []
    ended = threading.Event()

    def read() -> None:
        for event in process.stdout_stream(pid, id_or_name=bid):
            if event.event == "exit":
                exits.append(event.exit_code)
            elif event.data_b64:
                got.append(base64.b64decode(event.data_b64))
        ended.set()

    threading.Thread(target=read, daemon=True).start()
    assert process.stdin(pid, id_or_name=bid, data_b64=b64(b"ping\n")).written_bytes == 5
    poll(lambda: b"".join(got) == b"ping\n", timeout=20)
    with pytest.raises(BadRequestError):
        process.resize(pid, id_or_name=bid, cols=100, rows=30)  # no terminal
    assert process.kill(pid, id_or_name=bid, signal="TERM").ok
    assert ended.wait(20)
    assert exits == [128 + 15]
    status = process.status(pid, id_or_name=bid)
    assert (status.state, status.exit_code) == ("exited", 143)
    # A late reader gets the whole output, then the exit.
    late = [e for e in process.stdout_stream(pid, id_or_name=bid)]
    assert base64.b64decode(late[0].data_b64 or "") == b"ping\n" and late[-1].event == "exit"

    # A terminal: its size is what stty reports, and resize changes it.
    tty = process.spawn(bid, command="stty size; read x; stty size", allocate_tty=True,
                        cols=90, rows=33).process_id
    assert tty
    chunks: list[bytes] = []
    tty_ended = threading.Event()

    def read_tty() -> None:
        for event in process.stdout_stream(tty, id_or_name=bid):
            if event.data_b64:
                chunks.append(base64.b64decode(event.data_b64))
        tty_ended.set()

    threading.Thread(target=read_tty, daemon=True).start()
    poll(lambda: b"33 90" in b"".join(chunks), timeout=20)
    assert process.resize(tty, id_or_name=bid, cols=120, rows=40).ok
    process.stdin(tty, id_or_name=bid, data_b64=b64(b"\n"))
    poll(lambda: b"40 120" in b"".join(chunks), timeout=20)
    assert tty_ended.wait(20)

    with pytest.raises(NotFoundError):
        process.status("no-such-process", id_or_name=bid)
    with pytest.raises(BadRequestError):
        process.kill(pid, id_or_name=bid, signal="STOP")  # type: ignore[arg-type]

    # Closing the browser kills what it still runs.
    survivor = process.spawn(bid, command="sleep", args=["300"]).pid
    assert survivor and Path(f"/proc/{survivor}").exists()
    k.browsers.delete_by_id(bid)
    poll(lambda: not Path(f"/proc/{survivor}").exists() or b"Z" in Path(
        f"/proc/{survivor}/stat").read_bytes().split(b")")[1][:3], timeout=20)
