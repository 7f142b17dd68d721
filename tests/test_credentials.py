"""Credentials through the official SDK: create, list, read, change, delete, TOTP codes
(RFC 6238's test vectors), values never answered back, files for the owner only; and the
front door's rules on every ``/credentials`` endpoint."""

from __future__ import annotations

import base64
import stat
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from kernel import BadRequestError, ConflictError, Kernel, NotFoundError

from kernel_actions.runner.credentials.totp import TotpError, parse_secret, totp

from .conftest import RunnerProcess
from .door_checks import OTHER, assert_guarded, assert_other_users_refused

#: RFC 6238 appendix B: the seeds (ASCII) per algorithm, and the 8-digit codes per time.
SEEDS = {"SHA1": b"12345678901234567890",
         "SHA256": b"12345678901234567890123456789012",
         "SHA512": b"1234567890123456789012345678901234567890123456789012345678901234"}
VECTORS = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]


def b32(seed: bytes) -> str:
    return base64.b32encode(seed).decode().rstrip("=")


@pytest.mark.parametrize(("when", "sha1", "sha256", "sha512"), VECTORS)
def test_rfc_6238_vectors(when: int, sha1: str, sha256: str, sha512: str) -> None:
    for algorithm, expected in (("SHA1", sha1), ("SHA256", sha256), ("SHA512", sha512)):
        assert totp(SEEDS[algorithm], when, algorithm=algorithm, digits=8) == expected
        # The same through a base32 secret as the API takes it, and through a URI.
        settings = parse_secret(b32(SEEDS[algorithm]).lower(), algorithm=algorithm, digits=8)
        assert settings.code(when) == expected
        uri = (f"otpauth://totp/Site:me?secret={b32(SEEDS[algorithm])}&algorithm={algorithm}"
               "&digits=8&period=30&issuer=Site")
        assert parse_secret(uri).code(when) == expected
    assert totp(SEEDS["SHA1"], when)[-6:] == sha1[-6:]  # 6 digits: the low ones


def test_secrets_that_cannot_make_codes_are_refused() -> None:
    for bad in ("short", "A" * 129, "GEZDGNBV!Y3TQOJQ", "otpauth://hotp/x?secret=GEZDGNBVGY3TQOJQ",
                "otpauth://totp/x?issuer=y", 42):
        with pytest.raises(TotpError):
            parse_secret(bad)
    with pytest.raises(TotpError):
        parse_secret(b32(SEEDS["SHA1"]), digits=5)
    with pytest.raises(TotpError):
        parse_secret(b32(SEEDS["SHA1"]), algorithm="MD5")
    # A URI's own parameters win over the explicit fields.
    uri = f"otpauth://totp/x?secret={b32(SEEDS['SHA1'])}&digits=7"
    assert parse_secret(uri, digits=8, period=60).digits == 7
    assert parse_secret(uri, digits=8, period=60).period == 60


@pytest.fixture
def runner(start_runner: Callable[..., RunnerProcess]) -> RunnerProcess:
    return start_runner(None, command="serve")


