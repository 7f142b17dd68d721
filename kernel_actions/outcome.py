"""The result of running an action: what becomes an invocation's terminal state."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Outcome", "FailureKind", "failure"]

FailureKind = Literal[
    "validation_failed",
    "action_raised",
    "output_not_json",
    "output_invalid",
    "output_too_large",
    "timed_out",
    "worker_crashed",
    "interrupted",
    "cancelled",
    "load_failed",
]

#: Short, human summaries used as ``status_reason`` for each kind of failure.
REASONS: dict[FailureKind, str] = {
    "validation_failed": "Payload validation failed",
    "action_raised": "Action raised an exception",
    "output_not_json": "Action returned a value that is not JSON-serialisable",
    "output_invalid": "Action returned a value that does not match its return type",
    "output_too_large": "Action returned more output than the limit",
    "timed_out": "Invocation timed out",
    "worker_crashed": "Worker crashed while running the invocation",
    "interrupted": "Invocation interrupted by a runner restart",
    "cancelled": "Invocation cancelled",
    "load_failed": "App code failed to load",
}


@dataclass(frozen=True, slots=True)
class Outcome:
    """A terminal invocation state.

    ``output`` is a JSON string, as on the wire: the action's result when it
    succeeded, a JSON object describing the failure otherwise.
    """

    status: Literal["succeeded", "failed"]
    output: str | None
    status_reason: str | None = None
    error: FailureKind | None = None
    logs: tuple[str, ...] = field(default=(), compare=False)

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    @property
    def value(self) -> Any:
        """The output parsed from JSON (``None`` when there is none)."""
        return None if self.output is None else json.loads(self.output)

    def with_logs(self, logs: list[str]) -> Outcome:
        return Outcome(self.status, self.output, self.status_reason, self.error, tuple(logs))


def failure(kind: FailureKind, message: str, reason: str | None = None, **detail: Any) -> Outcome:
    """A failed outcome whose output is ``{"error": kind, "message": ..., **detail}``."""
    body = {"error": kind, "message": message, **detail}
    return Outcome(
        status="failed",
        output=json.dumps(body, default=str),
        status_reason=reason or REASONS.get(kind, "Invocation failed"),
        error=kind,
    )
