"""An example payload for an action, made from its input JSON Schema (for banners and hints).

Not a faker: the smallest payload that passes validation where the schema makes that easy
(required fields only, each from its default, example, enum or bounds, else a placeholder of
its type), so a user can copy it and edit it.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["example_payload", "example_value"]

#: How deep nested objects are filled in.
MAX_DEPTH = 4


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        node: Any = root
        for part in ref[2:].split("/"):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        return node if isinstance(node, dict) else {}
    return schema


def example_value(schema: Any, root: dict[str, Any] | None = None, depth: int = 0,
                  name: str = "") -> Any:
    """A value valid for ``schema`` in the common cases (see the module's docstring)."""
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
            return example_value((typed or options)[0], root, depth, name)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "object" or "properties" in schema:
        if depth >= MAX_DEPTH:
            return {}
        props = schema.get("properties") or {}
        required = schema.get("required") or []
        return {k: example_value(props.get(k, {}), root, depth + 1, k) for k in required}
    if kind == "array":
        if depth >= MAX_DEPTH:
            return []
        count = max(int(schema.get("minItems", 0) or 0), 1 if "items" in schema else 0)
        return [example_value(schema.get("items", {}), root, depth + 1, name)] * min(count, 3)
    if kind == "string":
        text = name or "text"
        low = int(schema.get("minLength", 0) or 0)
        return text if len(text) >= low else text + "x" * (low - len(text))
    if kind == "integer":
        if "minimum" in schema:
            return int(schema["minimum"])
        if "exclusiveMinimum" in schema:
            return int(schema["exclusiveMinimum"]) + 1
        return 1
    if kind == "number":
        return schema.get("minimum", 1.0)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return None


def example_payload(input_schema: dict[str, Any] | None) -> str | None:
    """The example as compact JSON, or None when the action takes no payload worth showing."""
    if not input_schema:
        return None
    value = example_value(input_schema)
    if value is None:
        return None
    return json.dumps(value, separators=(", ", ": "))
