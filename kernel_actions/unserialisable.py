"""Naming the part of an action's return value that can't become JSON.

pydantic says only that *something* inside the value is unknown; the outermost type (``dict``)
tells the user nothing. :func:`find_unserialisable` walks the value and returns the path and
type of the first part that pydantic can't serialise: ``output.items[2].when: type Foo``.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from pydantic import BaseModel, TypeAdapter

__all__ = ["find_unserialisable"]

_ANY: TypeAdapter[Any] = TypeAdapter(Any)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: How deep the walk goes; a value nested deeper is reported where the walk stopped.
MAX_DEPTH = 64
#: How many children of one container are looked at.
MAX_CHILDREN = 10_000


def _serialises(value: Any) -> bool:
    try:
        _ANY.dump_json(value)
    except Exception:  # whatever pydantic (or a __str__ it calls) raises: not JSON
        return False
    return True


def _children(value: Any) -> list[tuple[str, Any]] | None:
    """``(path suffix, child)`` of a container pydantic serialises part by part; else None."""
    if isinstance(value, dict):
        return [(f".{k}" if isinstance(k, str) and _IDENTIFIER.match(k) else f"[{k!r}]", v)
                for k, v in list(value.items())[:MAX_CHILDREN]]
    if isinstance(value, list | tuple | set | frozenset):
        return [(f"[{i}]", v) for i, v in enumerate(list(value)[:MAX_CHILDREN])]
    if isinstance(value, BaseModel):
        return [(f".{name}", getattr(value, name, None)) for name in type(value).model_fields]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [(f".{f.name}", getattr(value, f.name, None)) for f in dataclasses.fields(value)]
    return None


def find_unserialisable(value: Any, root: str = "output") -> tuple[str, str] | None:
    """``(path, type name)`` of the innermost part of ``value`` that isn't JSON, or None."""
    path, node = root, value
    for _ in range(MAX_DEPTH):
        children = _children(node)
        if children is None:
            return path, type(node).__qualname__
        bad = next(((suffix, child) for suffix, child in children if not _serialises(child)),
                    None)
        if bad is None:
            # Every part serialises alone: the container itself is the problem (a dict key).
            return path, type(node).__qualname__
        path, node = path + bad[0], bad[1]
    return path, type(node).__qualname__
