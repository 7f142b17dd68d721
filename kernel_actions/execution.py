"""Running one action: validate the payload, call the handler, serialise the result.

This is the single place that maps every way an invocation can go wrong to an
:class:`~kernel_actions.outcome.Outcome`. The in-process ``App.invoke`` and the
runner's worker processes both call :func:`execute`, so tests see exactly what
the runner would do.
"""

from __future__ import annotations

import inspect
import os
import threading
import traceback
from collections.abc import Callable
from functools import partial
from typing import Any

import anyio.to_thread
from pydantic import TypeAdapter, ValidationError
from pydantic_core import PydanticSerializationError

from .action import MISSING, Action
from .context import Context, LogSink, bind_sink
from .env_contract import unset_env_hint
from .outcome import Outcome, failure
from .unserialisable import find_unserialisable

__all__ = ["execute", "runs_in_thread", "execute_blocking", "finish_awaitable", "Pending"]

_ANY: TypeAdapter[Any] = TypeAdapter(Any)
_MAX_REASON = 200


def _validation_errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False, include_input=False)
    ]


def _parse_payload(action: Action, payload_json: str | None) -> tuple[Any, Outcome | None]:
    """The handler's payload argument, or a failed outcome."""
    if payload_json is None or payload_json == "":
        if action.payload_default is not MISSING:
            return action.payload_default, None
        if action.payload_optional:
            return None, None
        return None, failure(
            "validation_failed",
            f"action {action.name!r} requires a payload, and none was sent",
            "Payload validation failed: a payload is required",
            errors=[{"loc": [], "msg": "a payload is required", "type": "missing"}],
        )
    adapter = _ANY if action.raw else action.payload_adapter
    assert adapter is not None
    try:
        return adapter.validate_json(payload_json), None
    except ValidationError as exc:
        errors = _validation_errors(exc)
        first = errors[0] if errors else {"loc": [], "msg": str(exc)}
        where = ".".join(str(p) for p in first["loc"]) or "payload"
        return None, failure(
            "validation_failed",
            f"payload for action {action.name!r} is invalid: {exc.error_count()} error(s)",
            f"Payload validation failed: {where}: {first['msg']}"[:_MAX_REASON],
            errors=errors,
        )


def _serialise(action: Action, value: Any) -> Outcome:
    if action.output_adapter is not None and not action.raw:
        try:
            value = action.output_adapter.validate_python(value)
        except ValidationError as exc:
            return failure(
                "output_invalid",
                f"action {action.name!r} returned a value that does not match its return type",
                errors=_validation_errors(exc),
            )
        adapter = action.output_adapter
    else:
        adapter = _ANY
    try:
        output = adapter.dump_json(value).decode()
    except (PydanticSerializationError, TypeError, ValueError, RecursionError) as exc:
        type_name = type(value).__qualname__
        found = None if isinstance(exc, RecursionError) else find_unserialisable(value)
        if found is not None and found[0] != "output":
            where = f"{found[0]}: type {found[1]}"
            return failure(
                "output_not_json",
                f"action {action.name!r} returned a value that is not JSON-serialisable: "
                f"{where} ({exc})",
                f"Action {action.name!r} returned a value that is not JSON-serialisable: "
                f"{where}"[:_MAX_REASON],
                path=found[0], type=found[1],
            )
        return failure(
            "output_not_json",
            f"action {action.name!r} returned an object of type {type_name}, "
            f"which is not JSON-serialisable ({exc})",
            f"Action {action.name!r} returned an object of type {type_name}, "
            f"which is not JSON-serialisable"[:_MAX_REASON],
        )
    return Outcome(status="succeeded", output=output)


def _raised(action: Action, exc: BaseException) -> Outcome:
    # Keep the frames after the last one of this module: the traceback starts in user code
    # (not in this module, nor in the thread machinery between it and the handler).
    te = traceback.TracebackException(type(exc), exc, exc.__traceback__)
    ours = [i for i, frame in enumerate(te.stack) if frame.filename == __file__]
    if ours:
        te.stack = traceback.StackSummary.from_list(te.stack[ours[-1] + 1:])
    text = "".join(te.format())
    message = str(exc)
    summary = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    reason = f"Action raised {summary.splitlines()[0] if summary else ''}"
    detail: dict[str, Any] = {}
    hint = unset_env_hint(exc, os.environ)  # it failed on a variable .env.example lists
    if hint is not None:
        reason = f"{hint[0].upper()}{hint[1:]} (the action raised {type(exc).__name__})"
        detail["hint"] = hint
    return failure(
        "action_raised",
        summary,
        reason[:_MAX_REASON],
        type=type(exc).__name__,
        traceback=text,
        **detail,
    )


