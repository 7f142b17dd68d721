"""The runner's log lines: the lines of one loop turn leave together, in order, and
nothing written is lost (off the loop, lines leave at once)."""

from __future__ import annotations

import asyncio
import io

from kernel_actions.cli.runner_log import runner_output


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
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert stream.getvalue().endswith("succeeded bench/add 2\nreloaded\n")
        assert stream.writes == 2

    asyncio.run(main())


def test_lines_written_off_the_loop_leave_at_once() -> None:
    stream = CountingStream()
    out = runner_output(stream)
    out("listening on http://127.0.0.1:1")
    assert stream.getvalue() == "listening on http://127.0.0.1:1\n"
