"""A requester's signed read, pure: it verifies for exactly the read it names, with the
requester's key, on its deployment, near the server's clock; a statement of another read,
by another key, for another deployment, stale or malformed, is refused by name."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from ombud.access.reads import READ_WINDOW, SignedRead, sign_read, verify_signed_read
from ombud.canonical import canonical_json
from ombud.errors import ForeignReadError, MalformedError, SignatureError, StaleReadError
from ombud.governance.roster import public_key

NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)
ORIGIN = "access.example/log"
REQUEST = "0123456789abcdef0123456789abcdef"
COMMITMENT = hashlib.sha256(b"a commitment").hexdigest()
KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"requester").digest())
REQUESTER = public_key(KEY).hex()


def _signed(**changes: Any) -> SignedRead:
    args: dict[str, Any] = {
        "request": REQUEST,
        "subject": COMMITMENT,
        "category": "contact",
        "key": KEY,
        "origin": ORIGIN,
        "at": NOW,
        "nonce": "ab" * 16,
    }
    args.update(changes)
    return sign_read(
        args.pop("request"), args.pop("subject"), args.pop("category"), args.pop("key"), **args
    )


def _verify(read: SignedRead, **changes: Any) -> None:
    args: dict[str, Any] = {
        "origin": ORIGIN,
        "request": REQUEST,
        "subject": COMMITMENT,
        "category": "contact",
        "now": NOW + timedelta(minutes=1),
    }
    args.update(changes)
    verify_signed_read(read, REQUESTER, **args)


def test_a_signed_read_verifies_for_the_read_it_names() -> None:
    read = _signed()
    assert _verify(read) is None
    assert read.signed_message().startswith(b"ombud-access-read/v1\n")
    assert read.signed_message().endswith(
        canonical_json({k: v for k, v in read.to_json().items() if k != "signature"})
    )
    again = SignedRead.from_json(read.to_json())
    assert again == read and _verify(again) is None


def test_another_key_deployment_read_or_time_is_refused() -> None:
    with pytest.raises(SignatureError, match="not signed by the key"):
        _verify(_signed(key=Ed25519PrivateKey.generate()))
    with pytest.raises(ForeignReadError, match=r"staging\.example/log"):
        _verify(_signed(origin="staging.example/log"))
    with pytest.raises(SignatureError, match="another request"):
        _verify(_signed(), request="f" * 32)
    with pytest.raises(SignatureError, match="another subject"):
        _verify(_signed(), subject="0" * 64)
    with pytest.raises(SignatureError, match="another data category"):
        _verify(_signed(), category="location")
    with pytest.raises(SignatureError, match="another data category"):
        _verify(_signed(), category="contact\ud800")  # not even UTF-8: refused, not a crash
    for late in (READ_WINDOW + timedelta(seconds=1), -READ_WINDOW - timedelta(seconds=1)):
        with pytest.raises(StaleReadError, match="from the server's clock"):
            _verify(_signed(), now=NOW + late)
    assert _verify(_signed(), now=NOW + READ_WINDOW) is None  # the window's edges hold
    assert _verify(_signed(), now=NOW - READ_WINDOW) is None
    forged = SignedRead(
        ORIGIN, REQUEST, COMMITMENT, "location", "ab" * 16, NOW, _signed().signature
    )
    with pytest.raises(SignatureError):  # a signature moved onto another statement
        _verify(forged, category="location")


@pytest.mark.parametrize(
    "change",
    [
        {"v": 2},
        {"v": True},
        {"extra": 1},
        {"nonce": "AB" * 16},
        {"nonce": "ab" * 8},
        {"request": "x"},
        {"subject": "resident-pseudonym-0001"},  # never the subject in clear
        {"category": "Contact"},
        {"at": "2026-12-01T09:00:00+00:00"},
        {"origin": "has space"},
        {"signature": "AAAA"},
    ],
)
def test_a_malformed_signed_read_is_refused(change: dict[str, Any]) -> None:
    with pytest.raises(MalformedError):
        SignedRead.from_json({**_signed().to_json(), **change})
    with pytest.raises(MalformedError):
        SignedRead.from_json([1, 2])


@given(
    category=st.from_regex(r"[a-z0-9][a-z0-9._-]{0,63}", fullmatch=True),
    nonce=st.binary(min_size=16, max_size=16),
    seconds=st.integers(min_value=0, max_value=10**9),
    micros=st.integers(min_value=0, max_value=999_999),
)
def test_a_signed_read_round_trips(category: str, nonce: bytes, seconds: int, micros: int) -> None:
    at = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds, microseconds=micros)
    read = _signed(category=category, nonce=nonce.hex(), at=at)
    assert SignedRead.from_json(read.to_json()) == read
    assert _verify(read, category=category, now=at) is None
