"""Reads re-verified from a log's entries alone: an honest log's reads verify; a read whose
event was changed (another category or subject), replayed, signed for another log, left
unsigned after reads were signed, or disclosed as another subject than signed, or a
disclosure whose record does not open its seal (naming another requester's key), breaks the
audit, which names the entry."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ombud.access.audit import ReadAudit, audit_reads
from ombud.access.reads import sign_read
from ombud.base64url import b64url
from ombud.clock import parse_time
from ombud.deployment import Deployment
from ombud.errors import VerificationError
from ombud.events import Event
from ombud.governance.roster import public_key
from tests.access.test_book import (
    ORIGIN,
    START,
    Clock,
    _approved,
    _read,
    _request,
    city,
)

__all__ = ["city"]  # the fixture, from the access tests

SQLITE = pytest.mark.parametrize("city", ["sqlite"], indirect=True)  # pure: one store is enough


def _log(data_dir: Path, clock: Clock) -> tuple[list[tuple[int, bytes]], str, str]:
    """A log with an allowed signed read under an unsealed request and one under a sealed
    request that was disclosed after; the unsealed one's request id and the sealed one's."""
    open_one, sealed = _request(), _request(sealed_until=START + timedelta(days=1, hours=1))
    with Deployment.open(data_dir, clock=clock) as deployment:
        _approved(deployment, open_one)
        _approved(deployment, sealed)
        _read(deployment, open_one)
        _read(deployment, sealed)
    clock.now = START + timedelta(days=2)
    with Deployment.open(data_dir, clock=clock) as deployment:
        assert deployment.access.disclose_due() == 1
        entries = list(enumerate(deployment.log.entries(0, deployment.log.size)))
    return entries, open_one.id, sealed.id


def _changed(
    entries: list[tuple[int, bytes]], kind: str, request: str, change: Callable[[Any], Any]
) -> list[tuple[int, bytes]]:
    """The entries with the body of the (first) ``kind`` event about ``request`` changed."""
    out, done = [], False
    for index, entry in entries:
        event = Event.from_bytes(entry)
        if not done and event.kind == kind and event.body.get("request") == request:
            body = change(dict(event.body))
            entry, done = Event(kind, event.at, event.actor, body).to_bytes(), True
        out.append((index, entry))
    assert done
    return out


@SQLITE
def test_an_honest_logs_reads_verify(city: tuple[Path, Clock]) -> None:
    entries, _, _ = _log(*city)
    assert audit_reads(entries, origin=ORIGIN) == ReadAudit(2, 0, 0, 0)


@SQLITE
def test_a_changed_replayed_foreign_or_unsigned_read_breaks_the_audit(
    city: tuple[Path, Clock],
) -> None:
    entries, open_one, sealed = _log(*city)

    def read_of(change: Callable[[Any], Any]) -> list[tuple[int, bytes]]:
        return _changed(entries, "access.read", open_one, change)

    def subject(body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "subject": "0" * 64}

    def disclosed_as(body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "reads": [{**body["reads"][0], "subject": "0" * 64}]}

    def unsigned_after(body: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in body.items() if k != "read"} | {"v": 2}

    refused = [
        (read_of(lambda b: {**b, "category": "location"}), r"another data category"),
        (read_of(subject), r"another subject"),
        (read_of(lambda b: {**b, "read": {**b["read"], "nonce": "0" * 32}}), r"not signed by"),
        (_changed(entries, "seal.disclosed", sealed, disclosed_as), r"read at entry \d+"),
        (_changed(entries, "seal.disclosed", sealed, lambda b: {**b, "reads": []}), r"lists 0"),
    ]
    for broken, message in refused:
        with pytest.raises(VerificationError, match=r"entry \d+ \((access\.read|seal\.disc)"):
            audit_reads(broken, origin=ORIGIN)
        with pytest.raises(VerificationError, match=message):
            audit_reads(broken, origin=ORIGIN)
    (read_at,) = [
        i
        for i, e in entries
        if Event.from_bytes(e).kind == "access.read"
        and Event.from_bytes(e).body["request"] == open_one
    ]
    replayed = [*entries, (len(entries), entries[read_at][1])]
    with pytest.raises(VerificationError, match=rf"entry {len(entries)} .*nonce"):
        audit_reads(replayed, origin=ORIGIN)
    with pytest.raises(VerificationError, match="signed for deployment"):
        audit_reads(entries, origin="staging.example/log")
    # An unsigned read (version 2) counts before the log's first signed read, never after.
    with pytest.raises(VerificationError, match="unsigned read"):
        audit_reads(_changed(entries, "access.read", sealed, unsigned_after), origin=ORIGIN)
    early = _changed(entries, "access.read", open_one, unsigned_after)
    early = _changed(
        early, "access.read", sealed, lambda b: {**b, "outcome": "no-data", "read": None}
    )
    early = _changed(
        early,
        "seal.disclosed",
        sealed,
        lambda b: {**b, "reads": [{**b["reads"][0], "outcome": "no-data"}]},
    )
    assert audit_reads(early, origin=ORIGIN) == ReadAudit(0, 0, 1, 1)


@SQLITE
def test_a_disclosure_that_does_not_open_its_seal_breaks_the_audit(
    city: tuple[Path, Clock],
) -> None:
    """The operator reads a sealed request's subject without the requester asking: it signs
    the read with a key of its own and, at the disclosure, publishes a view naming that key as
    the requester's. Every signature verifies against the key the disclosure names, but the
    view is not the one the seal committed to (nor the one the officers approved), so the
    audit holds the disclosure to its seal before it trusts the key it names."""
    entries, _, sealed = _log(*city)
    operator = Ed25519PrivateKey.generate()
    (disclosure,) = [
        Event.from_bytes(e).body for _, e in entries if Event.from_bytes(e).kind == "seal.disclosed"
    ]
    listed = disclosure["reads"][0]

    def signed_by_operator(body: dict[str, Any]) -> dict[str, Any]:
        at = parse_time(body["read"]["at"])
        made = sign_read(
            sealed, listed["subject"], listed["category"], operator,
            origin=ORIGIN, at=at, nonce=body["read"]["nonce"],
        )  # fmt: skip
        return {**body, "read": {**body["read"], "signature": b64url(made.signature)}}

    def naming_the_operator(body: dict[str, Any]) -> dict[str, Any]:
        view = dict(body["view"])
        view["requester"] = {**view["requester"], "key": public_key(operator).hex()}
        return {**body, "view": view}

    forged = _changed(entries, "access.read", sealed, signed_by_operator)
    forged = _changed(forged, "seal.disclosed", sealed, naming_the_operator)
    with pytest.raises(VerificationError, match=r"seal\.disclosed\).*does not open"):
        audit_reads(forged, origin=ORIGIN)
    # the salt changed alone breaks it too
    zeros = base64.b64encode(bytes(32)).decode()
    other_salt = _changed(entries, "seal.disclosed", sealed, lambda b: {**b, "salt": zeros})
    with pytest.raises(VerificationError, match="does not open"):
        audit_reads(other_salt, origin=ORIGIN)


@SQLITE
def test_a_read_under_a_seal_still_closed_shows_a_well_formed_statement(
    city: tuple[Path, Clock],
) -> None:
    """Before the seal opens, a read under it shows its nonce, time and signature: each is
    held to its form at its own entry (and the audit keeps those, not the event: a hostile
    export padded its sealed reads' events to grow the verifier's memory with them)."""
    entries, _, sealed = _log(*city)
    (disclosed,) = [i for i, e in entries if Event.from_bytes(e).kind == "seal.disclosed"]
    still_sealed = entries[:disclosed]
    assert audit_reads(still_sealed, origin=ORIGIN) == ReadAudit(1, 1, 0, 0)
    for part, junk, says in (
        ("nonce", "x" * 1000, "nonce is 32"),
        ("signature", "AA", "signature"),
        ("at", "yesterday", "RFC 3339"),
    ):

        def spoilt(body: dict[str, Any], part: str = part, junk: str = junk) -> dict[str, Any]:
            return {**body, "read": {**body["read"], part: junk}}

        broken = _changed(still_sealed, "access.read", sealed, spoilt)
        with pytest.raises(VerificationError, match=rf"entry \d+ \(access\.read\).*{says}"):
            audit_reads(broken, origin=ORIGIN)
    padded = _changed(still_sealed, "access.read", sealed, lambda b: {**b, "outcome": "x" * 100})
    with pytest.raises(VerificationError, match="outcome is a code"):
        audit_reads(padded, origin=ORIGIN)
