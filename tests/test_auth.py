"""--api-key: every endpoint refuses a missing or wrong key; loopback-only without one."""

from __future__ import annotations

import subprocess
import sys

import kernel
import pytest

from .helpers import RunnerProcess, sdk_client

ENDPOINTS = [
    ("POST", "/invocations"),
    ("GET", "/invocations"),
    ("GET", "/invocations/abc"),
    ("PATCH", "/invocations/abc"),
    ("GET", "/invocations/abc/events"),
    ("GET", "/apps"),
    ("POST", "/deployments"),
    ("GET", "/deployments"),
    ("GET", "/deployments/abc"),
    ("GET", "/deployments/abc/events"),
    ("GET", "/_runner/status"),
    ("GET", "/_runner/events"),
    ("GET", "/openapi.json"),
    ("GET", "/"),
    ("GET", "/_dashboard/app.js"),
]


@pytest.fixture
def secured(start_runner, app_copy) -> RunnerProcess:
    entry = app_copy("conformance_app.py")
    return start_runner(entry, "--api-key", "s3cret", cwd=entry.parent)


def test_every_endpoint_refuses_missing_or_wrong_key(secured: RunnerProcess) -> None:
    with secured.client() as c:
        for method, path in ENDPOINTS:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
                r = c.request(method, path, headers=headers)
                assert r.status_code == 401, (method, path, headers, r.status_code)
                assert r.json()["code"] == "unauthorized"
        ok = c.get("/apps", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200


def test_the_dashboard_takes_the_key_once_then_a_cookie(secured: RunnerProcess) -> None:
    """A browser can't send a header when it navigates: ``/?key=`` sets a cookie for the page."""
    with secured.client() as c:
        form = c.get("/", headers={"Accept": "text/html"})
        assert form.status_code == 401 and 'name="key"' in form.text
        assert c.get("/?key=wrong", headers={"Accept": "text/html"}).status_code == 401
        assert "set-cookie" not in c.get("/?key=wrong").headers
        page = c.get("/?key=s3cret")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        cookie = page.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert c.get("/_dashboard/app.js").status_code == 200  # the cookie, kept by the client
        # The cookie opens the page and its assets only, never the API.
        assert c.get("/invocations").status_code == 401
        for path in ("/_dashboard/../dashboard.py", "/_dashboard/%2e%2e/server.py"):
            assert c.get(path).status_code in (401, 404), path  # never the file
    with secured.client() as fresh:
        assert fresh.get("/_dashboard/app.js").status_code == 401

def test_sdk_with_the_key_works_and_without_it_fails(secured: RunnerProcess) -> None:
    good = sdk_client(secured, "s3cret")
    inv = good.invocations.create(app_name="conformance", action_name="echo",
                                  version="latest", payload="1")
    assert inv.status == "succeeded"
    bad = sdk_client(secured, "nope")
    with pytest.raises(kernel.AuthenticationError):
        bad.invocations.retrieve(inv.id)


def test_workers_get_the_key(secured: RunnerProcess) -> None:
    good = sdk_client(secured, "s3cret")
    inv = good.invocations.create(app_name="conformance", action_name="env", version="latest")
    assert '"KERNEL_API_KEY":"s3cret"' in (inv.output or "")


def test_refuses_a_public_address_without_a_key(tmp_path) -> None:
    (tmp_path / "main.py").write_text("from kernel_actions import App\napp = App('x')\n")
    proc = subprocess.run(
        [sys.executable, "-m", "kernel_actions.cli", "dev", "main.py", "--host", "0.0.0.0",
         "--port", "0", "--no-reload"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "refusing to listen on '0.0.0.0' without an API key" in proc.stderr
