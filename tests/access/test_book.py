"""Third-party access through the ledger, on SQLite and PostgreSQL: two officers approve, never
the requester; reads stay in scope, before expiry, each signed by the requester for exactly that
read, and are recorded, refused ones too; erased data is gone for everyone; a sealed request
shows only its seal until it is disclosed on schedule, across a restart; residents see who
asked about them."""

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
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ombud.access.audit import ReadAudit, audit_reads
from ombud.access.book import APPROVE, AccessBook
from ombud.access.reads import SignedRead, sign_read, verify_signed_read
from ombud.access.requests import AccessRequest, Requester, subject_commitment
from ombud.api.tasks import background_rounds
from ombud.base64url import b64url
from ombud.canonical import canonical_json
from ombud.clock import format_time
from ombud.deployment import Deployment, init_deployment
from ombud.errors import (
    ConflictError,
    ExpiredError,
    ForbiddenError,
    ForeignReadError,
    MalformedError,
    NotFoundError,
    QuorumError,
    ReplayError,
    ScopeError,
    SelfApprovalError,
    SignatureError,
    StaleReadError,
    UnsignedReadError,
)
from ombud.events import Event
from ombud.governance.roster import ActionRequest, Holder, Roster, Rule, public_key, sign_request
from ombud.privacy.consent import Grant
from tests.governance.test_roster import KEYS

START = datetime(2026, 12, 1, 9, tzinfo=UTC)
SUBJECT, OTHER = "resident-pseudonym-0001", "resident-pseudonym-0002"
ORIGIN = "access.example/log"
REQUESTER = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"det-ines's key").digest())
"""The requester's key: the requests name its public half, and it signs their reads."""


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
    init_deployment(tmp_path / "city", ORIGIN, database_url=url)
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
        Requester("port-police", requester, public_key(REQUESTER).hex()),
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
        ORIGIN,
    )


def _signed(
    deployment: Deployment,
    request: AccessRequest,
    subject: str = SUBJECT,
    category: str = "contact",
    *,
    key: Ed25519PrivateKey = REQUESTER,
    origin: str = ORIGIN,
    at: datetime | None = None,
    nonce: str | None = None,
) -> SignedRead:
    """The requester's signed read of ``subject`` (by the commitment the filed request holds
    in its place; the first one's for a subject it does not name), as ``sign-read`` makes it."""
    index = request.subjects.index(subject) if subject in request.subjects else 0
    commitment = deployment.access.get(request.id).request.commitments[index]
    return sign_read(
        request.id, commitment, category, key, origin=origin,
        at=deployment.clock() if at is None else at, nonce=nonce or secrets.token_hex(16),
    )  # fmt: skip


def _read(
    deployment: Deployment,
    request: AccessRequest,
    subject: str = SUBJECT,
    category: str = "contact",
    *,
    signed: SignedRead | None = None,
) -> list[bytes]:
    """A read as the access office makes it for the requester: with their signed statement."""
    if signed is None:
        signed = _signed(deployment, request, subject, category)
    return deployment.access.read(request.id, subject, category, signed=signed, actor="police")


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
            _read(deployment, request)  # not approved yet
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
        assert _read(deployment, request) == [
            json.dumps({"email": f"{SUBJECT}@example.org"}).encode()
        ]
        with pytest.raises(ScopeError):
            _read(deployment, request, OTHER)  # another resident
        with pytest.raises(ScopeError):
            _read(deployment, request, SUBJECT, "location")  # another category
        clock.now = START + timedelta(days=7)
        with pytest.raises(ExpiredError):
            _read(deployment, request)
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
            _read(deployment, request)
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
    _approve(deployment, request)


def _approve(deployment: Deployment, request: AccessRequest) -> None:
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
        _read(deployment, request)
    clock.now = START + timedelta(days=2)
    with Deployment.open(data_dir, clock=clock) as deployment:
        assert deployment.access.disclose_due() == 1
        _read(deployment, request)  # after it
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
        _read(deployment, approved)
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
            _read(deployment, approved)
        last = _events(deployment, "access.read")[-1]
        assert last["outcome"] == "no-data" and last["subject"] is not None
        assert _read(deployment, approved, OTHER)
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
            _read(deployment, pending)
        with pytest.raises(ForbiddenError, match="denied, not approved"):
            _read(deployment, denied)
        with pytest.raises(NotFoundError):  # no request: nothing to record it under
            book.read("0" * 32, SUBJECT, "contact", signed=None, actor="police")
        assert deployment.log.size == before + 2
        reads = _events(deployment, "access.read")
        assert reads[0]["outcome"] == reads[1]["outcome"] == "not-approved"
        assert reads[0]["items"] == 0 and reads[0]["subject"] is not None
        assert reads[1] == {"v": 3, "request": denied.id, "outcome": "not-approved", "read": None}
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


