"""Time-based one-time passwords (RFC 6238, on RFC 4226's HOTP), with the standard library.

A secret comes as Kernel takes it: 16-128 base32 characters (any case, spaces and
padding ignored), or an ``otpauth://totp/...`` URI whose ``secret``, ``algorithm``,
``digits`` and ``period`` parameters, where present, override the explicit settings.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

__all__ = ["ALGORITHMS", "TotpSettings", "TotpError", "totp", "parse_secret",
           "DEFAULT_ALGORITHM", "DEFAULT_DIGITS", "DEFAULT_PERIOD"]

ALGORITHMS = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512}
DEFAULT_ALGORITHM, DEFAULT_DIGITS, DEFAULT_PERIOD = "SHA1", 6, 30
MIN_DIGITS, MAX_DIGITS = 6, 8
MIN_PERIOD, MAX_PERIOD = 1, 3600
MIN_SECRET_CHARS, MAX_SECRET_CHARS = 16, 128
_BASE32 = re.compile(r"[A-Z2-7]+")


class TotpError(ValueError):
    """A secret or setting that can't make codes (the message is fit for a 400)."""


@dataclass(frozen=True)
class TotpSettings:
    """What makes a credential's codes: the base32 secret and how codes are made."""

    secret: str
    algorithm: str = DEFAULT_ALGORITHM
    digits: int = DEFAULT_DIGITS
    period: int = DEFAULT_PERIOD

    def key(self) -> bytes:
        return _decode(self.secret)

    def code(self, unix_time: float) -> str:
        return totp(self.key(), unix_time, algorithm=self.algorithm, digits=self.digits,
                    period=self.period)

    def expires_at(self, unix_time: float) -> int:
        """The second the code of ``unix_time`` stops being current."""
        return (int(unix_time) // self.period + 1) * self.period


def totp(key: bytes, unix_time: float, *, algorithm: str = DEFAULT_ALGORITHM,
         digits: int = DEFAULT_DIGITS, period: int = DEFAULT_PERIOD) -> str:
    """The code for ``unix_time`` (RFC 6238: HOTP of the time step, T0 = 0)."""
    digest = ALGORITHMS[algorithm]
    counter = int(unix_time) // period
    mac = hmac.new(key, struct.pack(">Q", counter), digest).digest()
    offset = mac[-1] & 0x0F
    binary = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(binary % 10 ** digits).zfill(digits)


def _normalise(secret: str) -> str:
    return re.sub(r"[\s-]", "", secret).upper().rstrip("=")


def _decode(secret: str) -> bytes:
    text = _normalise(secret)
    try:
        return base64.b32decode(text + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError):
        raise TotpError("'totp_secret' is not valid base32") from None


def _check_algorithm(value: object) -> str:
    if not isinstance(value, str) or value.upper() not in ALGORITHMS:
        raise TotpError(f"'totp_algorithm' must be one of {', '.join(ALGORITHMS)}, "
                        f"got {value!r}")
    return value.upper()


def _check_int(value: object, name: str, lo: int, hi: int) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise TotpError(f"'{name}' must be an integer from {lo} to {hi}, got {value!r}")
    return value


def parse_secret(value: object, *, algorithm: object = None, digits: object = None,
                 period: object = None, base: TotpSettings | None = None) -> TotpSettings:
    """The settings for ``totp_secret`` = ``value`` with the explicit fields given (``None``:
    not given). Omitted fields keep ``base``'s values when a raw secret replaces it (what
    an update does); a URI starts from the defaults, and its own parameters win."""
    if not isinstance(value, str):
        raise TotpError("'totp_secret' must be a string")
    start = base if base is not None else TotpSettings("")
    algo = start.algorithm if algorithm is None else _check_algorithm(algorithm)
    n = start.digits if digits is None else _check_int(digits, "totp_digits", MIN_DIGITS,
                                                        MAX_DIGITS)
    step = start.period if period is None else _check_int(period, "totp_period", MIN_PERIOD,
                                                           MAX_PERIOD)
    raw = value.strip()
    if raw.lower().startswith("otpauth://"):
        parts = urlsplit(raw)
        if parts.netloc.lower() != "totp":
            raise TotpError("'totp_secret' URIs must be otpauth://totp/... (HOTP counters "
                            "are not supported)")
        query = {k.lower(): v[-1] for k, v in parse_qs(parts.query).items()}
        if "secret" not in query:
            raise TotpError("the otpauth:// URI in 'totp_secret' has no secret parameter")
        if base is not None:  # a new URI defaults what it leaves out
            algo = DEFAULT_ALGORITHM if algorithm is None else algo
            n = DEFAULT_DIGITS if digits is None else n
            step = DEFAULT_PERIOD if period is None else step
        if "algorithm" in query:
            algo = _check_algorithm(query["algorithm"])
        if "digits" in query:
            n = _check_int(query["digits"], "totp_digits", MIN_DIGITS, MAX_DIGITS)
        if "period" in query:
            step = _check_int(query["period"], "totp_period", MIN_PERIOD, MAX_PERIOD)
        raw = query["secret"]
    secret = _normalise(raw)
    if not MIN_SECRET_CHARS <= len(secret) <= MAX_SECRET_CHARS:
        raise TotpError(f"'totp_secret' must be {MIN_SECRET_CHARS}-{MAX_SECRET_CHARS} base32 "
                        f"characters (or an otpauth:// URI), got {len(secret)}")
    if not _BASE32.fullmatch(secret):
        raise TotpError("'totp_secret' is not base32 (letters A-Z and digits 2-7)")
    settings = TotpSettings(secret, algo, n, step)
    settings.key()  # decodes, or says why not
    return settings
