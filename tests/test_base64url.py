"""The one strict base64url reader: it takes exactly the text ``b64url`` writes."""

from __future__ import annotations

import base64
import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ombud.base64url import b64url, unb64url
from ombud.errors import MalformedError


@given(st.binary(max_size=150))
def test_what_is_written_reads_back(data: bytes) -> None:
    text = b64url(data)
    assert "=" not in text and unb64url(text, "x", len(data)) == data
    padded = base64.urlsafe_b64encode(data).decode()
    assert unb64url(padded, "x", padded=True) == data
    for n in range(6):  # none, or exactly the padding its length needs; no other number
        text = padded.rstrip("=") + "=" * n
        if text in (padded, padded.rstrip("=")):
            assert unb64url(text, "x", padded=True) == data
        else:
            with pytest.raises(MalformedError, match="its padding is wrong"):
                unb64url(text, "x", padded=True)


_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@given(st.binary(min_size=1, max_size=60), st.text(max_size=4))
def test_no_other_text_reads_as_the_same_bytes(data: bytes, noise: str) -> None:
    """Padding where none is allowed, a character outside the alphabet (a lenient decoder
    drops it) and a set unused bit in the last character all read as ``data`` to the standard
    library, and are refused here; any other text is refused or reads as other bytes."""
    text = b64url(data)
    refused = [text + "=" * (-len(text) % 4 or 4), text[:1] + "!" + text[1:]]
    if len(data) % 3:  # the last character carries unused low bits, all zero
        refused.append(text[:-1] + _ALPHABET[_ALPHABET.index(text[-1]) + 1])
    for variant in refused:
        assert base64.urlsafe_b64decode(variant + "==") == data
        with pytest.raises(MalformedError, match=r"^x is not"):
            unb64url(variant, "x")
    if noise:
        with contextlib.suppress(MalformedError):
            assert unb64url(text + noise, "x") != data


@pytest.mark.parametrize(
    ("text", "size", "message"),
    [
        (None, None, "x is base64url text"),
        (b"AAAA", None, "x is base64url text"),
        ("A" * 201, None, "x is base64url text"),
        ("A", None, "x is not base64url"),
        ("é" * 4, None, "x is not base64url"),
        ("AAA", 3, "x is 3 bytes in base64url, not 2"),
        ("AAB", None, "x is not canonical base64url"),
        ("AA+/", None, "x is not canonical base64url"),
    ],
)
def test_refusals_name_what_was_wrong(text: object, size: int | None, message: str) -> None:
    with pytest.raises(MalformedError) as caught:
        unb64url(text, "x", size)
    assert str(caught.value) == message
