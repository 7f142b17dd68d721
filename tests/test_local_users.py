"""Only the user who started a key-less runner (and root) may use it: a client running as
another uid is refused on every way in (the SDK, ``POST /invocations`` served straight
from the connection, any other route, a WebSocket upgrade), with a JSON 403 that says how
to let it in; ``--api-key`` hands the decision to the key, ``--allow-other-users`` lets
every local user in. And the lookup underneath: who owns the other end of a connection.
"""

from __future__ import annotations

import json
import os
import pwd
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from kernel_actions.runner.config import Config
from kernel_actions.runner.http import local_users
from kernel_actions.runner.http.local_users import LocalUsers
from kernel_actions.runner.peer_uid import PeerUnknown, peer_uid, peer_uid_supported

from .conftest import RunnerProcess
from .helpers import all_invocations


def _other_user() -> tuple[int, int] | None:
    """A uid (and its gid) other than ours this test can become: only root can."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return None
    for name in ("nobody", "daemon"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        if entry.pw_uid != 0:
            return entry.pw_uid, entry.pw_gid
    return None


OTHER = _other_user()
needs_other_user = pytest.mark.skipif(
    OTHER is None, reason="no other uid to run a client as (the tests must run as root on "
                          "Linux to become one)")

#: A client that imports what it needs as root, then becomes ``uid`` and talks to the
#: runner: the official SDK, a raw ``POST /invocations``, ``GET /browsers``, a WebSocket
#: upgrade. Prints what each got, as JSON.
CLIENT = r"""
import json, os, socket, sys
import httpx
from kernel import Kernel, APIStatusError
url, key, gid, uid = sys.argv[1], sys.argv[2] or None, int(sys.argv[3]), int(sys.argv[4])
# What is imported lazily must be imported before this process can't read the venv: one
# request as root (who may connect) does it.
import encodings.idna
httpx.get(f"{url}/health", timeout=10)
os.setgroups([]); os.setgid(gid); os.setuid(uid)
assert os.getuid() == uid and os.geteuid() == uid
out = {"uid": os.getuid()}
client = Kernel(base_url=url, api_key=key or "not-a-key", max_retries=0)
try:
    inv = client.invocations.create(app_name="conformance", action_name="echo",
                                    payload='{"who": "other"}', version="latest")
    out["sdk"] = [200, inv.status, inv.output]
except APIStatusError as exc:
    out["sdk"] = [exc.status_code, exc.body]
headers = {"Authorization": f"Bearer {key}"} if key else {}
r = httpx.post(f"{url}/invocations", headers=headers, timeout=10,
               json={"app_name": "conformance", "action_name": "echo", "payload": "{}"})
out["post"] = [r.status_code, r.json()]
r = httpx.get(f"{url}/browsers", headers=headers, timeout=10)
out["browsers"] = [r.status_code, r.json()]
host, port = url.rsplit("/", 1)[1].rsplit(":", 1)
with socket.create_connection((host, int(port)), timeout=10) as s:
    s.sendall(f"GET /browsers/x/cdp/y HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
              "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
              "Sec-WebSocket-Version: 13\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    out["upgrade"] = data.split(b"\r\n", 1)[0].decode()
print(json.dumps(out))
"""


def run_as_other(url: str, key: str | None = None) -> dict:
    assert OTHER is not None
    uid, gid = OTHER
    done = subprocess.run([sys.executable, "-c", CLIENT, url, key or "", str(gid), str(uid)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["uid"] == uid
    return found


@pytest.fixture
def start(start_runner: Callable[..., RunnerProcess], app_copy: Callable[[str], Path]
          ) -> Callable[..., RunnerProcess]:
    entry = app_copy("conformance_app.py")
    return lambda *extra: start_runner(entry, *extra, cwd=entry.parent)


@needs_other_user
def test_another_user_is_refused_everywhere_and_the_owner_is_not(
        start: Callable[..., RunnerProcess]) -> None:
    runner = start()
    got = run_as_other(runner.url or "")
    for way in ("sdk", "post", "browsers"):
        status, body = got[way]
        assert status == 403, (way, got)
        assert body["code"] == "forbidden"
        message = body["message"]
        assert "--api-key" in message and "--allow-other-users" in message, message
        assert f"uid {OTHER[0]}" in message, message  # type: ignore[index]
    assert got["upgrade"].startswith("HTTP/1.1 403"), got
    # The owner passes, and nothing the other user sent ran.
    with runner.client() as c:
        assert c.get("/apps").status_code == 200
        assert all_invocations(c) == []
        r = c.post("/invocations", json={"app_name": "conformance", "action_name": "echo",
                                         "payload": '{"who": "owner"}'})
        assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text


@needs_other_user
def test_with_an_api_key_the_key_decides(start: Callable[..., RunnerProcess]) -> None:
    runner = start("--api-key", "sesame")
    with_key = run_as_other(runner.url or "", "sesame")
    assert with_key["sdk"][:2] == [200, "succeeded"], with_key
    assert with_key["post"][0] == 200 and with_key["browsers"][0] == 200, with_key
    without = run_as_other(runner.url or "", "wrong")
    assert without["sdk"][0] == 401 and without["post"][0] == 401, without


@needs_other_user
def test_allow_other_users_lets_them_in(start: Callable[..., RunnerProcess]) -> None:
    runner = start("--allow-other-users")
    got = run_as_other(runner.url or "")
    assert got["sdk"][:2] == [200, "succeeded"], got
    assert got["post"][0] == 200 and got["browsers"][0] == 200, got


def test_where_the_peer_cant_be_known_the_runner_says_so(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(local_users, "peer_uid_supported", lambda: False)
    users = LocalUsers.for_config(Config(data_dir=tmp_path))
    assert not users.enforced
    assert users.unknown_note is not None and "--api-key" in users.unknown_note
    keyed = LocalUsers.for_config(Config(data_dir=tmp_path, api_key="k"))
    assert not keyed.enforced and keyed.unknown_note is None


@pytest.mark.skipif(not peer_uid_supported(), reason="this system can't tell a peer's uid")
def test_peer_uid_names_the_owner_of_the_other_end() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        server.settimeout(30)
        with socket.create_connection(server.getsockname()):
            accepted, _ = server.accept()
            with accepted:
                assert peer_uid(accepted.getsockname(), accepted.getpeername()) == os.geteuid()
        if OTHER is not None:
            port = server.getsockname()[1]
            other = subprocess.Popen(
                [sys.executable, "-c", f"import encodings.idna, os, socket, sys; os.setgroups([]); "
                 f"os.setgid({OTHER[1]}); os.setuid({OTHER[0]}); "
                 f"s = socket.create_connection(('127.0.0.1', {port})); sys.stdin.read()"],
                stdin=subprocess.PIPE)
            try:
                accepted, _ = server.accept()
                with accepted:
                    assert peer_uid(accepted.getsockname(), accepted.getpeername()) == OTHER[0]
            finally:
                assert other.stdin is not None
                other.stdin.close()
                other.wait(10)
        with pytest.raises(PeerUnknown):
            peer_uid(("127.0.0.1", server.getsockname()[1]), ("127.0.0.1", 1))
