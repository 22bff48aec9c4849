"""Access requests and their capabilities: a read is allowed in scope and before expiry only,
and the public record never names a subject — nor lets anyone test a guess of one, even once a
sealed request's salt is disclosed."""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from ombud.access.requests import (
    AccessRequest,
    Capability,
    FiledRequest,
    Requester,
    subject_commitment,
)
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
    salt, own = os.urandom(32), os.urandom(32)
    made = request()
    view = made.file([own]).public_view(salt)
    text = str(view)
    assert "demo-subject" not in text and view["legalBasis"] == "warrant PO-2026-4411"
    assert view["subjects"] == [subject_commitment("demo-subject-000000001", own)]
    sealed = replace(made, sealed_until=NOW + timedelta(days=30)).file([own]).public_view(salt)
    assert set(sealed) == {"sealed", "commitment", "sealedUntil"}
    assert "warrant" not in str(sealed)


def test_each_subject_has_its_own_salt_and_a_filed_request_round_trips() -> None:
    subjects = ("demo-subject-000000001", "demo-subject-000000002")
    salts = [os.urandom(32), os.urandom(32)]
    filed = request(subjects=subjects).file(salts)
    assert filed.commitments == tuple(map(subject_commitment, subjects, salts))
    assert FiledRequest.from_json(filed.to_json()) == filed
    assert FiledRequest.from_json(filed.to_json()).to_bytes() == filed.to_bytes()
    with pytest.raises(MalformedError, match="one salt per subject"):
        request(subjects=subjects).file(salts[:1])
    with pytest.raises(MalformedError, match="each subject once"):
        request(subjects=(subjects[0], subjects[0]))
    with pytest.raises(MalformedError, match="commitment"):  # a pseudonym is never filed
        FiledRequest.from_json(request().to_json())
    # The capability of a filed request holds the commitments, never a pseudonym.
    capability = Capability.of(filed)
    capability.verify_read(filed.commitments[1], "contact", NOW - timedelta(days=1), NOW)
    with pytest.raises(ScopeError, match="subject"):
        capability.verify_read(subjects[1], "contact", NOW - timedelta(days=1), NOW)


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


def test_a_disclosure_opens_its_seal_and_no_subject() -> None:
    salt = os.urandom(32)
    secret = f"demo-subject-{secrets.randbelow(5000):09d}"
    sealed = request(subjects=(secret,), sealed_until=NOW + timedelta(days=30)).file(
        [os.urandom(32)]
    )
    seal = sealed.public_view(salt)["commitment"]
    disclosed = sealed.to_json()  # what the disclosure publishes, with the seal's salt
    assert hashlib.sha256(salt + canonical_json(disclosed)).hexdigest() == seal
    assert "demo-subject" not in str(disclosed)
    # The attack of finding A1: every pseudonym of the space, salted with the disclosed salt,
    # against the subjects and the approval digest. Nothing matches.
    (target,) = disclosed["subjects"]
    approval = sealed.approval_digest(salt)
    for i in range(5000):
        guess = f"demo-subject-{i:09d}"
        assert subject_commitment(guess, salt) != target
        whole = replace(request(subjects=(guess,)), sealed_until=sealed.sealed_until, id=sealed.id)
        assert hashlib.sha256(salt + whole.to_bytes()).hexdigest() != approval
