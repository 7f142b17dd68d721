"""An answer is a promise: 16 clients of the official SDK hammer an echo action (sync, and
one call in four async), the runner is killed with ``kill -9`` mid-load, and a runner
restarted on the same data dir holds every invocation a client was answered about, sync
ones in the very state (and output) they were answered with. Five rounds."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from kernel import APIConnectionError, APIStatusError, Kernel

from .conftest import RunnerProcess
from .helpers import all_invocations, poll

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="kill -9")

CLIENTS = 16
ROUNDS = 5


class Hammer:
    """``CLIENTS`` threads, each with its own SDK client, creating invocations until the
    runner stops answering; what each was answered is kept."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.lock = threading.Lock()
        #: id -> (async?, status answered, output answered)
        self.answered: dict[str, tuple[bool, str, str | None]] = {}
        self.errors: list[str] = []
        self.threads = [threading.Thread(target=self.client, args=(n,), daemon=True)
                        for n in range(CLIENTS)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def count(self) -> int:
        with self.lock:
            return len(self.answered)

    def client(self, n: int) -> None:
        kernel = Kernel(base_url=self.url, api_key="local", max_retries=0, timeout=30)
        i = 0
        while True:
            i += 1
            is_async = i % 4 == 0
            payload = json.dumps({"client": n, "call": i})
            try:
                inv = kernel.invocations.create(app_name="conformance", action_name="echo",
                                                version="latest", payload=payload,
                                                async_=is_async)
            except APIConnectionError:
                return  # the runner is gone: an unanswered call is no promise
            except APIStatusError as exc:  # pragma: no cover - the test fails on it
                with self.lock:
                    self.errors.append(f"{exc.status_code}: {exc.body}")
                return
            with self.lock:
                self.answered[inv.id] = (is_async, inv.status, inv.output)

    def join(self) -> None:
        for thread in self.threads:
            thread.join(60)
            assert not thread.is_alive(), "a client never returned"


def test_no_answered_invocation_is_lost_to_kill_9(start_runner: Callable[..., RunnerProcess],
                                                 app_copy: Callable[[str], Path],
                                                 tmp_path: Path) -> None:
    entry = app_copy("conformance_app.py")
    data = tmp_path / "data"
    told = missing = 0
    for round_ in range(ROUNDS):
        runner = start_runner(entry, cwd=entry.parent, data_dir=data)
        hammer = Hammer(runner.url or "")
        hammer.start()
        # Mid-load: every client has calls answered and one in flight.
        target = 150 + 50 * round_
        poll(lambda h=hammer, n=target: h.count() >= n, timeout=120, interval=0.005)
        runner.kill()
        hammer.join()
        assert hammer.errors == []
        restarted = start_runner(entry, cwd=entry.parent, data_dir=data)
        with restarted.client() as c:
            rows = {row["id"]: row for row in all_invocations(c)}
        for inv_id, (is_async, status, output) in hammer.answered.items():
            told += 1
            row = rows.get(inv_id)
            if row is None:
                missing += 1
                continue
            if not is_async:
                assert (row["status"], row["output"]) == (status, output), row
            else:
                assert status == "queued"
        assert missing == 0, f"{missing} of {len(hammer.answered)} answered invocations lost"
        restarted.stop()
    assert told >= ROUNDS * 150
