"""Text checks: lone surrogates are refused, raw or escaped; paired ones and the rest pass."""

from __future__ import annotations

import json

import pytest

from kernel_actions.runner.engine.errors import Invalid
from kernel_actions.runner.engine.text import check_json_text, check_text
from kernel_actions.runner.errors import api_error


@pytest.mark.parametrize("text", [
    '"\ud800"', '"a\\ud800b"', '"\\udc00 alone"', '"\\ud83d"', '"\\ud83d\\ude00\\udc00"',
    '{"key \\ud800": 1}', '["fine", {"deep": ["\\uDBFF"]}]',
])
def test_lone_surrogates_are_refused_naming_the_field(text: str) -> None:
    with pytest.raises(Invalid) as refused:
        check_json_text("payload", text)
    assert api_error(refused.value).status == 400
    assert refused.value.message.startswith("'payload'")
    assert "lone surrogate" in refused.value.message
    refused.value.message.encode()  # the message itself is printable


@pytest.mark.parametrize("text", [
    json.dumps("😀 𝄞"), json.dumps("😀 𝄞", ensure_ascii=False), '"x\\\\ud800"', "not json \\u",
    '{"a": [1, 2, "\\u00e9"]}', None,
])
def test_valid_text_passes(text: str | None) -> None:
    check_json_text("output", text)


def test_plain_fields() -> None:
    check_text("app_name", "shop")
    check_text("version", None)
    with pytest.raises(Invalid, match="'action_name' holds a lone surrogate"):
        check_text("action_name", "run\udfff")
