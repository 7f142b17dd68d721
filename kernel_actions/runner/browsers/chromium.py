"""Finding Chromium on this machine, and the command line each browser starts it with.

The executable is ``--browser-path``, else ``$KERNEL_ACTIONS_BROWSER``, else the first
Chromium or Chrome on ``PATH`` (or in ``/Applications`` on a Mac), else the one
``playwright install chromium`` downloaded. Chromium opens no DevTools port: it talks over
a pipe on fds 3 and 4 that only the runner holds (see :mod:`.cdp`).

Its first screen is the one Kernel's browser image shows: Chromium started with no URL and
``--start-maximized``, so the New Tab page, with an empty, focused address bar (an agent's
"Ctrl+L, click the address bar, type the URL, Return" then opens that URL). The New Tab
page stays local: Debian's default search engine (DuckDuckGo) comes with a remote start
page Chromium would load as the New Tab page, so a fresh profile gets the same engine
without it, nor its suggestions (see :func:`prepare_profile`), and the switches below keep
field trials, network-time queries, optimization hints and the search preconnect off.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

from ..errors import ApiError
from .browser import LocalBrowser
from .cdp import PIPE_SWITCH
from .webmcp import FEATURE as WEBMCP_FEATURE

__all__ = ["BROWSER_ENV", "EXECUTABLE_NAMES", "UNAVAILABLE_MESSAGE", "NO_RETRY",
           "find_chromium", "unavailable", "chromium_command", "output_tail",
           "prepare_profile", "QUIET_SWITCHES", "DISABLED_FEATURES", "SEARCH_ENGINE"]

#: Environment variable naming the Chromium (or Chrome) executable to use.
BROWSER_ENV = "KERNEL_ACTIONS_BROWSER"
EXECUTABLE_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable",
                    "chrome")
_MAC_APPS = ("/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
             "/Applications/Chromium.app/Contents/MacOS/Chromium")
UNAVAILABLE_MESSAGE = (
    "no Chromium or Chrome found: install Debian's chromium (apt install chromium), or run "
    "`playwright install chromium` where downloads work, or pass --browser-path"
)
#: Headers of an answer the SDK must not retry.
NO_RETRY = {"x-should-retry": "false"}
#: Features that make requests of their own at startup (as Playwright's launcher lists them).
DISABLED_FEATURES = ("OptimizationHints", "NetworkTimeServiceQuerying", "AimEnabled",
                     "PreconnectToSearch", "MediaRouter", "LensOverlay")
#: Switches that keep a fresh browser from phoning home on its own.
QUIET_SWITCHES = ("--disable-field-trial-config", "--disable-search-engine-choice-screen",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-breakpad", "--no-first-run",
                  "--no-default-browser-check")
#: The default search engine a fresh profile gets: Debian's DuckDuckGo, without the remote
#: start page (``new_tab_url``) that would be its New Tab page, and without suggestions
#: (which would send what is typed into the address bar as it is typed).
SEARCH_ENGINE = {
    "keyword": "duckduckgo.com", "short_name": "DuckDuckGo",
    "url": "https://duckduckgo.com/?q={searchTerms}", "new_tab_url": "",
    "suggestions_url": "", "prepopulate_id": 0,
    "synced_guid": "6f7a1c2e-0b1d-4c3e-9a57-6b6e3f0d2a11", "id": "9",
}


def _is_executable(path: str | Path) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def _playwright_chromium() -> str | None:
    """The newest Chromium that ``playwright install chromium`` downloaded, if any."""
    roots: list[Path] = []
    configured = os.environ.get("PLAYWRIGHT_BROWSERS_PATH")
    if configured == "0":
        spec = importlib.util.find_spec("playwright")
        if spec is not None and spec.origin:
            roots.append(Path(spec.origin).parent / "driver" / "package" / ".local-browsers")
    elif configured:
        roots.append(Path(configured).expanduser())
    roots += [Path.home() / ".cache" / "ms-playwright",
              Path.home() / "Library" / "Caches" / "ms-playwright"]
    patterns = ("chromium-*/chrome-linux*/chrome",
                "chromium-*/chrome-mac*/Chromium.app/Contents/MacOS/Chromium",
                "chromium-*/chrome-mac*/Google Chrome for Testing.app/Contents/MacOS/"
                "Google Chrome for Testing")

    def revision(path: Path) -> int:
        folder = next(p for p in path.parents if p.name.startswith("chromium-"))
        digits = folder.name.removeprefix("chromium-")
        return int(digits) if digits.isdigit() else -1

    for root in roots:
        if not root.is_dir():
            continue
        found = [p for pattern in patterns for p in root.glob(pattern) if _is_executable(p)]
        if found:
            return str(max(found, key=revision))
    return None


def find_chromium(configured: str | None = None) -> str:
    """The Chromium to start: ``configured`` (``--browser-path``), else ``$KERNEL_ACTIONS_BROWSER``,
    else the first of chromium, chromium-browser, google-chrome(-stable), chrome on ``PATH``,
    else Playwright's own download. Raises ``browser_unavailable`` when there is none."""
    if configured:
        if not _is_executable(configured):
            raise unavailable(f"--browser-path {configured!r} is not an executable file")
        return os.path.abspath(configured)
    from_env = os.environ.get(BROWSER_ENV)
    if from_env:
        if not _is_executable(from_env):
            raise unavailable(f"{BROWSER_ENV}={from_env!r} is not an executable file")
        return os.path.abspath(from_env)
    for name in EXECUTABLE_NAMES:
        path = shutil.which(name)
        if path:
            return os.path.abspath(path)
    if sys.platform == "darwin":
        for app in _MAC_APPS:
            if _is_executable(app):
                return app
    bundled = _playwright_chromium()
    if bundled:
        return bundled
    raise unavailable(UNAVAILABLE_MESSAGE)


