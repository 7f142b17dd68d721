"""The invocation record, and its shapes on the wire."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ...timeutil import format_ns

__all__ = ["Invocation", "Status", "TERMINAL"]

Status = Literal["queued", "running", "succeeded", "failed"]
TERMINAL = frozenset({"succeeded", "failed"})


@dataclass(slots=True)
class Invocation:
    id: str
    app_name: str
    action_name: str
    version: str
    payload: str | None
    status: Status
    created_ns: int
    timeout_s: float
    is_async: bool
    output: str | None = None
    status_reason: str | None = None
    running_ns: int | None = None
    finished_ns: int | None = None
    generation: int | None = None
    deployment_id: str | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def to_wire(self) -> dict[str, Any]:
        """The hosted API's invocation object (``GET /invocations/{id}``)."""
        return {
            "id": self.id,
            "app_name": self.app_name,
            "action_name": self.action_name,
            "version": self.version,
            "payload": self.payload,
            "output": self.output,
            "status": self.status,
            "status_reason": self.status_reason,
            "started_at": format_ns(self.created_ns),
            "finished_at": format_ns(self.finished_ns) if self.finished_ns else None,
        }

    def to_created(self) -> dict[str, Any]:
        """The answer to ``POST /invocations``."""
        body: dict[str, Any] = {
            "id": self.id,
            "action_name": self.action_name,
            "status": self.status,
        }
        if self.output is not None:
            body["output"] = self.output
        if self.status_reason is not None:
            body["status_reason"] = self.status_reason
        return body

    def to_detail(self) -> dict[str, Any]:
        """The wire object plus what the runner knows beyond it (dashboard, CLI)."""
        body = self.to_wire()
        body["running_at"] = format_ns(self.running_ns) if self.running_ns else None
        body["code_generation"] = self.generation
        body["async"] = self.is_async
        body["timeout_seconds"] = self.timeout_s
        body["deployment_id"] = self.deployment_id
        return body
