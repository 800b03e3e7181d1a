"""Payload parsing: the limits hold, and a payload that cannot break them is not walked again."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from channels_app import parsing
from channels_app.parsing import PayloadError, payload_parse

PLAIN = json.dumps(
    {"id": "A-1", "buyer": {"name": "张三"}, "lines": [{"sku": "S", "price": 9.9}], "n": 3},
    ensure_ascii=False,
).encode()


def test_a_plain_payload_is_parsed_without_walking_its_strings_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def walked(value: Any, max_depth: int) -> None:
        raise AssertionError("walked")

    monkeypatch.setattr(parsing, "_walk", walked)
    assert payload_parse(PLAIN) == {
        "id": "A-1", "buyer": {"name": "张三"}, "lines": [{"sku": "S", "price": Decimal("9.9")}],
        "n": 3,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"a": "x\\u0000y"}', "NUL character in a string"),
        (b'{"a\\u0000": 1}', "NUL character in a string"),
        (b'{"a": "\\ud800"}', "lone surrogate in a string"),
        (b'{"a": ["\\udfff"]}', "lone surrogate in a string"),
        (b"[" * 33 + b"]" * 33, "nested deeper than 32"),
        (b'{"a":' * 33 + b"1" + b"}" * 33, "nested deeper than 32"),
        (b'{"a": "x\x00y"}', "not JSON: Invalid control character at"),
    ],
)
def test_payloads_that_break_a_limit_are_still_refused(body: bytes, reason: str) -> None:
    with pytest.raises(PayloadError) as caught:
        payload_parse(body)
    assert str(caught.value).startswith(reason)


def test_escapes_that_break_nothing_and_32_levels_are_accepted() -> None:
    assert payload_parse(b'{"a": "\\u00e9\\ud83d\\ude00\\n"}') == {"a": "é😀\n"}
    assert payload_parse(b"[" * 32 + b"]" * 32) == [
        [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]
    ]
    # Brackets inside strings count towards the cheap test only: the walk decides.
    assert payload_parse(json.dumps({"a": "[" * 40}).encode()) == {"a": "[" * 40}