def unavailable(message: str) -> ApiError:
    """The 503 of a browser that can't be had on this machine (not worth a retry)."""
    return ApiError(503, "browser_unavailable", message, headers=dict(NO_RETRY))


def chromium_command(browser: LocalBrowser, executable: str, pdeathsig: str | None) -> list[str]:
    """The command line that starts ``browser``'s Chromium (through ``setpriv --pdeathsig``
    when ``pdeathsig`` names it, so a runner killed with ``kill -9`` takes it along)."""
    command = [executable]
    if browser.display is None:  # a screen of the viewport's size, and no infobar
        command += ["--headless=new", "--test-type", "--disable-infobars",
                    f"--screen-info={{{browser.viewport['width']}x"
                    f"{browser.viewport['height']}}}"]
    else:  # headful, its window filling the screen (browser UI included unless kiosk)
        command += ["--window-position=0,0", "--start-maximized", "--test-type",
                    "--disable-infobars"]
        command += ["--kiosk"] if browser.kiosk else []
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
    command += [
        "--disable-gpu", "--disable-quic", *QUIET_SWITCHES,
        f"--disable-features={','.join(DISABLED_FEATURES)}",
        "--password-store=basic", "--use-mock-keychain",
        f"--enable-features={WEBMCP_FEATURE}",  # the pages' WebMCP tools (see .webmcp)
        *browser.launch.switches,  # its proxy and extensions (see .launch_options)
        PIPE_SWITCH,  # DevTools over fds 3 and 4 only: no port for anyone to reach
        f"--user-data-dir={browser.profile}",
        f"--window-size={browser.viewport['width']},{browser.viewport['height']}",
    ]
    if browser.start_url:  # else none: the New Tab page, as Kernel's image starts
        command += ["--", browser.start_url]  # after "--" a URL, never a switch
    if pdeathsig:
        command = [pdeathsig, "--pdeathsig", "KILL", "--", *command]
    return command


def prepare_profile(profile: Path) -> None:
    """Give a profile that has chosen no search engine :data:`SEARCH_ENGINE` (so its New Tab
    page is Chromium's local one); a profile's own choice is left as it is."""
    prefs_file = profile / "Default" / "Preferences"
    try:
        prefs = json.loads(prefs_file.read_text()) if prefs_file.is_file() else {}
    except (OSError, ValueError):
        return  # Chromium's to read (or to start afresh from): not ours to rewrite
    if not isinstance(prefs, dict) or "default_search_provider_data" in prefs:
        return
    prefs["default_search_provider_data"] = {"template_url_data": SEARCH_ENGINE}
    prefs_file.parent.mkdir(parents=True, exist_ok=True)
    prefs_file.write_text(json.dumps(prefs))


def output_tail(log: Path, lines: int = 15) -> str:
    """The end of Chromium's output, without the D-Bus complaints of machines without D-Bus."""
    try:
        with open(log, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16_384))
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    kept = [ln for ln in text.splitlines() if ln.strip() and "dbus" not in ln.lower()]
    return "\n".join(kept[-lines:])
