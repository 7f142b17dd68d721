"""The process that loads an app's code and prints its manifest.

Run as ``python -m kernel_actions.tooling.manifest_child TARGET NAME`` (by
:mod:`kernel_actions.tooling.code_manifest`), so user code never runs in the calling process. The
answer is one JSON object on stdout: ``{"manifest": …}`` or ``{"error": …, "missing_module":
…}``; whatever the code prints while loading goes to stderr.
"""

from __future__ import annotations

import json
import os
import sys


def main(argv: list[str]) -> None:
    answer = sys.stdout
    sys.stdout = sys.stderr  # what the app prints while loading stays off the answer
    from kernel_actions.errors import AppLoadError
    from kernel_actions.loader import load_apps
    from kernel_actions.tooling.manifest import build_manifest

    result: dict[str, object]
    try:
        loaded = load_apps(argv[0])
        result = {"manifest": build_manifest(loaded.apps, argv[1],
                                              getattr(loaded.module, "__file__", None))}
    except AppLoadError as exc:
        cause = exc.__cause__
        missing = cause.name if isinstance(cause, ModuleNotFoundError) else None
        result = {"error": str(exc), "missing_module": missing}
    answer.write(json.dumps(result))
    answer.flush()
    os._exit(0)  # threads the app started don't keep this process alive


if __name__ == "__main__":
    main(sys.argv[1:])