def _entries(deployment: Deployment) -> list[tuple[int, bytes]]:
    return list(enumerate(deployment.log.entries(0, deployment.log.size)))


def test_a_signed_read_in_scope_is_read_and_its_event_verifies_offline(
    city: tuple[Path, Clock],
) -> None:
    data_dir, clock = city
    with Deployment.open(data_dir, clock=clock) as deployment:
        request = _request()
        _approved(deployment, request)
        signed = _signed(deployment, request, at=START - timedelta(minutes=9))
        assert _read(deployment, request, signed=signed) == [
            json.dumps({"email": f"{SUBJECT}@example.org"}).encode()
        ]
        (read,) = _events(deployment, "access.read")
        assert read["v"] == 3 and read["outcome"] == "read" and read["items"] == 1
        assert read["read"] == signed.to_json() and read["subject"] == signed.subject
        assert SUBJECT not in json.dumps(read)  # the statement names the commitment only
        # Offline, from the ledger alone: the key is the one the request's record names.
        (requested,) = _events(deployment, "access.requested")
        key = requested["requester"]["key"]  # type: ignore[index]
        statement = SignedRead.from_json(read["read"])
        verify_signed_read(
            statement, key, origin=ORIGIN, request=request.id, subject=str(read["subject"]),
            category=str(read["category"]), now=START,
        )  # fmt: skip
        assert audit_reads(_entries(deployment), origin=ORIGIN) == ReadAudit(1, 0, 0, 0, 1, 1)


def _nonces(deployment: Deployment) -> list[tuple[Any, ...]]:
    return deployment.db.read("SELECT nonce FROM access_reads WHERE nonce IS NOT NULL")


def test_a_read_the_requester_did_not_sign_for_is_refused_with_nothing_read(
    city: tuple[Path, Clock],
) -> None:
    """Each refused read is recorded (outcome, no items, no statement) and raises; no data is
    returned and no nonce is used up. One signed for another deployment is not this log's to
    record: nothing is written at all."""
    data_dir, clock = city
    with Deployment.open(data_dir, clock=clock) as deployment:
        request, elsewhere = _request(subjects=(SUBJECT, OTHER)), _request()
        _approved(deployment, request)
        _approved(deployment, elsewhere)
        used = _signed(deployment, request)
        assert _read(deployment, request, signed=used)
        stranger = Ed25519PrivateKey.generate()
        refusals: list[tuple[type[Exception], str, str, str, SignedRead | None]] = [
            (SignatureError, "bad-signature", SUBJECT, "contact",
             _signed(deployment, request, key=stranger)),
            (ReplayError, "replayed", SUBJECT, "contact", used),
            (StaleReadError, "stale", SUBJECT, "contact",
             _signed(deployment, request, at=START - timedelta(minutes=11))),
            (StaleReadError, "stale", SUBJECT, "contact",
             _signed(deployment, request, at=START + timedelta(minutes=11))),
            (SignatureError, "bad-signature", OTHER, "contact",  # signed for the other subject
             _signed(deployment, request, SUBJECT)),
            (SignatureError, "bad-signature", SUBJECT, "contact",  # for another category
             _signed(deployment, request, SUBJECT, "location")),
            (SignatureError, "bad-signature", SUBJECT, "contact",  # under another request
             _signed(deployment, elsewhere)),
            (UnsignedReadError, "unsigned", SUBJECT, "contact", None),
        ]  # fmt: skip
        for error, code, subject, category, signed in refusals:
            size, nonces = deployment.log.size, _nonces(deployment)
            with pytest.raises(error):
                deployment.access.read(
                    request.id, subject, category, signed=signed, actor="access-office"
                )
            assert deployment.log.size == size + 1 and _nonces(deployment) == nonces
            last = _events(deployment, "access.read")[-1]
            assert (last["outcome"], last["items"], last["read"]) == (code, 0, None), code
        size, rows = deployment.log.size, deployment.db.read("SELECT count(*) FROM access_reads")
        with pytest.raises(ForeignReadError, match="staging"):
            _read(deployment, request, signed=_signed(deployment, request, origin="staging.x/log"))
        assert deployment.log.size == size
        assert deployment.db.read("SELECT count(*) FROM access_reads") == rows
        assert [r["outcome"] for r in _events(deployment, "access.read")].count("read") == 1
        assert deployment.access.report()["refusedReads"] == len(refusals)
        # Every signed read the log holds still verifies: refusals carry no statement.
        assert audit_reads(_entries(deployment), origin=ORIGIN) == ReadAudit(
            1, 0, 0, len(refusals), 2, 2
        )


