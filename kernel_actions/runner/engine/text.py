"""Text the runner keeps must be valid Unicode: checked before it reaches the store.

JSON can carry a lone UTF-16 surrogate (``"\\ud800"``), and Python decodes it into a
``str`` that can't be encoded as UTF-8: SQLite, the worker protocol and every JSON
answer would fail on it later, far from the request that brought it. So a request
field holding one is refused up front (:class:`~.errors.Invalid`, a 400 on the wire) with
the field's name, whether the surrogate is in the field's text itself or escaped in the
JSON text it holds.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .errors import Invalid

__all__ = ["check_text", "check_json_text", "text_problem"]

#: A surrogate escape without its pair (a high one not followed by a low one, or a low one
#: not after a high one): only then can JSON text decode to a lone surrogate. An escaped
#: pair (an emoji from an ASCII-only encoder) does not match, so it costs no second parse.
_LONE_ESCAPE = re.compile(
    r"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])"
    r"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}")


def text_problem(value: str) -> str | None:
    """What is wrong with ``value`` as Unicode text, or ``None`` when it is fine."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (f"holds a lone surrogate (U+{ord(value[exc.start]):04X}) at character "
                f"{exc.start}: text must be valid Unicode")
    return None


def _walk(value: Any) -> str | None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem is not None:
                return problem
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def check_text(field: str, value: object) -> None:
    """Refuse (:class:`Invalid`) a string field that is not valid Unicode text; anything else passes."""
    if isinstance(value, str):
        problem = text_problem(value)
        if problem is not None:
            raise Invalid(f"{field!r} {problem}")


def check_json_text(field: str, value: object) -> None:
    """Like :func:`check_text`, and also refuse JSON text whose strings decode to one.

    The decoded check runs only when the text has a surrogate escape that looks unpaired,
    so the usual payload costs one encode and one scan.
    """
    check_text(field, value)
    if not isinstance(value, str) or not _LONE_ESCAPE.search(value):
        return
    try:
        decoded = json.loads(value)
    except (ValueError, RecursionError):
        return  # not JSON: the caller's own check says so
    problem = _walk(decoded)
    if problem is not None:
        raise Invalid(f"{field!r} is JSON whose text {problem} (a \\uD800-\\uDFFF escape "
                          "without its pair)")
