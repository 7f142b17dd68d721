"""Every endpoint of the official SDKs answers: served, or 501 ``not_available_locally``
with ``x-should-retry: false``; never a bare 404 "no route"."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx
import kernel
import pytest
from kernel import APIStatusError, Kernel

from kernel_actions.runner.http.unavailable import KERNEL_ENDPOINTS, WHY_CLOUD, why_cloud

from .conftest import RunnerProcess

NODE_SDK = Path(__file__).parent / "node" / "node_modules" / "@onkernel" / "sdk" / "resources"


def python_sdk_endpoints() -> set[tuple[str, str]]:
    """``(METHOD, path)`` of every call in the Python SDK's resources, ids as ``{}``."""
    root = Path(kernel.__file__).parent / "resources"
    call = re.compile(r'self\._(get|post|put|patch|delete)(?:_api_list)?\(\s*(?:path_template\()?'
                      r'\s*f?"([^"]+)"', re.S)
    found = set()
    for source in root.rglob("*.py"):
        for m in call.finditer(source.read_text()):
            found.add((m.group(1).upper(), re.sub(r"\{[^}]+\}", "{}", m.group(2))))
    return found


def node_sdk_endpoints() -> set[tuple[str, str]]:
    call = re.compile(r"this\._client\.(get|post|put|patch|delete|getAPIList)\(\s*"
                      r"(?:\(0, path_1\.path\)\s*`([^`]+)`|'([^']+)')")
    found = set()
    for source in NODE_SDK.rglob("*.js"):
        for m in call.finditer(source.read_text()):
            method = "GET" if m.group(1) == "getAPIList" else m.group(1).upper()
            found.add((method, re.sub(r"\$\{[^}]+\}", "{}", m.group(2) or m.group(3))))
    return found


def table() -> set[tuple[str, str]]:
    return {(method, re.sub(r"\{[^}]+\}", "{}", path))
            for path, methods in KERNEL_ENDPOINTS for method in methods.split()}


def test_the_table_covers_both_sdks() -> None:
    python = python_sdk_endpoints()
    assert len(python) > 150
    assert python - table() == set()
    if NODE_SDK.is_dir():
        node = node_sdk_endpoints()
        assert len(node) > 100
        assert node - table() == set()


def test_every_sdk_endpoint_answers_without_no_route(
        start_runner: Callable[..., RunnerProcess]) -> None:
    runner = start_runner(None, command="serve")
    unavailable: list[str] = []
    with httpx.Client(base_url=runner.url, timeout=30) as client:
        for method, path in sorted(table()):
            url = path.replace("{}", "nonexistent-id")
            with client.stream(method, url, json={} if method in ("POST", "PUT", "PATCH")
                               else None) as r:
                r.read()
                assert r.status_code != 405, (method, path)
                if r.status_code == 404:
                    assert "no route" not in r.text, (method, path, r.text)
                if r.status_code == 501:
                    body = r.json()
                    assert body["code"] == "not_available_locally", (method, path)
                    assert "not available on the local runner" in body["message"]
                    assert r.headers["x-should-retry"] == "false"
                    unavailable.append(f"{method} {path}")
                else:
                    assert r.status_code < 500, (method, path, r.status_code, r.text)
    # The cloud-only parts answer 501; what the runner serves does not.
    assert "GET /vaults" in unavailable and "POST /org/api_keys" in unavailable
    # Served locally, no longer 501: custom proxies, credentials, extensions, deleting a
    # deployment (the Chrome Web Store import needs the cloud).
    for served in ("GET /proxies", "POST /proxies/{}/check", "GET /credentials/{}/totp-code",
                   "POST /extensions", "POST /browsers/{}/extensions", "DELETE /deployments/{}"):
        assert served not in unavailable, served
    assert "GET /extensions/from_chrome_store" in unavailable
    assert "GET /invocations" not in unavailable
    assert "PUT /browsers/{}/fs/write_file" not in unavailable
    assert "POST /browsers/{}/process/exec" not in unavailable
    # Each part of the API beyond the browsers says why it needs the cloud (a browser API
    # this machine's Chromium lacks says what is missing instead).
    assert [u for u in unavailable if why_cloud(u.split(" ", 1)[1]) is None
            and not u.split(" ", 1)[1].startswith("/browsers/")] == []


def test_the_readme_lists_what_answers_501_and_why() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("#### What isn't available locally", 1)[1].split("\n#", 1)[0]
    for prefix, why in WHY_CLOUD:
        assert f"`{prefix}" in section, prefix
        assert why.split(" (")[0] in section, why


def test_the_sdk_gets_a_clear_501_and_does_not_retry(
        start_runner: Callable[..., RunnerProcess]) -> None:
    runner = start_runner(None, command="serve")
    sent: list[httpx.Request] = []
    k = Kernel(base_url=runner.url, api_key="local", max_retries=3, timeout=30,
               http_client=httpx.Client(event_hooks={"request": [sent.append]}))
    for call, name in ((lambda: k.vaults.retrieve("v"), "vaults"),
                       (lambda: k.api_keys.list(), "API keys"),
                       (lambda: k.auth.connections.list(), "auth connections"),
                       (lambda: k.extensions.download_from_chrome_store(url="https://x"),
                        "Chrome Web Store")):
        sent.clear()
        with pytest.raises(APIStatusError) as refused:
            call()
        assert refused.value.status_code == 501
        assert len(sent) == 1
        assert name in str(refused.value.body)
        # One request, not four: the SDK honours x-should-retry.
        assert refused.value.response.headers["x-should-retry"] == "false"


def test_an_api_key_guards_the_new_endpoints(
        start_runner: Callable[..., RunnerProcess]) -> None:
    runner = start_runner(None, "--api-key", "k3y", command="serve")
    with httpx.Client(base_url=runner.url, timeout=30) as client:
        for method, url in (("GET", "/vaults"), ("GET", "/browsers/x/fs/list_files?path=/"),
                            ("POST", "/browsers/x/process/exec"), ("GET", "/profiles")):
            r = client.request(method, url)
            assert r.status_code == 401 and r.json()["code"] == "unauthorized", (method, url)
            r = client.request(method, url, headers={"Authorization": "Bearer k3y"})
            assert r.status_code != 401, (method, url)
