"""Strict JSON in, canonical JSON out."""

from __future__ import annotations

import pytest

from ombud.canonical import canonical_json, parse_json
from ombud.errors import MalformedError


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"a": 1, "a": 2}', "duplicate JSON member 'a'"),
        (b'{"a": NaN}', "NaN is not JSON"),
        (b"[Infinity]", "Infinity is not JSON"),
        (b'{"a": "\xff"}', "not JSON"),
        (b'{"a": ', "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
    ],
)
def test_strict_parsing(data: bytes, message: str) -> None:
    with pytest.raises(MalformedError, match=message):
        parse_json(data, "the body")


def test_canonical_form() -> None:
    assert canonical_json({"b": [1, 2.5, "é"], "a": None}) == b'{"a":null,"b":[1,2.5,"\xc3\xa9"]}'
    assert parse_json(canonical_json({"z": {"y": 1}})) == {"z": {"y": 1}}
    for bad in ({"x": float("nan")}, {"x": 2**60}, {"x": object()}):
        with pytest.raises(MalformedError, match="RFC 8785"):
            canonical_json(bad)
