"""List answers streamed row by row, so their memory doesn't grow with their rows.

A page of 100 invocations whose outputs are 15 MB each is a 1.5 GB answer: built
in one piece, four of them at once exhaust the machine. Here the page is read
without payloads and outputs, and each row's are fetched, serialised and sent
one row at a time, so at most a row or two is held however large the page. The
dashboard's list asks for ``detail=summary``, which never reads them at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.responses import StreamingResponse

from ..engine.invocation import Invocation
from .common import compact_json

__all__ = ["DETAIL_MODES", "JSONArrayResponse", "detail_mode", "invocation_rows", "summary"]

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


async def invocation_rows(
    page: list[Invocation], mode: str, current: Callable[[str], Invocation | None],
    load: Callable[[str], Invocation | None],
) -> AsyncIterator[dict[str, Any]]:
    """The page's rows as wire objects; ``page`` holds summaries (no payload or output).

    ``current`` gives an invocation's live state when it is active; ``load`` reads a
    full row from the store (run in a thread), one row at a time.
    """
    loop = asyncio.get_running_loop()
    for row in page:
        inv = current(row.id)
        if inv is None and mode != "summary":
            inv = await loop.run_in_executor(_ROW_READER, load, row.id)
        inv = inv or row
        if mode == "summary":
            yield summary(inv)
        elif mode == "detail":
            yield inv.to_detail()
        else:
            yield inv.to_wire()


class JSONArrayResponse(StreamingResponse):
    """A JSON array, written element by element as ``items`` yields them."""

    def __init__(self, items: AsyncIterable[Any], status_code: int = 200,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(_encode(items), status_code=status_code, headers=headers,
                         media_type="application/json")


async def _encode(items: AsyncIterable[Any]) -> AsyncIterator[bytes]:
    first = True
    async for item in items:
        text = compact_json(item)
        yield (b"[" if first else b",") + text.encode()
        first = False
    yield b"[]" if first else b"]"
