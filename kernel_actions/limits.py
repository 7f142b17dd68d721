"""Limits of the hosted API that both the client and the runner enforce."""

from __future__ import annotations

__all__ = ["MAX_PAYLOAD_BYTES"]

#: Largest payload accepted: 4.5 MB, as the hosted API documents.
MAX_PAYLOAD_BYTES = 4_500_000
