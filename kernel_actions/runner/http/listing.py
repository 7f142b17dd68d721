"""List answers streamed row by row, within one memory budget for all their readers.

A page of 100 invocations whose outputs are 15 MB each is a 1.5 GB answer: built
in one piece, four of them at once exhaust the machine. Here the page is read
without payloads and outputs, and each row's are fetched, serialised and sent
one row at a time, in pieces of :data:`PIECE` bytes. A row on its way out is held a
few times over (the stored text, its JSON, the bytes), so before a reader reads one it
takes what the row will cost from a :class:`~.memory_budget.MemoryBudget` that every
list reader shares, and gives it back once the row is sent: however many read at once,
together they hold no more than the budget (and a piece each). The bytes sent are those
of the whole page encoded at once. The dashboard's list asks for ``detail=summary``,
which never reads payloads or outputs at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.responses import StreamingResponse

from ..engine.invocation import Invocation
from .common import compact_json
from .memory_budget import MemoryBudget

__all__ = ["DETAIL_MODES", "InvocationList", "PIECE", "detail_mode", "invocation_rows",
           "summary"]

#: ``detail`` values: the hosted API's object, plus the runner's fields, or the runner's
#: fields without ``payload`` and ``output`` (the dashboard's list).
DETAIL_MODES = {"": "wire", "0": "wire", "false": "wire", "1": "detail", "true": "detail",
                "summary": "summary"}


#: Full rows are read by one thread: the C allocator keeps an arena per thread, so rows
#: read by many threads would each leave their own high-water mark behind.
_ROW_READER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="list-rows")


def detail_mode(raw: str | None) -> str | None:
    """``wire``, ``detail`` or ``summary`` for a ``detail`` query value; ``None`` if unknown."""
    return DETAIL_MODES.get((raw or "").strip().lower())


def summary(inv: Invocation) -> dict[str, Any]:
    """The detail object without its two unbounded fields."""
    body = inv.to_detail()
    del body["payload"], body["output"]
    return body


#: Largest piece of a row sent at once: once a row's last piece is handed to the
#: connection, what it still holds of the row is at most this.
PIECE = 256 * 1024
#: A row read for a list costs this many times its stored payload and output (the text,
#: its JSON, the JSON's bytes), plus :data:`ROW_OVERHEAD`.
COPIES = 4
ROW_OVERHEAD = 4096


def _wire(inv: Invocation, mode: str) -> dict[str, Any]:
    if mode == "summary":
        return summary(inv)
    if mode == "detail":
        return inv.to_detail()
    return inv.to_wire()


async def invocation_rows(
    page: list[Invocation], mode: str, current: Callable[[str], Invocation | None],
    load: Callable[[str], Invocation | None], stored_bytes: Callable[[str], int],
    budget: MemoryBudget,
) -> AsyncIterator[bytes]:
    """The page as a JSON array of wire objects, in pieces; ``page`` holds summaries (no
    payload or output).

    ``current`` gives an invocation's live state when it is active; ``load`` reads a full
    row from the store and ``stored_bytes`` the size of its payload and output (both run
    in a thread), one row at a time, each row's cost taken from ``budget`` first.
    """
    loop = asyncio.get_running_loop()
    opener = b"["
    for row in page:
        inv = current(row.id)
        if inv is not None or mode == "summary":
            yield opener + compact_json(_wire(inv or row, mode)).encode()
            opener = b","
            continue
        size = await loop.run_in_executor(_ROW_READER, stored_bytes, row.id)
        cost = COPIES * size + ROW_OVERHEAD
        await budget.take(cost)
        try:
            full = await loop.run_in_executor(_ROW_READER, load, row.id)
            data = compact_json(_wire(full or row, mode)).encode()
            del full
            yield opener
            opener = b","
            view = memoryview(data)
            for at in range(0, len(data), PIECE):
                yield view[at:at + PIECE]
            del view, data
        finally:
            budget.give(cost)
    yield b"[]" if opener == b"[" else b"]"


class InvocationList(StreamingResponse):
    """``GET /invocations``: the pieces :func:`invocation_rows` yields, as one JSON array."""

    def __init__(self, pieces: AsyncIterable[bytes], headers: dict[str, str] | None = None
                 ) -> None:
        super().__init__(pieces, status_code=200, headers=headers,
                         media_type="application/json")
