"""Third-party access through the ledger, on SQLite and PostgreSQL: two officers approve, never
the requester; reads stay in scope, before expiry, and are recorded, refused ones too; erased
data is gone for everyone; a sealed request shows only its seal until it is disclosed on
schedule, across a restart; residents see who asked about them."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ombud.access.book import APPROVE, AccessBook
from ombud.access.requests import AccessRequest, Requester, subject_commitment
from ombud.api.tasks import background_rounds
from ombud.canonical import canonical_json
from ombud.deployment import Deployment, init_deployment
from ombud.errors import (
    ConflictError,
    ExpiredError,
    ForbiddenError,
    NotFoundError,
    QuorumError,
    ScopeError,
    SelfApprovalError,
)
from ombud.events import Event
from ombud.governance.roster import ActionRequest, Holder, Roster, Rule, public_key, sign_request
from ombud.privacy.consent import Grant
from tests.governance.test_roster import KEYS

START = datetime(2026, 12, 1, 9, tzinfo=UTC)
SUBJECT, OTHER = "resident-pseudonym-0001", "resident-pseudonym-0002"


class Clock:
    now = START

    def __call__(self) -> datetime:
        return self.now


ROSTER = Roster(
    0,
    tuple(
        Holder(n, n.title(), n.split("-")[0], public_key(KEYS[n]))
        for n in ("officer-a", "officer-b", "officer-c", "council-1", "council-2", "council-3")
    ),
    {APPROVE: Rule(2, ("officer",)), "roster.change": Rule(2, ("council",))},
)


@pytest.fixture(params=["sqlite", "postgresql"])
def city(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, Clock]]:
    url = request.getfixturevalue("postgres_schema") if request.param == "postgresql" else ""
    init_deployment(tmp_path / "city", "access.example/log", database_url=url)
    clock = Clock()
    with Deployment.open(tmp_path / "city", clock=clock) as deployment:
        deployment.roster.establish(ROSTER, actor="clerk")
        office = deployment.privacy()
        for subject in (SUBJECT, OTHER):
            office.consents.grant(
                Grant(subject, ("follow-up",), ("contact",), "the city"), actor="consents"
            )
            office.vault.seal(
                deployment.log,
                office.vault.ref(subject),
                "contact",
                json.dumps({"email": f"{subject}@example.org"}).encode(),
                expires=None,
                event=lambda sealed: office.vault.stored_event(sealed, "voice"),
            )
    yield tmp_path / "city", clock


def _request(requester: str = "det-ines", **changes: object) -> AccessRequest:
    made = AccessRequest(
        secrets.token_hex(16),
        Requester("port-police", requester, "cd" * 32),
        (SUBJECT,),
        ("contact",),
        "a burglary investigation",
        "warrant PO-2026-4411",
        START - timedelta(days=30),
        START + timedelta(days=1),
        START + timedelta(days=7),
    )
    return replace(made, **changes)  # type: ignore[arg-type]


def _approval(book: AccessBook, request: AccessRequest, roster: Roster) -> ActionRequest:
    return ActionRequest(
        APPROVE,
        book.approval_params(request.id),
        roster.version,
        roster.digest,
        request.requester.person,
        secrets.token_hex(16),
        START + timedelta(days=1),
        "access.example/log",
    )


def _events(deployment: Deployment, kind: str) -> list[dict[str, object]]:
    out = []
    for entry in deployment.log.entries(0, deployment.log.size):
        event = Event.from_bytes(entry)
        if event.kind == kind:
            out.append(dict(event.body))
    return out


def test_two_officers_approve_and_reads_stay_in_scope(city: tuple[Path, Clock]) -> None:
    data_dir, clock = city
    with Deployment.open(data_dir, clock=clock) as deployment:
        book = deployment.access
        request = _request()
        book.request(request, actor="police-portal")
        # the event says which commitments it holds: version 2, each subject under its own salt
        (requested,) = _events(deployment, "access.requested")
        assert requested["v"] == 2 and requested["request"] == request.id
        assert requested["sealed"] is False and SUBJECT not in str(requested)
        with pytest.raises(ForbiddenError, match="pending"):
            book.read(request.id, SUBJECT, "contact", actor="police")  # not approved yet
        action = _approval(deployment.access, request, ROSTER)
        with pytest.raises(QuorumError):  # a single approver
            book.approve(
                request.id,
                action,
                [sign_request(action, "officer-a", KEYS["officer-a"])],
                actor="x",
            )
        book.approve(
            request.id,
            action,
            [sign_request(action, n, KEYS[n]) for n in ("officer-a", "officer-b")],
            actor="access-office",
        )
        with pytest.raises(ConflictError):
            book.approve(request.id, action, [], actor="x")
        assert book.read(request.id, SUBJECT, "contact", actor="police") == [
            json.dumps({"email": f"{SUBJECT}@example.org"}).encode()
        ]
        with pytest.raises(ScopeError):
            book.read(request.id, OTHER, "contact", actor="police")  # another resident
        with pytest.raises(ScopeError):
            book.read(request.id, SUBJECT, "location", actor="police")  # another category
        clock.now = START + timedelta(days=7)
        with pytest.raises(ExpiredError):
            book.read(request.id, SUBJECT, "contact", actor="police")
        reads = _events(deployment, "access.read")
        assert [r["outcome"] for r in reads] == [
            "not-approved",
            "read",
            "out-of-scope",
            "out-of-scope",
            "expired",
        ]
        public = json.dumps(_events(deployment, "access.requested") + reads)
        assert SUBJECT not in public and OTHER not in public  # the ledger names no subject
        mine = book.of_subject(deployment.vault.ref(SUBJECT))
        assert mine[0]["legalBasis"] == "warrant PO-2026-4411"
        assert [r["outcome"] for r in mine[0]["reads"]] == [
            "not-approved",
            "read",
            "out-of-scope",
            "expired",
        ]
        assert book.of_subject(deployment.vault.ref(OTHER)) == []
        report = book.report()
        assert report["refusedReads"] == 4 and report["statuses"] == {"approved": 1}


def test_the_requester_never_approves(city: tuple[Path, Clock]) -> None:
    data_dir, clock = city
    with Deployment.open(data_dir, clock=clock) as deployment:
        request = _request(requester="officer-c")  # an officer asking for themself
        deployment.access.request(request, actor="officer-c")
        action = _approval(deployment.access, request, ROSTER)
        with pytest.raises(SelfApprovalError):
            deployment.access.approve(
                request.id,
                action,
                [sign_request(action, n, KEYS[n]) for n in ("officer-a", "officer-c")],
                actor="x",
            )


def test_erased_data_is_gone_for_every_requester(city: tuple[Path, Clock]) -> None:
    data_dir, clock = city
    with Deployment.open(data_dir, clock=clock) as deployment:
        request = _request()
        deployment.access.request(request, actor="police")
        action = _approval(deployment.access, request, ROSTER)
        deployment.access.approve(
            request.id,
            action,
            [sign_request(action, n, KEYS[n]) for n in ("officer-a", "officer-b")],
            actor="x",
        )
        deployment.privacy().erase(
            deployment.vault.ref(SUBJECT), actor="resident", basis="resident-request"
        )
        with pytest.raises(NotFoundError):
            deployment.access.read(request.id, SUBJECT, "contact", actor="police")
        assert _events(deployment, "access.read")[-1]["outcome"] == "no-data"


def test_a_seal_opens_on_schedule_across_a_restart(city: tuple[Path, Clock]) -> None:
    data_dir, clock = city
    request = _request(sealed_until=START + timedelta(days=30))
    with Deployment.open(data_dir, clock=clock) as deployment:
        deployment.access.request(request, actor="police")
        (shown,) = _events(deployment, "access.requested")
        assert set(shown) == {"v", "request", "sealed", "commitment", "sealedUntil"}
        assert deployment.access.disclose_due() == 0
        mine = deployment.access.of_subject(deployment.vault.ref(SUBJECT))
        assert mine == [{"sealed": True, "opens": "2026-12-31T09:00:00Z"}]
    clock.now = START + timedelta(days=31)
    with Deployment.open(data_dir, clock=clock) as deployment:  # a restart later
        assert deployment.access.report()["overdueSeals"] == [request.id]
        # What `ombud serve` runs every minute discloses it.
        rounds = background_rounds(deployment, publish=False, screen=True)
        (unseal,) = [r for r in rounds if r.what == "disclose due seals"]
        asyncio.run(unseal.work())
        assert deployment.access.report()["overdueSeals"] == []
        assert deployment.access.disclose_due() == 0
        (disclosed,) = _events(deployment, "seal.disclosed")
        assert disclosed["view"]["legalBasis"] == "warrant PO-2026-4411"  # type: ignore[index]
        assert SUBJECT not in json.dumps(disclosed)
        mine = deployment.access.of_subject(deployment.vault.ref(SUBJECT))
        assert mine[0]["sealed"] is False and mine[0]["organisation"] == "port-police"


def _approved(deployment: Deployment, request: AccessRequest) -> None:
    deployment.access.request(request, actor="police")
    action = _approval(deployment.access, request, ROSTER)
    deployment.access.approve(
        request.id,
        action,
        [sign_request(action, n, KEYS[n]) for n in ("officer-a", "officer-b")],
        actor="x",
    )


def test_a_disclosed_seal_lets_no_one_test_a_guess_of_its_subject(
    city: tuple[Path, Clock],
) -> None:
    """Finding A1: the disclosure publishes the seal's salt; the subjects' commitments, in the
    disclosed view and in the reads, are each under a salt of its own, which only the resident
    gets. A brute force of the id space with everything public finds nothing."""
    data_dir, clock = city
    space = [f"resident-pseudonym-{i:04d}" for i in range(3000)]
    assert SUBJECT in space  # the secret is in the space the attacker tries
    request = _request(sealed_until=START + timedelta(days=1, hours=1))
    with Deployment.open(data_dir, clock=clock) as deployment:
        _approved(deployment, request)
        deployment.access.read(request.id, SUBJECT, "contact", actor="police")
    clock.now = START + timedelta(days=2)
    with Deployment.open(data_dir, clock=clock) as deployment:
        assert deployment.access.disclose_due() == 1
        deployment.access.read(request.id, SUBJECT, "contact", actor="police")  # after it
        (disclosed,) = _events(deployment, "seal.disclosed")
        reads = _events(deployment, "access.read")
        approved = _events(deployment, "access.approved")
        mine = deployment.access.of_subject(deployment.vault.ref(SUBJECT))
    assert disclosed["v"] == 2
    view: dict[str, Any] = disclosed["view"]  # type: ignore[assignment]
    salt = base64.b64decode(str(disclosed["salt"]))
    shown = {*view["subjects"], *(r["subject"] for r in reads if r.get("subject"))}
    assert len(shown) == 1  # the disclosed view and the read after it show one commitment
    digest = approved[0]["approval"]["params"]["digest"]  # type: ignore[index]
    found = [
        guess
        for guess in space
        if subject_commitment(guess, salt) in shown
        or hashlib.sha256(
            salt + canonical_json({**request.to_json(), "subjects": [guess]})
        ).hexdigest()
        == digest
    ]
    assert found == []
    # The seal still opens with what was published.
    (requested,) = _events(deployment, "access.requested")
    assert hashlib.sha256(salt + canonical_json(view)).hexdigest() == requested["commitment"]
    # The resident, and only they, get the salt that opens their commitment.
    (entry,) = mine
    own = base64.b64decode(entry["subject"]["salt"])
    assert entry["subject"]["commitment"] == subject_commitment(SUBJECT, own) in shown
    assert own != salt


def _files(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file())


def test_erasing_a_subject_named_in_requests_leaves_neither_their_pseudonym_nor_salts(
    city: tuple[Path, Clock],
) -> None:
    """Finding: access_requests held the whole request, pseudonyms in clear, after erasure.
    Now the pseudonym is stored nowhere, and erasure destroys the salts of the subject's
    commitments; the requests keep working (approval, reads, disclosure, report)."""
    data_dir, clock = city
    approved = _request(subjects=(SUBJECT, OTHER))
    pending = _request(sealed_until=START + timedelta(days=1))
    with Deployment.open(data_dir, clock=clock) as deployment:
        _approved(deployment, approved)
        deployment.access.read(approved.id, SUBJECT, "contact", actor="police")
        deployment.access.request(pending, actor="tax")
        ref = deployment.vault.ref(SUBJECT)
        salts = [
            bytes(r[0])
            for r in deployment.db.read(
                "SELECT salt FROM access_subjects WHERE subject_ref = ?", (ref,)
            )
        ]
        assert len(salts) == 2 and len(set(salts)) == 2  # one per request
        stored = deployment.db.read("SELECT request FROM access_requests")
        assert not [r for r in stored if SUBJECT.encode() in bytes(r[0])]
        if deployment.db.dialect == "sqlite":  # the scan below sees what is stored
            assert all(s in _files(data_dir) for s in salts)
        deployment.privacy().erase(ref, actor="resident", basis="resident-request")
        assert deployment.db.read(
            "SELECT count(*) FROM access_subjects WHERE subject_ref = ? AND salt IS NOT NULL",
            (ref,),
        ) == [(0,)]
        # What the requests need still works: a read of the erased subject is refused as
        # no-data (its commitment still named), the other subject is read, the pending one is
        # approved, and its seal disclosed.
        with pytest.raises(NotFoundError):
            deployment.access.read(approved.id, SUBJECT, "contact", actor="police")
        last = _events(deployment, "access.read")[-1]
        assert last["outcome"] == "no-data" and last["subject"] is not None
        assert deployment.access.read(approved.id, OTHER, "contact", actor="police")
        action = _approval(deployment.access, pending, ROSTER)
        deployment.access.approve(
            pending.id,
            action,
            [sign_request(action, n, KEYS[n]) for n in ("officer-a", "officer-b")],
            actor="x",
        )
    clock.now = START + timedelta(days=2)
    with Deployment.open(data_dir, clock=clock) as deployment:
        assert deployment.access.disclose_due() == 1
        assert deployment.access.report()["statuses"] == {"approved": 2}
        if deployment.db.dialect == "sqlite":
            everything = _files(data_dir)
            assert SUBJECT.encode() not in everything
            assert [s for s in salts if s in everything] == []
        else:
            tables = [
                r[0]
                for r in deployment.db.read(
                    "SELECT table_name FROM information_schema.tables"
                    " WHERE table_schema = current_schema()"
                )
            ]
            dump = "".join(
                str(row[0])
                for t in tables
                for row in deployment.db.read(f'SELECT t::text FROM "{t}" t')
            )
            assert SUBJECT not in dump and not [s for s in salts if s.hex() in dump]


def test_a_read_under_a_request_not_approved_is_refused_and_recorded(
    city: tuple[Path, Clock],
) -> None:
    """Finding: a read under a pending or denied request was refused (403) but left no trace.
    Now it is an access.read event, outcome not-approved, counted among the refused reads."""
    data_dir, clock = city
    with Deployment.open(data_dir, clock=clock) as deployment:
        book = deployment.access
        pending, denied = _request(), _request(sealed_until=START + timedelta(days=2))
        book.request(pending, actor="police")
        book.request(denied, actor="tax")
        book.deny(denied.id, "officer-a", "no legal basis", actor="x")
        before = deployment.log.size
        with pytest.raises(ForbiddenError, match="pending, not approved"):
            book.read(pending.id, SUBJECT, "contact", actor="police")
        with pytest.raises(ForbiddenError, match="denied, not approved"):
            book.read(denied.id, SUBJECT, "contact", actor="tax")
        with pytest.raises(NotFoundError):  # no request: nothing to record it under
            book.read("0" * 32, SUBJECT, "contact", actor="police")
        assert deployment.log.size == before + 2
        reads = _events(deployment, "access.read")
        assert reads[0]["outcome"] == reads[1]["outcome"] == "not-approved"
        assert reads[0]["items"] == 0 and reads[0]["subject"] is not None
        assert set(reads[1]) == {"v", "request", "outcome"}  # sealed: nothing more shown
        assert SUBJECT not in json.dumps(reads)
        report = book.report()
        assert report["refusedReads"] == 2
        assert {(r["request"], r["outcome"]) for r in report["reads"]} == {
            (pending.id, "not-approved"),
            (denied.id, "not-approved"),
        }
        mine = book.of_subject(deployment.vault.ref(SUBJECT))
        (shown,) = [m for m in mine if not m["sealed"]]
        assert [r["outcome"] for r in shown["reads"]] == ["not-approved"]
