"""Trying to get around the front door of an endpoint family: no key where a key is set, a
cross-site ``Origin``, a body over the limit, bad JSON. Each must be a JSON 4xx that says
why, never a 5xx, and must change nothing."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx

from kernel_actions.limits import MAX_PAYLOAD_BYTES

from .test_local_users import OTHER

__all__ = ["assert_guarded", "assert_other_users_refused", "OTHER"]

#: A client that becomes another uid, then asks the runner for each path (GET).
_AS_OTHER = r"""
import json, os, sys
import httpx
url, gid, uid, paths = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
import encodings.idna
httpx.get(f"{url}/health", timeout=10)
os.setgroups([]); os.setgid(gid); os.setuid(uid)
out = []
for path in paths:
    r = httpx.get(url + path, timeout=10)
    out.append([path, r.status_code, r.json()])
print(json.dumps(out))
"""


def assert_other_users_refused(url: str, paths: list[str]) -> None:
    """Another local user gets a JSON 403 on each path of a key-less runner (the
    connection's peer is checked before any route)."""
    assert OTHER is not None
    uid, gid = OTHER
    done = subprocess.run([sys.executable, "-c", _AS_OTHER, url, str(gid), str(uid), *paths],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for path, status, body in json.loads(done.stdout.strip().splitlines()[-1]):
        assert status == 403 and body["code"] == "forbidden", (path, status, body)


def _refused(r: httpx.Response, status: int, what: str) -> dict:
    assert r.status_code == status, (what, r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json"), (what, r.headers)
    body = r.json()
    assert body["code"] and body["message"], (what, body)
    return body


def assert_guarded(url: str, key: str, endpoints: list[tuple[str, str]],
                   json_writes: list[tuple[str, str]]) -> None:
    """``endpoints``: ``(method, path)`` of the family, each tried without the key and
    from another site; ``json_writes``: those that take a JSON body, each also sent an
    oversized body and bad JSON (with the key, from no site)."""
    good = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, timeout=30) as c:
        for method, path in endpoints:
            what = f"{method} {path}"
            body = b"{}" if method in ("POST", "PATCH", "PUT") else None
            headers = {"Content-Type": "application/json"} if body is not None else {}
            # No key (and a wrong one) where the runner has one.
            _refused(c.request(method, path, content=body, headers=headers), 401, what)
            _refused(c.request(method, path, content=body,
                               headers={**headers, "Authorization": "Bearer wrong"}), 401, what)
            # A page on another site, with the right key even.
            _refused(c.request(method, path, content=body, headers={
                **headers, **good, "Origin": "https://evil.example"}), 403, what)
            _refused(c.request(method, path, content=body, headers={
                **headers, **good, "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}),
                403, what)
        for method, path in json_writes:
            what = f"{method} {path}"
            big = b'{"name": "' + b"x" * (3 * MAX_PAYLOAD_BYTES + 10) + b'"}'
            _refused(c.request(method, path, content=big, headers={
                **good, "Content-Type": "application/json"}), 400, what)
            for bad in (b"{not json", b"[1, 2]", b"\xff\xfe", b"[" * 100_000):
                _refused(c.request(method, path, content=bad, headers={
                    **good, "Content-Type": "application/json"}), 400, what)
            # A form post (what a page can send without a preflight) is not taken.
            _refused(c.request(method, path, content=b"a=b", headers={
                **good, "Content-Type": "application/x-www-form-urlencoded",
                "Sec-Fetch-Mode": "no-cors"}), 415, what)
