"""The install a user starts with serves every browser endpoint a Kernel app calls."""

from __future__ import annotations

import re
from importlib.metadata import requires

#: What the browser endpoints need: playwright.execute, the REPL and TypeScript apps run on
#: Playwright's Node; replays need PyAV and websockets.
BROWSER_PACKAGES = {"playwright", "av", "websockets"}


def test_browser_packages_are_default_dependencies() -> None:
    declared = requires("kernel-actions") or []
    default = {re.split(r"[ ;<>=!~\[]", r, maxsplit=1)[0].lower() for r in declared
               if "extra ==" not in r}
    assert BROWSER_PACKAGES <= default, f"missing from the default install: " \
                                        f"{BROWSER_PACKAGES - default}"
