"""Generated bad input against every endpoint, from the runner's own /openapi.json."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from .helpers import RunnerProcess, poll

#: The APIs built on a browser (computer, Playwright, replays, files, processes, ...).
BROWSER_APIS = r"^/(browsers/\{id\}/|profiles|browser_pools)"


def test_openapi_is_served_and_describes_the_endpoints(conformance: RunnerProcess) -> None:
    with conformance.client() as c:
        spec = c.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    assert {"/invocations", "/invocations/{id}", "/invocations/{id}/events", "/apps",
            "/deployments", "/deployments/{id}", "/browsers", "/browsers/{id}",
            "/invocations/{id}/browsers"} <= set(spec["paths"])


def schemathesis(url: str, *options: str, timeout: float) -> str:
    """``st run`` on the runner's own spec with the checks every fuzz run makes; its output."""
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    assert st, "schemathesis is a dev dependency: pip install -e '.[dev]'"
    proc = subprocess.run(
        [st, "run", f"{url}/openapi.json",
         "--checks", "not_a_server_error,response_schema_conformance,"
                     "status_code_conformance,content_type_conformance",
         "--max-response-time", "30", *options, "--no-color"],
        capture_output=True, text=True, timeout=timeout,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert "generated" in proc.stdout
    return proc.stdout


@pytest.mark.timeout(600)  # a few hundred generated requests: minutes on a loaded machine
def test_schemathesis_finds_no_server_error_and_no_stuck_invocation(
        conformance: RunnerProcess) -> None:
    schemathesis(
        conformance.url, "--max-examples", "30", "--seed", "20261123",
        # Every valid example would start a real Chromium: test_browsers.py covers it.
        "--exclude-operation-id", "createBrowser",
        # The browser APIs: fuzzed below, with fewer examples (there are many of them).
        "--exclude-path-regex", BROWSER_APIS,
        # DELETE would stop the deployments other operations read (test_deploy.py covers it).
        "--exclude-path", "/deployments/{id}",
        # Described as the 501 it deliberately is (test_unavailable.py covers it).
        "--exclude-operation-id", "extensions_download_from_chrome_store",
        timeout=600)
    with conformance.client() as c:
        poll(lambda: not c.get("/invocations", params={"status": "running"}).json()
             and not c.get("/invocations", params={"status": "queued"}).json(), timeout=30)


@pytest.mark.timeout(600)
def test_schemathesis_finds_no_server_error_in_the_browser_apis(
        start_runner: Callable[..., RunnerProcess]) -> None:
    runner = start_runner(None, command="serve")
    out = schemathesis(
        runner.url, "--max-examples", "5", "--seed", "20261127",
        "--include-path-regex", BROWSER_APIS,
        # A pool starts its warm browsers at once: test_browser_pools.py covers it.
        "--exclude-operation-id", "browser_pools_create",
        timeout=570)
    assert "API Operations" in out