def test_a_read_refused_before_approval_leaves_its_statement_good_once(
    city: tuple[Path, Clock],
) -> None:
    data_dir, clock = city
    with Deployment.open(data_dir, clock=clock) as deployment:
        request = _request()
        deployment.access.request(request, actor="police")
        signed = _signed(deployment, request)
        with pytest.raises(ForbiddenError, match="pending"):
            _read(deployment, request, signed=signed)
        _approve(deployment, request)
        clock.now = START + timedelta(minutes=5)
        assert _read(deployment, request, signed=signed)  # its nonce was not used up
        with pytest.raises(ReplayError):
            _read(deployment, request, signed=signed)
        assert [r["outcome"] for r in _events(deployment, "access.read")] == [
            "not-approved",
            "read",
            "replayed",
        ]


def test_a_sealed_requests_reads_verify_once_the_seal_opens(city: tuple[Path, Clock]) -> None:
    """Under a seal, an allowed read's event shows the statement's nonce, time and signature
    only (not the subject's commitment, nor the category); the disclosure adds the subject
    each read's statement named, so the signature verifies from the log alone."""
    data_dir, clock = city
    request = _request(sealed_until=START + timedelta(days=1, hours=1))
    with Deployment.open(data_dir, clock=clock) as deployment:
        _approved(deployment, request)
        signed = _signed(deployment, request)
        _read(deployment, request, signed=signed)
        (read,) = _events(deployment, "access.read")
        shown = {"nonce": signed.nonce, "at": format_time(signed.at)}
        assert read == {
            "v": 3,
            "request": request.id,
            "outcome": "read",
            "read": {**shown, "signature": b64url(signed.signature)},
        }
        assert audit_reads(_entries(deployment), origin=ORIGIN) == ReadAudit(0, 1, 0, 0, 1, 0)
    clock.now = START + timedelta(days=2)
    with Deployment.open(data_dir, clock=clock) as deployment:
        assert deployment.access.disclose_due() == 1
        (disclosed,) = _events(deployment, "seal.disclosed")
        (listed,) = disclosed["reads"]  # type: ignore[misc]
        assert listed["subject"] == signed.subject and listed["category"] == "contact"
        assert SUBJECT not in json.dumps(disclosed)
        assert audit_reads(_entries(deployment), origin=ORIGIN) == ReadAudit(1, 0, 0, 0, 1, 0)


def test_a_read_of_what_is_no_data_category_is_refused_with_nothing_written(
    city: tuple[Path, Clock],
) -> None:
    """Finding: a read whose category held NUL was recorded (refused) on SQLite, and on
    PostgreSQL failed as the refusal was written (400 "the database refused a value"), leaving
    no trace: the same read answered two ways. A category no request can name is now malformed
    input, refused alike with nothing written, before any capability is checked."""
    data_dir, clock = city
    with Deployment.open(data_dir, clock=clock) as deployment:
        book = deployment.access
        pending = _request()
        book.request(pending, actor="police")
        before = deployment.log.size
        for category in ("con\x00tact", "", "Contact", "c" * 65, "contact\u202e"):
            with pytest.raises(MalformedError, match="data category"):
                book.read(pending.id, SUBJECT, category, signed=None, actor="police")
        assert deployment.log.size == before and book.report()["refusedReads"] == 0
        with pytest.raises(ForbiddenError, match="pending, not approved"):  # still recorded
            book.read(pending.id, SUBJECT, "contact", signed=None, actor="police")
        assert deployment.log.size == before + 1
