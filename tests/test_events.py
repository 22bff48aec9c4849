"""Event envelopes: canonical bytes, strict parsing, salted commitments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ombud.clock import format_time, parse_time
from ombud.errors import MalformedError, VerificationError
from ombud.events import Event, commit, new_salt, verify_commitment

AT = datetime(2026, 11, 25, 20, 26, 26, tzinfo=UTC)


def test_canonical_bytes_and_round_trip() -> None:
    event = Event(
        "device.registered", AT, "role:operator", {"v": 1, "device": "d1", "z": 1.5, "a": [2, 1]}
    )
    data = event.to_bytes()
    assert data == (
        b'{"actor":"role:operator","at":"2026-11-25T20:26:26Z","body":{"a":[2,1],"device":"d1",'
        b'"v":1,"z":1.5},"kind":"device.registered","v":1}'
    )
    assert Event.from_bytes(data) == event


ENVELOPE = b'{"actor":"a","at":"2026-11-25T20:26:26Z","body":%s,"kind":"device.registered","v":1}'


@pytest.mark.parametrize(
    "data",
    [
        ENVELOPE % b'{"v":1}' + b" ",
        b'{"v":1,"actor":"a","at":"2026-11-25T20:26:26Z","body":{"v":1},"kind":"device.registered"}',
        ENVELOPE % b'{"v":1.0}',
        b'{"actor":"a","at":"2026-11-25T20:26:26Z","body":{"v":1,"x":1e2},"kind":"device.registered","v":1}',
        b'{"actor":"a","at":"2026-11-25T20:26:26Z","body":{"v":1},"kind":"device.exploded","v":1}',
        b'{"actor":"a","at":"2026-11-25 20:26:26","body":{"v":1},"kind":"device.registered","v":1}',
        b'{"actor":"a","at":"2026-11-25T20:26:26Z","body":{"v":1,"v":2},"kind":"device.registered","v":1}',
        b'{"actor":"a","at":"2026-11-25T20:26:26Z","body":{"v":NaN},"kind":"device.registered","v":1}',
        b'{"actor":"","at":"2026-11-25T20:26:26Z","body":{"v":1},"kind":"device.registered","v":1}',
        b'{"actor":"a","at":"2026-11-25T20:26:26Z","body":{},"kind":"device.registered","v":1}',
        b'{"actor":"a","at":"2026-11-25T20:26:26Z","body":{"v":1},"kind":"device.registered","v":2}',
        b"\xff",
    ],
)
def test_non_canonical_or_invalid_events_are_refused(data: bytes) -> None:
    with pytest.raises(MalformedError):
        Event.from_bytes(data)


def test_times_are_rfc3339_utc() -> None:
    assert format_time(AT.astimezone(timezone(timedelta(hours=2)))) == "2026-11-25T20:26:26Z"
    assert format_time(AT.replace(microsecond=5)) == "2026-11-25T20:26:26.000005Z"
    assert parse_time("2026-11-25T20:26:26.000005Z") == AT.replace(microsecond=5)
    for bad in ["2026-11-25T20:26:26.50Z", "2026-02-30T00:00:00Z", "2026-11-25T20:26:26+00:00"]:
        with pytest.raises(MalformedError):
            parse_time(bad)
    with pytest.raises(MalformedError):
        format_time(datetime(2026, 1, 1))


def test_oversized_events_are_refused() -> None:
    with pytest.raises(MalformedError, match="65535"):
        Event("post.accepted", AT, "a", {"v": 1, "x": "y" * 70000}).to_bytes()


@given(payload=st.binary(max_size=200), salt=st.binary(min_size=32, max_size=32))
def test_commitments_open_only_with_their_payload_and_salt(payload: bytes, salt: bytes) -> None:
    c = commit(payload, salt)
    verify_commitment(c, payload, salt)
    with pytest.raises(VerificationError):
        verify_commitment(c, payload + b"x", salt)
    with pytest.raises(VerificationError):
        verify_commitment(c, payload, bytes(b ^ 1 for b in salt))


def test_salts_come_from_the_randomness_passed_in() -> None:
    assert new_salt(lambda n: b"\x07" * n) == b"\x07" * 32
    with pytest.raises(MalformedError):
        commit(b"x", b"short")
