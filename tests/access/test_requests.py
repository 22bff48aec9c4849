"""Access requests and their capabilities: a read is allowed in scope and before expiry only,
and the public record never names a subject."""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from ombud.access.requests import AccessRequest, Capability, Requester, subject_commitment
from ombud.canonical import canonical_json
from ombud.errors import ExpiredError, MalformedError, ScopeError

NOW = datetime(2026, 12, 5, 9, tzinfo=UTC)
POLICE = Requester("port-ombud-police", "det-ines-park", "ab" * 32)


def request(**changes: object) -> AccessRequest:
    made = AccessRequest(
        secrets.token_hex(16),
        POLICE,
        ("demo-subject-000000001",),
        ("contact",),
        "a burglary investigation",
        "warrant PO-2026-4411",
        NOW - timedelta(days=90),
        NOW,
        NOW + timedelta(days=7),
    )
    return replace(made, **changes)  # type: ignore[arg-type]


def test_a_capability_reads_what_the_request_names_and_nothing_else() -> None:
    capability = Capability.of(request())
    subject, stored = "demo-subject-000000001", NOW - timedelta(days=3)
    capability.verify_read(subject, "contact", stored, NOW)
    with pytest.raises(ScopeError, match="subject"):
        capability.verify_read("demo-subject-000000002", "contact", stored, NOW)
    with pytest.raises(ScopeError, match="category"):
        capability.verify_read(subject, "location", stored, NOW)
    with pytest.raises(ScopeError, match="window"):
        capability.verify_read(subject, "contact", NOW - timedelta(days=91), NOW)
    with pytest.raises(ExpiredError):
        capability.verify_read(subject, "contact", stored, NOW + timedelta(days=7))


def test_the_public_record_names_no_subject() -> None:
    salt = os.urandom(32)
    made = request()
    view = made.public_view(salt)
    text = str(view)
    assert "demo-subject" not in text and view["legalBasis"] == "warrant PO-2026-4411"
    assert view["subjects"] == [subject_commitment("demo-subject-000000001", salt)]
    sealed = replace(made, sealed_until=NOW + timedelta(days=30)).public_view(salt)
    assert set(sealed) == {"sealed", "commitment", "sealedUntil"}
    assert "warrant" not in str(sealed)


def test_seals_are_bounded() -> None:
    request(sealed_until=NOW + timedelta(days=30)).check_seal(NOW)
    with pytest.raises(MalformedError, match="at most 180 days"):
        request(sealed_until=NOW + timedelta(days=181)).check_seal(NOW)
    with pytest.raises(MalformedError, match="at most 30 days"):
        request(sealed_until=NOW + timedelta(days=31)).check_seal(NOW, timedelta(days=30))
    with pytest.raises(MalformedError, match="future"):
        request(sealed_until=NOW).check_seal(NOW)


def test_requests_round_trip_and_refuse_what_they_cannot_hold() -> None:
    made = request(sealed_until=NOW + timedelta(days=1))
    assert AccessRequest.from_json(made.to_json()) == made
    for bad in (
        {"subjects": ()},
        {"categories": ()},
        {"legal_basis": ""},
        {"purpose": "two\nlines"},
        {"since": NOW, "until": NOW},
    ):
        with pytest.raises(MalformedError):
            request(**bad)


def test_a_disclosure_opens_its_seal() -> None:
    salt = os.urandom(32)
    sealed = request(sealed_until=NOW + timedelta(days=30))
    seal = sealed.public_view(salt)["commitment"]
    disclosed = sealed.open_view(salt)  # what the disclosure publishes, with the salt
    assert hashlib.sha256(salt + canonical_json(disclosed)).hexdigest() == seal
    assert "demo-subject" not in str(disclosed)
