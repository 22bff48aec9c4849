"""Reads re-verified from a log's entries alone: an honest log's reads verify; a read whose
event was changed (another category or subject), replayed, signed for another log, left
unsigned after reads were signed, or disclosed as another subject than signed, or a
disclosure whose record does not open its seal (naming another requester's key), breaks the
audit, which names the entry."""

from __future__ import annotations

import base64
import contextlib
import secrets
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ombud.access.audit import ReadAudit, audit_reads
from ombud.access.reads import sign_read
from ombud.access.requests import Requester
from ombud.base64url import b64url
from ombud.clock import parse_time
from ombud.deployment import Deployment
from ombud.errors import MalformedError, VerificationError
from ombud.events import Event
from ombud.governance.roster import Roster, public_key
from tests.access.test_book import (
    ORIGIN,
    REQUESTER,
    ROSTER,
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
    assert audit_reads(entries, origin=ORIGIN) == ReadAudit(2, 0, 0, 0, 2, 1)


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
        (read_of(lambda b: {**b, "category": "location"}), r"category 'location'"),
        (read_of(subject), r"not named by the request"),
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
    assert audit_reads(early, origin=ORIGIN) == ReadAudit(0, 0, 1, 1, 2, 1)


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
    assert audit_reads(still_sealed, origin=ORIGIN) == ReadAudit(1, 1, 0, 0, 2, 1)
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


def _signed_read(
    body: dict[str, Any], key: Ed25519PrivateKey = REQUESTER, **changes: Any
) -> dict[str, Any]:
    """An open read's body changed as ``changes`` say (request, subject, category, at) and
    signed for exactly that by ``key``: every signature holds, only what it allows does not."""
    body = {**body, **{k: v for k, v in changes.items() if k != "at"}}
    at = changes.get("at", parse_time(body["read"]["at"]))
    made = sign_read(
        body["request"], body["subject"], body["category"], key, origin=ORIGIN, at=at,
        nonce=secrets.token_hex(16),
    )  # fmt: skip
    return {**body, "read": made.to_json()}


def _index(entries: list[tuple[int, bytes]], kind: str, request: str) -> int:
    (found,) = [
        i for i, e in entries
        if Event.from_bytes(e).kind == kind and Event.from_bytes(e).body["request"] == request
    ]  # fmt: skip
    return found


@SQLITE
def test_an_honest_log_verifies_from_the_genesis_given(city: tuple[Path, Clock]) -> None:
    entries, _, _ = _log(*city)
    assert audit_reads(entries, origin=ORIGIN, genesis=ROSTER) == ReadAudit(2, 0, 0, 0, 2, 1)
    other = Roster(0, ROSTER.holders[1:], ROSTER.policy)
    with pytest.raises(VerificationError, match="not the genesis given"):
        audit_reads(entries, origin=ORIGIN, genesis=other)


@SQLITE
def test_a_forged_request_with_the_operators_reads_breaks_the_audit(
    city: tuple[Path, Clock],
) -> None:
    """The operator holds the log's key: it writes a request naming a key of its own, which
    nobody approved, and reads under it, each read signed with its key. Every signature holds;
    the approval does not."""
    entries, open_one, _ = _log(*city)
    operator = Ed25519PrivateKey.generate()
    forged_id = "f" * 32
    at = _index(entries, "access.requested", open_one)
    requested = Event.from_bytes(entries[at][1])
    view = {**requested.body, "request": forged_id, "id": forged_id}
    view["requester"] = Requester("city-ops", "det-ines", public_key(operator).hex()).to_json()
    read = Event.from_bytes(entries[_index(entries, "access.read", open_one)][1])
    forged_read = _signed_read(dict(read.body), operator, request=forged_id)
    tail = [
        Event("access.requested", requested.at, "operator", view),
        Event("access.read", read.at, "operator", forged_read),
    ]
    n = len(entries)
    unapproved = [*entries, *((n + i, e.to_bytes()) for i, e in enumerate(tail))]
    with pytest.raises(VerificationError, match=rf"entry {n + 1} \(access\.read\).*never approved"):
        audit_reads(unapproved, origin=ORIGIN)
    # an approval the operator writes itself: the officers' signatures are of another request,
    # and none at all is the operator alone
    approved = Event.from_bytes(entries[_index(entries, "access.approved", open_one)][1]).body
    action = {**approved["approval"], "params": {**approved["approval"]["params"]}}
    action["params"]["request"] = forged_id
    for approvals, says in ((approved["approvals"], "signature"), ([], "reserved")):
        body = {**approved, "request": forged_id, "approval": action, "approvals": approvals}
        approval = Event("access.approved", read.at, "operator", body)
        forged = [*entries, *((n + i, e.to_bytes()) for i, e in enumerate([tail[0], approval]))]
        forged.append((n + 2, tail[1].to_bytes()))
        with pytest.raises(VerificationError, match=rf"entry {n + 1} \(access\.approved\).*{says}"):
            audit_reads(forged, origin=ORIGIN)


@SQLITE
def test_a_read_outside_its_request_or_after_a_denial_breaks_the_audit(
    city: tuple[Path, Clock],
) -> None:
    entries, open_one, sealed = _log(*city)
    at = _index(entries, "access.read", open_one)
    late = START + timedelta(days=8)  # the request expires after 7

    def late_read(body: dict[str, Any]) -> dict[str, Any]:
        return _signed_read(body, at=late)

    outside = [
        (lambda b: _signed_read(b, category="location"), "category 'location'"),
        (lambda b: _signed_read(b, subject="0" * 64), "subject is not named"),
    ]
    for change, says in outside:
        broken = _changed(entries, "access.read", open_one, change)
        with pytest.raises(VerificationError, match=rf"entry {at} \(access\.read\).*{says}"):
            audit_reads(broken, origin=ORIGIN)
    event = Event.from_bytes(entries[at][1])
    expired = list(entries)
    expired[at] = (
        at,
        Event("access.read", late, event.actor, late_read(dict(event.body))).to_bytes(),
    )
    with pytest.raises(VerificationError, match=rf"entry {at} \(access\.read\).*expired"):
        audit_reads(expired, origin=ORIGIN)
    # a sealed read out of scope shows when its disclosure does
    disclosed = _index(entries, "seal.disclosed", sealed)

    def listed_elsewhere(body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "reads": [{**body["reads"][0], "category": "location"}]}

    broken = _changed(entries, "seal.disclosed", sealed, listed_elsewhere)
    with pytest.raises(
        VerificationError, match=rf"entry {disclosed} .*read at entry \d+.*category"
    ):
        audit_reads(broken, origin=ORIGIN)
    # denied instead of approved: the read after it is flagged
    decided = _index(entries, "access.approved", open_one)
    was = Event.from_bytes(entries[decided][1])
    denial = {"v": 1, "request": open_one, "officer": "officer-a", "reason": "no warrant"}
    denied = list(entries)
    denied[decided] = (decided, Event("access.denied", was.at, was.actor, denial).to_bytes())
    with pytest.raises(VerificationError, match=rf"entry {at} \(access\.read\).*denied"):
        audit_reads(denied, origin=ORIGIN)
    # and a second decision on a decided request is one
    twice = [*entries, (len(entries), denied[decided][1])]
    with pytest.raises(VerificationError, match=rf"entry {len(entries)} .*already approved"):
        audit_reads(twice, origin=ORIGIN)


_JUNK: tuple[Any, ...] = (None, True, -1, 10**30, 1.5, "", "x" * 300, [], [1, [2]], {}, {"a": {}})


@SQLITE
def test_hostile_bodies_raise_only_verification_errors(city: tuple[Path, Clock]) -> None:
    """Each field of each access event (and of its nested objects) set to junk: the audit
    passes it or raises ``VerificationError``, nothing else."""
    entries, _, _ = _log(*city)
    kinds = {
        "access.requested",
        "access.approved",
        "access.denied",
        "access.read",
        "seal.disclosed",
    }
    for at, entry in entries:
        event = Event.from_bytes(entry)
        if event.kind not in kinds:
            continue
        paths: list[tuple[str, ...]] = [()]
        for key, value in event.body.items():
            paths.append((key,))
            if isinstance(value, dict):
                paths.extend((key, inner) for inner in value)
        for path in paths:
            for junk in _JUNK:
                body: Any = dict(event.body)
                if not path:
                    body = {"v": junk, "request": junk}
                elif len(path) == 1:
                    body[path[0]] = junk
                else:
                    body[path[0]] = {**body[path[0]], path[1]: junk}
                try:
                    junked = Event(event.kind, event.at, event.actor, body).to_bytes()
                except MalformedError:  # no event at all: the log would not hold it
                    continue
                spoilt = list(entries)
                spoilt[at] = (at, junked)
                with contextlib.suppress(VerificationError):
                    audit_reads(spoilt, origin=ORIGIN)
