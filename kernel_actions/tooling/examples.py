"""An example payload for an action, made from its input JSON Schema (for banners and hints).

Not a faker: the smallest payload that passes validation where the schema makes that easy
(required fields only, each from its default, example, enum or bounds, else a value of its
type: for a string, one valid for its ``format`` or, without one, for what its name says it
holds, a URL for ``url``, an address for ``email``), so a user can copy it and edit it. When
no value is known to be valid (a ``pattern`` the placeholder doesn't match, a path that must
exist), there is no example: a payload that fails would be worse than none.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

__all__ = ["example_payload", "example_value", "UNKNOWN"]

#: How deep nested objects are filled in.
MAX_DEPTH = 4


class _Unknown:
    """No valid value is known (the payload is left out)."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = _Unknown()

#: A valid value for each string ``format`` pydantic writes (``HttpUrl`` is ``uri``...).
FORMAT_VALUES: dict[str, str] = {
    "uri": "https://example.com", "iri": "https://example.com",
    "uri-reference": "https://example.com", "email": "user@example.com",
    "idn-email": "user@example.com", "name-email": "User <user@example.com>",
    "date-time": "2025-01-01T00:00:00Z", "date": "2025-01-01", "time": "12:00:00",
    "duration": "PT1M", "uuid": "123e4567-e89b-42d3-a456-426614174000",
    **{f"uuid{v}": f"123e4567-e89b-{v}2d3-a456-426614174000" for v in (1, 3, 4, 5, 6, 7, 8)},
    "ipv4": "127.0.0.1", "ipv6": "::1", "ipvanyaddress": "127.0.0.1",
    "ipv4interface": "127.0.0.1/32", "ipv6interface": "::1/128",
    "ipvanyinterface": "127.0.0.1/32", "ipv4network": "127.0.0.0/8",
    "ipv6network": "::1/128", "ipvanynetwork": "127.0.0.0/8", "hostname": "example.com",
    "idn-hostname": "example.com", "json-string": "{}", "password": "secret",
    "binary": "text", "path": "example.txt", "directory-path": "/tmp", "color": "red",
    "multi-host-uri": "https://example.com", "postgres-dsn": "postgres://user@localhost/db",
    "redis-dsn": "redis://localhost:6379/0", "base64": "dGV4dA==", "base64url": "dGV4dA==",
}

#: For a plain string, what its name says it holds: (words in the name, a value).
NAME_VALUES: tuple[tuple[frozenset[str], str], ...] = (
    (frozenset({"url", "uri", "link", "href", "website", "homepage", "endpoint"}),
     "https://example.com"),
    (frozenset({"email", "mail"}), "user@example.com"),
    (frozenset({"domain", "hostname"}), "example.com"),
)


def _words(name: str) -> set[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return {w.lower() for w in re.split(r"[^A-Za-z0-9]+", spaced) if w}


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        node: Any = root
        for part in ref[2:].split("/"):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        return node if isinstance(node, dict) else {}
    return schema


def _string(schema: dict[str, Any], name: str) -> str | _Unknown:
    low = int(schema.get("minLength", 0) or 0)
    high = schema.get("maxLength")
    fmt = schema.get("format")
    if isinstance(fmt, str):
        if fmt not in FORMAT_VALUES:
            return UNKNOWN  # a format we can't vouch for (a path that must exist, say)
        text = FORMAT_VALUES[fmt]
    else:
        words = _words(name)
        known = next((value for keys, value in NAME_VALUES if words & keys), None)
        if known is not None:
            text = known
        else:  # a placeholder: any length will do
            text = (name or "text").ljust(low, "x")
            if isinstance(high, int):
                text = text[:high]
    if len(text) < low or (isinstance(high, int) and len(text) > high):
        return UNKNOWN
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        try:
            if re.search(pattern, text) is None:
                return UNKNOWN
        except re.error:
            return UNKNOWN
    return text


def _number(schema: dict[str, Any], integer: bool) -> float | int | _Unknown:
    step = 1 if integer else 0.5
    low = schema.get("minimum")
    if low is None and "exclusiveMinimum" in schema:
        low = schema["exclusiveMinimum"] + step
    high = schema.get("maximum")
    if high is None and "exclusiveMaximum" in schema:
        high = schema["exclusiveMaximum"] - step
    value = low if low is not None else (min(1, high) if high is not None else 1)
    if high is not None and value > high:
        return UNKNOWN
    multiple = schema.get("multipleOf")
    if multiple and value % multiple:
        return UNKNOWN
    return int(value) if integer else value


def example_value(schema: Any, root: dict[str, Any] | None = None, depth: int = 0,
                  name: str = "") -> Any:
    """A value valid for ``schema`` in the common cases (see the module's docstring), or
    :data:`UNKNOWN`."""
    if not isinstance(schema, dict):
        return None
    root = root if root is not None else schema
    schema = _resolve(schema, root)
    for key in ("default", "const"):
        if key in schema:
            return schema[key]
    if isinstance(schema.get("examples"), list) and schema["examples"]:
        return schema["examples"][0]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            typed = [o for o in options if isinstance(o, dict) and o.get("type") != "null"]
            for option in typed or options:
                value = example_value(option, root, depth, name)
                if value is not UNKNOWN:
                    return value
            return UNKNOWN
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "object" or "properties" in schema:
        if depth >= MAX_DEPTH:
            return {}
        props = schema.get("properties") or {}
        required = schema.get("required") or []
        value = {k: example_value(props.get(k, {}), root, depth + 1, k) for k in required}
        return UNKNOWN if any(v is UNKNOWN for v in value.values()) else value
    if kind == "array":
        if depth >= MAX_DEPTH:
            return []
        count = max(int(schema.get("minItems", 0) or 0), 1 if "items" in schema else 0)
        count = min(count, 3, int(schema.get("maxItems", count)))
        item = example_value(schema.get("items", {}), root, depth + 1, name)
        if item is UNKNOWN or (count > 1 and schema.get("uniqueItems")):
            return UNKNOWN
        return [item] * count
    if kind == "string":
        return _string(schema, name)
    if kind in ("integer", "number"):
        return _number(schema, kind == "integer")
    if kind == "boolean":
        return True
    return None


def example_payload(input_schema: dict[str, Any] | None) -> str | None:
    """The example as compact JSON; None when the action takes no payload worth showing, or
    no valid one is known."""
    if not input_schema:
        return None
    value = example_value(input_schema)
    if value is None or value is UNKNOWN:
        return None
    return json.dumps(value, separators=(", ", ": "))
