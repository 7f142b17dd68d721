"""The runner's log lines: the lines of one loop turn leave together, in order, and
nothing written is lost (off the loop, lines leave at once)."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable

from kernel_actions.cli.runner_log import MIN_INTERVAL, runner_output


class CountingStream(io.StringIO):
    """A text stream that counts the writes it gets."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def test_lines_of_one_turn_leave_in_one_write_in_order() -> None:
    stream = CountingStream()
    out = runner_output(stream)

    async def main() -> None:
        for n in range(3):
            out(f"succeeded bench/add {n}")
        assert stream.getvalue() == ""  # held until the turn ends
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert stream.getvalue() == "".join(f"succeeded bench/add {n}\n" for n in range(3))
        assert stream.writes == 1
        out("reloaded")
        await until(lambda: stream.getvalue().endswith("succeeded bench/add 2\nreloaded\n"))
        assert stream.writes == 2

    asyncio.run(main())


async def until(condition: Callable[[], bool], timeout: float = 10) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "not before the deadline"
        await asyncio.sleep(0.001)


def test_a_stream_of_turns_is_written_at_most_once_per_interval() -> None:
    stream = CountingStream()
    out = runner_output(stream)

    async def main() -> float:
        started = time.monotonic()
        for n in range(200):  # a line in each of 200 turns
            out(f"succeeded bench/add {n}")
            await asyncio.sleep(0)
        elapsed = time.monotonic() - started
        await until(lambda: stream.getvalue().endswith("succeeded bench/add 199\n"))
        return elapsed

    elapsed = asyncio.run(main())
    assert stream.getvalue() == "".join(f"succeeded bench/add {n}\n" for n in range(200))
    # The first turn's line leaves at once; after that, one write per interval at most.
    assert stream.writes <= 2 + elapsed / MIN_INTERVAL, (stream.writes, elapsed)


def test_lines_written_off_the_loop_leave_at_once() -> None:
    stream = CountingStream()
    out = runner_output(stream)
    out("listening on http://127.0.0.1:1")
    assert stream.getvalue() == "listening on http://127.0.0.1:1\n"


def test_flush_writes_the_lines_held_before_other_output() -> None:
    stream = CountingStream()
    out = runner_output(stream)

    async def main() -> None:
        out("first")
        out("second")
        out.flush()  # as before the start banner, written to the same stream directly
        stream.write("banner\n")
        await asyncio.sleep(0)

    asyncio.run(main())
    assert stream.getvalue() == "first\nsecond\nbanner\n"
