"""HTTP headers the runner adds to Kernel's API, named once for the runner and its clients."""

from __future__ import annotations

__all__ = ["STALE_HEADER"]

#: On invocation responses served by the last good code while the latest save fails to load:
#: the first line of the load error.
STALE_HEADER = "x-kernel-actions-stale"
