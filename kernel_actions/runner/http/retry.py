"""Telling the SDKs when a retry can't help, and noticing retries that re-run actions.

Kernel's SDKs retry a 409 and every 5xx twice, after a delay, unless the
answer carries ``x-should-retry: false``. A bad request, a conflict, or a bug
in the runner answers the same the third time, so every such answer says so:
all 4xx but 408 (timeout) and 429 (wait and retry), and 500/501. 502, 503 and
504 may pass, so they leave the SDK to decide.

A *synchronous* ``POST /invocations`` that the SDK retries is a new invocation:
the usual cause is the client's read timeout (the SDK's default is 60 s; the
runner lets an action run ``--sync-timeout``, 100 s by default) expiring while the
first attempt was still running. The runner logs a warning naming that timeout.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import Message, Send

__all__ = ["advise_retry", "should_retry", "warn_if_retried"]

RETRY_HELPS = frozenset({408, 429, 502, 503, 504})


def should_retry(status: int) -> bool | None:
    """``False`` when repeating the same request can't succeed; ``None`` when it might."""
    if status >= 400 and status not in RETRY_HELPS:
        return False
    return None


def advise_retry(send: Send) -> Send:
    """``send``, adding ``x-should-retry: false`` to answers a retry can't change."""

    async def send_with_header(message: Message) -> None:
        if (message["type"] == "http.response.start"
                and should_retry(message["status"]) is False
                and not any(k.lower() == b"x-should-retry"
                            for k, _ in message.get("headers", []))):
            message = {**message, "headers": [*message.get("headers", []),
                                              (b"x-should-retry", b"false")]}
        await send(message)

    return send_with_header


def warn_if_retried(retry_count: str | None, read_timeout: str | None, sync_timeout: float,
                    log: Callable[[str], None]) -> None:
    """Log a warning when an SDK retries a synchronous invocation (it runs the action again).

    ``retry_count`` and ``read_timeout`` are the request's ``x-stainless-retry-count`` and
    ``x-stainless-read-timeout`` headers."""
    raw = (retry_count or "0").strip()
    if not raw.isdigit() or int(raw) == 0:
        return
    client_timeout = read_timeout
    timeout = f"{client_timeout} s" if client_timeout else "unknown (the SDK's default is 60 s)"
    log(f"warning: a client retried a synchronous invocation (attempt {int(raw) + 1}): each "
        f"attempt runs the action again. The client's read timeout is {timeout} and this "
        f"runner lets a synchronous invocation run {sync_timeout:g} s; raise the client's "
        f"timeout (e.g. Kernel(timeout=...)), or invoke with async=true and follow the events.")
