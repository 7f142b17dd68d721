"""The runner's credentials: named login values (and a TOTP secret) for a domain.

Each is a record of :class:`~..private_records.PrivateRecords` in ``<data>/credentials``
(folder ``0700``, files ``0600``). As on Kernel, values are never answered back: a
credential is described by its value *keys* (``value_keys``, on single-credential
answers), ``has_values`` and ``has_totp_secret``; the TOTP secret only ever leaves the
runner as codes (``totp_code`` right after it is set, and ``GET .../totp-code``).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ...ids import new_id
from ...timeutil import format_ns, now_ns
from ..errors import bad_request, conflict, not_found
from ..private_records import PrivateRecords
from .totp import TotpError, TotpSettings, parse_secret

__all__ = ["Credentials", "MAX_VALUES"]

#: Values one credential may hold, and how long a key or a value may be.
MAX_VALUES = 100
MAX_KEY_CHARS = 255
MAX_VALUE_CHARS = 64 * 1024
MAX_NAME_CHARS = 255


def _text(value: Any, name: str, *, limit: int = MAX_NAME_CHARS) -> str:
    if not isinstance(value, str) or not value.strip():
        raise bad_request(f"{name!r} must be a non-empty string")
    if len(value) > limit or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise bad_request(f"{name!r} must be at most {limit} characters, without control "
                          "characters")
    return value


def _values(value: Any, name: str = "values") -> dict[str, str]:
    if not isinstance(value, dict):
        raise bad_request(f"{name!r} must be an object of string values, e.g. "
                          '{"username": "...", "password": "..."}')
    if len(value) > MAX_VALUES:
        raise bad_request(f"{name!r} may hold at most {MAX_VALUES} values")
    for key, item in value.items():
        _text(key, f"{name} key", limit=MAX_KEY_CHARS)
        if not isinstance(item, str) or len(item) > MAX_VALUE_CHARS:
            raise bad_request(f"{name}[{key!r}] must be a string of at most "
                              f"{MAX_VALUE_CHARS} characters")
    return dict(value)


def _settings(record: dict[str, Any]) -> TotpSettings | None:
    totp = record.get("totp")
    return TotpSettings(**totp) if isinstance(totp, dict) else None


class Credentials:
    """Create, read, change and delete credentials; make their TOTP codes."""

    def __init__(self, folder: Path) -> None:
        self.records = PrivateRecords(folder)
        self._lock = asyncio.Lock()

    # -- reading -------------------------------------------------------------------------

    def find(self, id_or_name: str) -> dict[str, Any]:
        record = self.records.get(id_or_name)
        if record is None:
            record = next((r for r in self.records.all() if r["name"] == id_or_name), None)
        if record is None:
            raise not_found(f"credential {id_or_name!r} not found")
        return record

    def listed(self, *, domain: str | None, query: str | None) -> list[dict[str, Any]]:
        """What ``GET /credentials`` lists, newest first, as answered (no value keys)."""
        needle = query.lower() if query else None
        return [self.to_wire(r, single=False) for r in self.records.all()
                if (domain is None or r["domain"].lower() == domain.lower())
                and (needle is None or r["id"] == query or needle in r["name"].lower()
                     or needle in r["domain"].lower())]

    def code(self, id_or_name: str) -> dict[str, str]:
        """``GET /credentials/{id}/totp-code``: the current code and when it expires."""
        settings = _settings(self.find(id_or_name))
        if settings is None:
            raise bad_request(f"credential {id_or_name!r} has no TOTP secret: set "
                              "totp_secret first")
        now = time.time()
        return {"code": settings.code(now),
                "expires_at": format_ns(settings.expires_at(now) * 1_000_000_000)}

    @staticmethod
    def to_wire(record: dict[str, Any], *, single: bool = True,
                fresh_code: bool = False) -> dict[str, Any]:
        """The hosted API's credential object: no values, no secret."""
        settings = _settings(record)
        body: dict[str, Any] = {
            "id": record["id"], "name": record["name"], "domain": record["domain"],
            "created_at": record["created_at"], "updated_at": record["updated_at"],
            "has_values": bool(record["values"]),
            "has_totp_secret": settings is not None,
            "sso_provider": record.get("sso_provider"),
        }
        if settings is not None:
            body.update(totp_algorithm=settings.algorithm, totp_digits=settings.digits,
                        totp_period=settings.period)
            if fresh_code:
                now = time.time()
                body["totp_code"] = settings.code(now)
                body["totp_code_expires_at"] = format_ns(
                    settings.expires_at(now) * 1_000_000_000)
        if single:
            body["value_keys"] = sorted(record["values"])
        return body

    # -- changing ------------------------------------------------------------------------

    def _name_free(self, name: str, exclude: str | None = None) -> None:
        if any(r["name"] == name and r["id"] != exclude for r in self.records.all()):
            raise conflict(f"a credential named {name!r} already exists")

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        name = _text(body.get("name"), "name")
        domain = _text(body.get("domain"), "domain")
        values = _values(body.get("values"))
        sso = body.get("sso_provider")
        if sso is not None and sso != "":
            sso = _text(sso, "sso_provider")
        secret = body.get("totp_secret")
        settings = None
        if secret is not None and secret != "":
            try:
                settings = parse_secret(secret, algorithm=body.get("totp_algorithm"),
                                        digits=body.get("totp_digits"),
                                        period=body.get("totp_period"))
            except TotpError as exc:
                raise bad_request(str(exc)) from None
        elif any(body.get(k) is not None for k in ("totp_algorithm", "totp_digits",
                                                    "totp_period")):
            raise bad_request("'totp_algorithm', 'totp_digits' and 'totp_period' need "
                              "'totp_secret'")
        async with self._lock:
            self._name_free(name)
            stamp = format_ns(now_ns())
            record = {"id": new_id(), "name": name, "domain": domain, "created_at": stamp,
                      "updated_at": stamp, "values": values, "sso_provider": sso or None,
                      "totp": asdict(settings) if settings is not None else None}
            await asyncio.to_thread(self.records.put, record)
        return self.to_wire(record, fresh_code=settings is not None)

    async def update(self, id_or_name: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self._lock:
            record = self.find(id_or_name)
            if "name" in body:
                name = _text(body["name"], "name")
                self._name_free(name, exclude=record["id"])
                record["name"] = name
            removed = body.get("remove_value_keys")
            if removed is not None:
                if not isinstance(removed, list) or not all(isinstance(k, str)
                                                            for k in removed):
                    raise bad_request("'remove_value_keys' must be a list of strings")
            values = _values(body["values"]) if body.get("values") is not None else {}
            merged = {k: v for k, v in record["values"].items() if k not in (removed or ())}
            merged.update(values)
            if len(merged) > MAX_VALUES:
                raise bad_request(f"a credential may hold at most {MAX_VALUES} values")
            record["values"] = merged
            if "sso_provider" in body:
                sso = body["sso_provider"]
                record["sso_provider"] = None if sso in (None, "") else _text(
                    sso, "sso_provider")
            fresh = self._update_totp(record, body)
            record["updated_at"] = format_ns(now_ns())
            await asyncio.to_thread(self.records.put, record)
        return self.to_wire(record, fresh_code=fresh)

    @staticmethod
    def _update_totp(record: dict[str, Any], body: dict[str, Any]) -> bool:
        """Apply the TOTP fields of an update; whether a secret was just set."""
        explicit = {k: body.get(f"totp_{k}") for k in ("algorithm", "digits", "period")}
        secret = body.get("totp_secret")
        current = _settings(record)
        if secret == "":
            record["totp"] = None
            return False
        if secret is None and all(v is None for v in explicit.values()):
            return False
        source = secret if secret is not None else (
            current.secret if current is not None else None)
        if source is None:
            raise bad_request("'totp_algorithm', 'totp_digits' and 'totp_period' need "
                              "'totp_secret'")
        try:
            settings = parse_secret(source, base=current, **explicit)
        except TotpError as exc:
            raise bad_request(str(exc)) from None
        record["totp"] = asdict(settings)
        return secret is not None

    async def delete(self, id_or_name: str) -> None:
        async with self._lock:
            record = self.find(id_or_name)
            await asyncio.to_thread(self.records.delete, record["id"])
