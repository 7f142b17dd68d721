"""The worker protocol: framed JSON messages, coalesced per turn of the loop."""

from __future__ import annotations

import asyncio
import socket
import struct

from kernel_actions.runner.engine.protocol import (
    MAX_MESSAGE,
    FrameProtocol,
    Outbox,
    encode,
    read_message,
)


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


def _frames(*messages: dict) -> bytes:
    return b"".join(encode(m) for m in messages)


def test_frames_are_handed_on_whole_however_the_bytes_arrive() -> None:
    got: list[dict] = []
    closed: list[str | None] = []
    protocol = FrameProtocol(got.append, closed.append)
    data = _frames({"t": "a", "n": 1}, {"t": "b", "text": "é" * 100}, {"t": "c"})
    # Byte by byte, then all at once: the same messages, in order.
    for i in range(len(data)):
        protocol.data_received(data[i:i + 1])
    protocol.data_received(data)
    assert [m["t"] for m in got] == ["a", "b", "c"] * 2 and got[1]["text"] == "é" * 100
    protocol.connection_lost(None)
    assert closed == [None]


def test_a_frame_over_the_limit_or_not_a_json_object_closes_the_connection() -> None:
    class Transport:
        closed = False

        def close(self) -> None:
            self.closed = True

        def is_closing(self) -> bool:
            return self.closed

    for bad in (struct.pack(">I", MAX_MESSAGE + 1), encode({"t": "x"})[:4] + b"[1, 2, 3]"[:9],
                struct.pack(">I", 3) + b"\xff\xfe{"):
        got: list[dict] = []
        closed: list[str | None] = []
        protocol = FrameProtocol(got.append, closed.append)
        transport = Transport()
        protocol.connection_made(transport)  # type: ignore[arg-type]
        protocol.data_received(encode({"t": "ok"}) + bad)
        assert got == [{"t": "ok"}]  # what came before is kept
        assert transport.closed
        protocol.connection_lost(None)
        assert len(closed) == 1 and closed[0]  # says what was wrong
