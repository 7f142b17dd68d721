"""The worker protocol: framed JSON messages, coalesced per turn of the loop."""

from __future__ import annotations

import asyncio
import socket

from kernel_actions.runner.engine.protocol import Outbox, read_message


def test_messages_sent_in_one_turn_leave_in_two_writes_in_order() -> None:
    async def main() -> tuple[list[int], list[dict]]:
        a, b = socket.socketpair()
        _, writer = await asyncio.open_unix_connection(sock=a)
        reader, _ = await asyncio.open_unix_connection(sock=b)
        writes: list[int] = []
        real_write = writer.write

        def counting_write(data: bytes) -> None:
            writes.append(len(data))
            real_write(data)

        writer.write = counting_write  # type: ignore[method-assign]
        outbox = Outbox(writer, asyncio.get_running_loop())
        for i in range(5):
            outbox.send({"t": "invoke", "n": i})
        assert len(writes) == 1  # the first at once, the other four held for the turn's end
        got = [await read_message(reader) for _ in range(5)]
        outbox.send({"t": "exit"})
        outbox.flush()  # at once, e.g. before closing
        got.append(await read_message(reader))
        writer.close()
        return writes, got  # type: ignore[return-value]

    writes, got = asyncio.run(main())
    assert len(writes) == 3  # first, the four others together, then the flushed exit
    assert [m["n"] for m in got[:5]] == [0, 1, 2, 3, 4] and got[5] == {"t": "exit"}