async def _in_thread(ctx: Context, target: Callable[[], Any]) -> Any:
    """Run a blocking handler in a worker thread.

    A thread can't be interrupted: on cancellation it is abandoned, and if it is
    still running ``ctx.stuck`` is set so the runner knows its process is not clean.
    """
    finished = threading.Event()

    def run() -> Any:
        try:
            return target()
        finally:
            finished.set()

    try:
        return await anyio.to_thread.run_sync(run, abandon_on_cancel=True)
    except anyio.get_cancelled_exc_class():
        if not finished.is_set():
            ctx.stuck = True
        raise


async def _call(action: Action, ctx: Context, payload: Any) -> Any:
    args: tuple[Any, ...] = (ctx, payload) if action.takes_payload else (ctx,)
    if action.call is not None:
        # A foreign handler (Kernel's SDK): its wrapper is sync and may return a coroutine.
        target = partial(action.call, ctx, payload)
        result = target() if action.is_async else await _in_thread(ctx, target)
    elif action.is_async:
        result = await action.fn(*args)
    else:
        result = await _in_thread(ctx, partial(action.fn, *args))
    while inspect.isawaitable(result):
        result = await result
    return result


async def execute(
    action: Action, ctx: Context, payload_json: str | None, sink: LogSink | None = None
) -> Outcome:
    """Run ``action`` for one invocation and return its terminal outcome.

    Cancellation (the runner's timeout or a user's cancel) propagates as the
    event loop's cancellation exception; everything else becomes an outcome.
    """
    payload, bad = _parse_payload(action, payload_json)
    if bad is not None:
        return bad
    if sink is not None:
        ctx._sink = sink
        with bind_sink(sink):
            return await _guarded(action, ctx, payload)
    return await _guarded(action, ctx, payload)


async def _guarded(action: Action, ctx: Context, payload: Any) -> Outcome:
    try:
        value = await _call(action, ctx, payload)
    except anyio.get_cancelled_exc_class():
        raise
    except (Exception, SystemExit, KeyboardInterrupt) as exc:  # SystemExit from sys.exit() in an action
        return _raised(action, exc)
    return _serialise(action, value)


def runs_in_thread(action: Action) -> bool:
    """Whether ``action``'s handler blocks (a ``def``): then :func:`execute_blocking` runs it."""
    return not action.is_async


class Pending:
    """What a blocking handler returned when it is awaitable: the loop must await it."""

    __slots__ = ("awaitable",)

    def __init__(self, awaitable: Any) -> None:
        self.awaitable = awaitable


def execute_blocking(
    action: Action, ctx: Context, payload_json: str | None, sink: LogSink
) -> Outcome | Pending:
    """:func:`execute` for a blocking handler, all of it in the calling thread.

    The runner's worker calls this in one of its handler threads, so validating the
    payload, running the handler and serialising the result take a single hand-off
    from the event loop and back. A handler that returns something awaitable (a
    ``def`` returning a coroutine) gets :class:`Pending` back: the loop awaits it
    with :func:`finish_awaitable`.
    """
    payload, bad = _parse_payload(action, payload_json)
    if bad is not None:
        return bad
    ctx._sink = sink
    with bind_sink(sink):
        try:
            if action.call is not None:
                value = action.call(ctx, payload)
            elif action.takes_payload:
                value = action.fn(ctx, payload)
            else:
                value = action.fn(ctx)
        except (Exception, SystemExit, KeyboardInterrupt) as exc:
            return _raised(action, exc)
        if inspect.isawaitable(value):
            return Pending(value)
        return _serialise(action, value)


async def finish_awaitable(action: Action, ctx: Context, value: Any, sink: LogSink) -> Outcome:
    """The rest of :func:`execute_blocking` when its handler returned an awaitable."""
    with bind_sink(sink):
        try:
            while inspect.isawaitable(value):
                value = await value
        except anyio.get_cancelled_exc_class():
            raise
        except (Exception, SystemExit, KeyboardInterrupt) as exc:
            return _raised(action, exc)
        return _serialise(action, value)


def output_json(value: Any) -> str:
    """JSON for any value pydantic can serialise (used for ``PATCH`` outputs and tests)."""
    return _ANY.dump_json(value).decode()