def test_credentials_through_the_sdk(runner: RunnerProcess, tmp_path: Path) -> None:
    k = Kernel(base_url=runner.url, api_key="local", max_retries=0)
    password = "hunter2-do-not-echo"
    seed = b32(SEEDS["SHA1"])
    made = k.credentials.create(name="shop", domain="shop.example.com",
                                values={"username": "me", "password": password},
                                totp_secret=seed, totp_digits=8)
    assert made.id and made.name == "shop" and made.domain == "shop.example.com"
    assert made.has_values and made.has_totp_secret and made.value_keys == ["password",
                                                                            "username"]
    assert (made.totp_algorithm, made.totp_digits, made.totp_period) == ("SHA1", 8, 30)
    # The code made as the secret is set, valid until the end of its 30 s step.
    assert made.totp_code and made.totp_code_expires_at
    step_end = made.totp_code_expires_at.timestamp()
    assert step_end % 30 == 0 and 0 < step_end - time.time() <= 30
    assert made.totp_code == totp(SEEDS["SHA1"], step_end - 1, digits=8)

    code = k.credentials.totp_code("shop")
    end = code.expires_at.timestamp()
    assert code.code == totp(SEEDS["SHA1"], end - 1, digits=8) and len(code.code) == 8

    plain = k.credentials.create(name="blog", domain="blog.example.org", values={})
    assert not plain.has_values and not plain.has_totp_secret and plain.totp_code is None
    with pytest.raises(BadRequestError):
        k.credentials.totp_code(plain.id)
    with pytest.raises(ConflictError):
        k.credentials.create(name="shop", domain="x.example", values={"a": "b"})
    with pytest.raises(BadRequestError):
        k.credentials.create(name="bad", domain="x.example", values={"a": "b"},
                             totp_secret="not base32!")
    with pytest.raises(BadRequestError):
        k.credentials.create(name="bad", domain="x.example", values={"a": 1})  # type: ignore[dict-item]

    # Read by id or by name; the list leaves the value keys out.
    assert k.credentials.retrieve(made.id).name == "shop"
    assert k.credentials.retrieve("shop").value_keys == ["password", "username"]
    listed = k.credentials.list()
    assert [c.name for c in listed] == ["blog", "shop"]
    assert all(c.value_keys is None for c in listed)
    assert [c.name for c in k.credentials.list(domain="shop.example.com")] == ["shop"]
    assert [c.name for c in k.credentials.list(query="EXAMPLE.ORG")] == ["blog"]
    assert [c.name for c in k.credentials.list(query=made.id)] == ["shop"]
    assert len(k.credentials.list(limit=1).items) == 1

    # Changes: values merged after removals, a rename, a new SHA256 secret, SSO.
    changed = k.credentials.update("shop", name="shop2", remove_value_keys=["username"],
                                   values={"otp_hint": "phone"}, sso_provider="google",
                                   totp_secret=b32(SEEDS["SHA256"]), totp_algorithm="SHA256")
    assert changed.name == "shop2" and changed.value_keys == ["otp_hint", "password"]
    assert changed.sso_provider == "google" and changed.totp_algorithm == "SHA256"
    assert changed.totp_digits == 8  # a raw secret keeps the settings it did not name
    code = k.credentials.totp_code("shop2")
    assert code.code == totp(SEEDS["SHA256"], code.expires_at.timestamp() - 1,
                             algorithm="SHA256", digits=8)
    with pytest.raises(ConflictError):
        k.credentials.update("blog", name="shop2")
    with pytest.raises(BadRequestError):
        k.credentials.update("blog", totp_digits=8)  # no secret to apply it to
    cleared = k.credentials.update("shop2", totp_secret="", sso_provider=None)
    assert not cleared.has_totp_secret and cleared.sso_provider is None

    # Nothing answered ever held a value; the files are the owner's only.
    with runner.client() as c:
        for path in ("/credentials", f"/credentials/{made.id}"):
            assert password not in c.get(path).text
    folder = tmp_path / "data" / "credentials"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = list(folder.glob("*.json"))
    assert len(files) == 2 and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    assert any(password in f.read_text() for f in files)  # kept, for the browser to use

    k.credentials.delete("shop2")
    with pytest.raises(NotFoundError):
        k.credentials.retrieve(made.id)
    with pytest.raises(NotFoundError):
        k.credentials.delete("shop2")
    assert [c.name for c in k.credentials.list()] == ["blog"]
    assert len(list(folder.glob("*.json"))) == 1


def test_credentials_behind_the_front_door(start_runner: Callable[..., RunnerProcess]) -> None:
    runner = start_runner(None, "--api-key", "k3y", command="serve")
    k = Kernel(base_url=runner.url, api_key="k3y", max_retries=0)
    cred = k.credentials.create(name="c", domain="d.example", values={"p": "secret"},
                                totp_secret=b32(SEEDS["SHA1"]))
    one = f"/credentials/{cred.id}"
    assert_guarded(runner.url or "", "k3y",
                   [("POST", "/credentials"), ("GET", "/credentials"), ("GET", one),
                    ("PATCH", one), ("DELETE", one), ("GET", f"{one}/totp-code")],
                   [("POST", "/credentials"), ("PATCH", one)])
    # Nothing of it changed anything.
    assert [c.name for c in k.credentials.list()] == ["c"]
    assert k.credentials.retrieve("c").value_keys == ["p"]
    with httpx.Client(base_url=runner.url or "", timeout=30,
                      headers={"Authorization": "Bearer k3y"}) as c:
        for bad in ({"name": "x", "domain": "d", "values": "no"}, {"name": 1},
                    {"name": "x", "domain": "d", "values": {}, "totp_digits": 8}):
            r = c.post("/credentials", json=bad)
            assert r.status_code == 400 and r.json()["code"] == "bad_request", r.text


@pytest.mark.skipif(OTHER is None, reason="no other uid to run a client as (root on Linux)")
def test_another_user_gets_no_credentials(runner: RunnerProcess) -> None:
    k = Kernel(base_url=runner.url, api_key="local", max_retries=0)
    cred = k.credentials.create(name="c", domain="d.example", values={"p": "v"},
                                totp_secret=b32(SEEDS["SHA1"]))
    assert_other_users_refused(runner.url or "", ["/credentials", f"/credentials/{cred.id}",
                                                  f"/credentials/{cred.id}/totp-code"])
