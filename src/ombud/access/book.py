"""Third-party access, through the ledger: requests, their approval by the roster's policy,
reads under the capability, and seals disclosed on schedule.

Threat model: a requester, an officer or the operator tries to read more than a request
names, to approve their own request, to read after expiry, or to keep a sealed request sealed
for ever. Approval is ``verify_approval`` against the roster in force (two officers, never
the requester); a read decrypts from the vault only the named subjects' payloads of the named
categories stored in the window, and is an ``access.read`` event whether it is allowed or
refused (a read under a request pending or denied too); erased data is gone for everyone. A sealed
request shows only its commitment until ``disclose_due`` publishes it (the ``ombud serve``
rounds and ``ombud access unseal`` call it; the schedule lives in the database, so it survives
restarts). Neither the ledger nor the database names a subject: a request is kept as filed
(``FiledRequest``), each subject a commitment under a salt of its own, never published (the
disclosure publishes the seal's salt only), filed under the vault's keyed reference; erasing
the subject destroys that salt, so its commitments say nothing after.

Every read needs its requester's signed statement of it (``ombud.access.reads``), signed with
the key the request records: a token's holder or the operator who reads without it is refused,
on the ledger; the statement's nonce is used up by the read it allowed (``access_reads.nonce``).

Event versions: ``access.requested``, ``access.read`` and ``seal.disclosed`` of version 2 hold
subject commitments under each subject's own salt; of version 1 (requests filed before), under
the request's salt, which its ``seal.disclosed`` publishes. Both open their seal the same way.
``access.read`` of version 3 (written since revision 0012, under requests of either version)
holds the subject's commitment as the request holds it and, as ``read``, the requester's
signed statement of an allowed read (under a sealed request, its nonce, time and signature:
the ``seal.disclosed`` that opens it adds the subject each read's statement named to its
``reads``, which already give the category); ``read`` is null on a refusal.
``ombud.access.audit`` verifies them from the log alone.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ombud.access.reads import SignedRead, verify_read_origin, verify_signed_read
from ombud.access.requests import (
    MAX_SEAL,
    AccessRequest,
    Capability,
    FiledRequest,
    subject_commitment,
)
from ombud.canonical import parse_json
from ombud.clock import format_time, from_micros, to_micros
from ombud.database import Database, Tx
from ombud.errors import (
    AlreadyExistsError,
    ConflictError,
    ExpiredError,
    ForbiddenError,
    MalformedError,
    NotFoundError,
    OmbudError,
    ReplayError,
    ScopeError,
    SignatureError,
    StaleReadError,
    UnsignedReadError,
)
from ombud.events import Event
from ombud.governance.actions import Effect
from ombud.governance.book import RosterBook
from ombud.governance.roster import ActionRequest, Approval, Roster, check_id
from ombud.ledger.log import Log
from ombud.privacy.vault import Vault

__all__ = ["APPROVE", "AccessBook", "Stored", "forget_subject"]

APPROVE = "access.approve"
"""The roster's action class for approving an access request."""
_VERSION = 2
"""The version of the access events this code writes (see the module's docstring)."""
_READ_VERSION = 3
"""The version of the ``access.read`` events this code writes: with the signed statement."""


@dataclass(frozen=True)
class Stored:
    """A request as the book keeps it: filed (subjects as commitments), with the salt of its
    seal (published by its disclosure), the digest its approval binds to, and the version of
    its subject commitments (1: under the seal's salt; 2: each under its own)."""

    request: FiledRequest
    salt: bytes
    status: str
    requested_index: int
    decided_index: int | None
    disclosed_index: int | None
    approval_digest: str
    version: int

    @property
    def sealed(self) -> bool:
        return self.request.sealed_until is not None and self.disclosed_index is None


def _approval_params(stored: Stored) -> dict[str, str]:
    return {"request": stored.request.id, "digest": stored.approval_digest}


def forget_subject(tx: Tx, ref: bytes) -> None:
    """The vault's erasure hook (in the erasure's transaction): destroy the subject's
    commitment salts, so no commitment to them on the ledger can be opened, or tested against a
    guess, again. The deployment registers it with its vault, and so does every
    ``AccessBook``."""
    tx.execute("UPDATE access_subjects SET salt = NULL WHERE subject_ref = ?", (ref,))


_REFUSALS: tuple[tuple[type[OmbudError], str], ...] = (
    (UnsignedReadError, "unsigned"),  # no statement from the requester
    (StaleReadError, "stale"),  # signed too long before (or ahead of) the server's clock
    (ExpiredError, "expired"),
    (ScopeError, "out-of-scope"),
    (NotFoundError, "no-data"),  # erased, or never held: gone for everyone
    (ForbiddenError, "not-approved"),  # pending or denied
    (SignatureError, "bad-signature"),  # not the requester's key, or another read's statement
    (ReplayError, "replayed"),  # the statement's nonce allowed a read before
)
_REFUSED = (ForbiddenError, NotFoundError, SignatureError, ReplayError)
"""What ``AccessBook.read`` records as a refused read (and raises afterwards)."""


def _refusal(exc: Exception) -> str:
    """A refusal as the ledger says it: a code, never a message that could echo input."""
    return next((code for kind, code in _REFUSALS if isinstance(exc, kind)), "refused")


_REPLAYED = "this signed read was used before: the requester signs each read afresh"


def _read_body(
    request_id: str,
    sealed: bool,
    refused: Exception | None,
    category: str,
    commitment: str | None,
    items: list[bytes],
) -> dict[str, Any]:
    """An ``access.read`` event's body (version 3) but the statement: the request and the
    outcome, and unless the request is sealed the category, the subject's commitment and how
    many items were read; ``read`` null (a refusal) until the caller sets it."""
    body: dict[str, Any] = {
        "v": _READ_VERSION,
        "request": request_id,
        "outcome": "read" if refused is None else _refusal(refused),
    }
    if not sealed:
        body["category"] = category
        body["subject"] = commitment
        body["items"] = len(items)
    body["read"] = None
    return body


def _shown(signed: SignedRead, *, sealed: bool) -> dict[str, Any]:
    """What an allowed read's event shows of the requester's statement: all of it, or under a
    sealed request all but what the seal hides (the subject and the category, which its
    disclosure publishes among its ``reads``)."""
    if not sealed:
        return signed.to_json()
    shown = signed.to_json()
    return {k: shown[k] for k in ("nonce", "at", "signature")}


class AccessBook:
    def __init__(
        self,
        db: Database,
        log: Log,
        vault: Vault,
        roster: RosterBook,
        *,
        clock: Callable[[], datetime],
        random_bytes: Callable[[int], bytes] = os.urandom,
        max_seal: timedelta = MAX_SEAL,
    ) -> None:
        self.db = db
        self.log = log
        self.vault = vault
        self.roster = roster
        self.clock = clock
        self.random_bytes = random_bytes
        self.max_seal = max_seal
        vault.forget_with(forget_subject, "access_subjects", "access_requests")

    # -- reading the record ----------------------------------------------------------------

    def get(self, request_id: str) -> Stored:
        rows = self.db.read(
            "SELECT request, salt, status, requested_index, decided_index, disclosed_index,"
            " approval_digest, version FROM access_requests WHERE id = ?",
            (request_id,),
        )
        if not rows:
            raise NotFoundError(f"no access request {request_id[:40]!r}")
        data, salt, status, requested, decided, disclosed, digest, version = rows[0]
        request = FiledRequest.from_json(parse_json(bytes(data), "a stored request"))
        return Stored(
            request, bytes(salt), status, requested, decided, disclosed, digest, int(version)
        )

    def all(self) -> list[Stored]:
        rows = self.db.read("SELECT id FROM access_requests ORDER BY requested_index")
        return [self.get(r[0]) for r in rows]

    # -- the request's life ----------------------------------------------------------------

    def request(self, request: AccessRequest, *, actor: str) -> int:
        """Record a request (``access.requested``: its public view, or only its seal). Only
        the filed request is kept: each subject as its commitment under a fresh salt of its
        own, filed under the vault's reference (the pseudonym itself is stored nowhere)."""
        request.check_seal(self.clock(), self.max_seal)
        salt = self.random_bytes(32)
        salts = [self.random_bytes(32) for _ in request.subjects]
        filed = request.file(salts)
        refs = [self.vault.ref(s) for s in request.subjects]

        def build(tx: Tx) -> list[bytes]:
            if tx.execute("SELECT 1 FROM access_requests WHERE id = ?", (request.id,)):
                raise AlreadyExistsError(f"access request {request.id} exists")
            # the event's own version and id last: the open view is the request's JSON, whose
            # "v" is the request document's version, not the event's
            body = {**filed.public_view(salt), "v": _VERSION, "request": request.id}
            return [Event("access.requested", self.clock(), actor, body).to_bytes()]

        def record(tx: Tx, index: int) -> None:
            sealed = request.sealed_until
            tx.execute(
                "INSERT INTO access_requests (id, request, salt, status, sealed_until,"
                " requested_index, approval_digest, version)"
                " VALUES (?, ?, ?, 'pending', ?, ?, ?, ?)",
                (
                    request.id,
                    filed.to_bytes(),
                    salt,
                    None if sealed is None else to_micros(sealed),
                    index,
                    filed.approval_digest(salt),
                    _VERSION,
                ),
            )
            tx.executemany(
                "INSERT INTO access_subjects (request, subject_ref, salt, commitment)"
                " VALUES (?, ?, ?, ?)",
                [
                    (request.id, ref, subject_salt, commitment)
                    for ref, subject_salt, commitment in zip(
                        refs, salts, filed.commitments, strict=True
                    )
                ],
            )

        return self.log.append_with(build, record)

    def approve(
        self, request_id: str, action: ActionRequest, approvals: Sequence[Approval], *, actor: str
    ) -> int:
        """Approve a pending request once the roster's policy for ``access.approve`` is met by
        ``approvals`` of ``action`` (which names this request's id and digest, and its
        requester as the person who asked, so they can never approve it). Each step is a
        privileged action's (``ombud.governance.actions``): refusals are recorded."""
        self.check_approval(action)
        return self.roster.actions.submit(
            action, approvals, self.approval(request_id, actor=actor), actor=actor
        )

    def check_approval(self, action: ActionRequest) -> None:
        """None when ``action`` is the approval of a pending request, as ``approve`` needs."""
        request_id = action.params.get("request")
        if action.action != APPROVE or not isinstance(request_id, str):
            raise MalformedError(f"an approval is {APPROVE} of a request")
        stored = self.get(request_id)
        if stored.status != "pending":
            raise ConflictError(f"access request {request_id} was already {stored.status}")
        expected = _approval_params(stored)
        if dict(action.params) != expected:
            raise MalformedError(f"the approval must be {APPROVE} of {expected}")
        if action.requester != stored.request.requester.person:
            raise MalformedError("the approval names another requester than the request's")

    def approval_params(self, request_id: str) -> dict[str, str]:
        """The parameters of the ``access.approve`` action for a request: its id and its
        salted digest, kept since it was filed (``FiledRequest.approval_digest``)."""
        return _approval_params(self.get(request_id))

    def approval(self, request_id: str, *, actor: str) -> Effect:
        """Carrying out an approval: ``access.approved``, with the signatures, and the
        request's status."""

        def build(
            tx: Tx, roster: Roster, action: ActionRequest, approvals: tuple[Approval, ...]
        ) -> list[Event]:
            self._pending_in(tx, request_id)
            body = {
                "v": 1,
                "request": request_id,
                "rosterVersion": roster.version,
                "approval": action.to_json(),
                "approvals": [a.to_json() for a in approvals],
            }
            return [Event("access.approved", self.clock(), actor, body)]

        return Effect(build, self._decide(request_id, "approved"))

    def deny(self, request_id: str, officer: str, reason: str, *, actor: str) -> int:
        """An officer of the roster refuses a pending request (``access.denied``)."""
        roster = self.roster.current().roster
        holder, rule = roster.holder(officer), roster.rule(APPROVE)
        if holder is None or holder.role not in rule.roles:
            raise ForbiddenError(f"{officer[:40]} may not decide access requests")
        if not 0 < len(reason) <= 500:
            raise MalformedError("a denial gives its reason in 1-500 characters")

        def build(tx: Tx) -> list[bytes]:
            self._pending_in(tx, request_id)
            body = {"v": 1, "request": request_id, "officer": officer, "reason": reason}
            return [Event("access.denied", self.clock(), actor, body).to_bytes()]

        return self.log.append_with(build, self._decide(request_id, "denied"))

    @staticmethod
    def _pending_in(tx: Tx, request_id: str) -> None:
        rows = tx.execute("SELECT status FROM access_requests WHERE id = ?", (request_id,))
        if not rows:
            raise NotFoundError(f"no access request {request_id[:40]!r}")
        if rows[0][0] != "pending":
            raise ConflictError(f"access request {request_id} was already {rows[0][0]}")

    @staticmethod
    def _decide(request_id: str, status: str) -> Callable[[Tx, int], None]:
        def record(tx: Tx, index: int) -> None:
            tx.execute(
                "UPDATE access_requests SET status = ?, decided_index = ? WHERE id = ?",
                (status, index, request_id),
            )

        return record

    def read(
        self,
        request_id: str,
        subject: str,
        category: str,
        *,
        signed: SignedRead | None,
        actor: str,
    ) -> list[bytes]:
        """The subject's payloads of ``category`` stored within the request's window, under its
        capability, when the requester asked for exactly this read: ``signed``, their statement
        of it, signed with the key the request records (``verify_signed_read``), whose nonce
        allowed no read before. Signed for another deployment, it raises ``ForeignReadError``
        and nothing is written. Otherwise, allowed or refused, the read is an ``access.read``
        event; refused, it raises afterwards (``ForbiddenError`` under a request not approved,
        ``ExpiredError``, ``ScopeError``, ``NotFoundError`` for data that is erased or was
        never held, ``UnsignedReadError``, ``SignatureError``, ``StaleReadError`` or
        ``ReplayError``), with nothing decrypted and the nonce not used up. A ``category`` that
        is no data category's id (which no request can name) is a ``MalformedError`` with
        nothing written: PostgreSQL refused one holding NUL as the refused read was recorded,
        where SQLite recorded it."""
        stored = self.get(request_id)
        check_id(category, "a data category")
        if signed is not None:
            verify_read_origin(signed, self.log.origin)  # another log's: not this log's to record
        capability = Capability.of(stored.request)
        now = self.clock()
        ref, named, commitment = self._named(stored, subject)
        items: list[bytes] = []
        refused: Exception | None = None
        try:
            if stored.status != "approved":
                raise ForbiddenError(
                    f"access request {request_id} is {stored.status}, not approved"
                )
            if named and commitment is None:  # erased, filed before commitments were kept
                raise NotFoundError("this subject's data was erased")
            capability.verify_read(commitment or "", category, capability.since, now)
            assert ref is not None and commitment is not None  # a subject not named raised
            if signed is None:
                raise UnsignedReadError(
                    f"a read under request {request_id} needs its requester's signed statement "
                    "of it (`ombud access sign-read`)"
                )
            verify_signed_read(
                signed, stored.request.requester.key, origin=self.log.origin,
                request=request_id, subject=commitment, category=category, now=now,
            )  # fmt: skip
            if self.db.read("SELECT 1 FROM access_reads WHERE nonce = ?", (signed.nonce,)):
                raise ReplayError(_REPLAYED)
            for payload in self.vault.payloads(ref, kind=category):
                if (
                    payload.data is not None
                    and capability.since <= payload.created < capability.until
                ):
                    items.append(payload.data)
        except _REFUSED as exc:
            refused = exc

        def build(tx: Tx) -> list[bytes]:
            nonlocal refused, items
            if (
                refused is None
                and signed is not None
                and tx.execute("SELECT 1 FROM access_reads WHERE nonce = ?", (signed.nonce,))
            ):  # another process read with it since
                refused, items = ReplayError(_REPLAYED), []
            # sealed as of this transaction: a disclosure just committed lists no read after it
            rows = tx.execute(
                "SELECT disclosed_index FROM access_requests WHERE id = ?", (request_id,)
            )
            sealed = stored.request.sealed_until is not None and rows[0][0] is None
            shown = commitment if named else None
            body = _read_body(request_id, sealed, refused, category, shown, items)
            if refused is None and signed is not None:
                body["read"] = _shown(signed, sealed=sealed)
            return [Event("access.read", now, actor, body).to_bytes()]

        def record(tx: Tx, index: int) -> None:
            allowed = refused is None and signed is not None
            tx.execute(
                "INSERT INTO access_reads (ledger_index, request, subject_ref, category,"
                " outcome, items, at, nonce, signed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    index,
                    request_id,
                    ref if named else None,
                    category[:64],
                    "read" if refused is None else _refusal(refused),
                    len(items),
                    to_micros(now),
                    signed.nonce if allowed and signed is not None else None,
                    signed.to_bytes() if allowed and signed is not None else None,
                ),
            )

        self.log.append_with(build, record)
        if refused is not None:
            raise refused
        return items

    def _named(self, stored: Stored, subject: str) -> tuple[bytes | None, bool, str | None]:
        """The subject's vault reference, whether the request names it, and its commitment
        there (computed from its salt; once the salt is erased, the one kept, if any)."""
        try:
            ref = self.vault.ref(subject)
        except MalformedError:  # no pseudonym a request could name
            return None, False, None
        rows = self.db.read(
            "SELECT salt, commitment FROM access_subjects WHERE request = ? AND subject_ref = ?",
            (stored.request.id, ref),
        )
        if not rows:
            return ref, False, None
        salt, kept = rows[0]
        if salt is not None:
            return ref, True, subject_commitment(subject, bytes(salt))
        return ref, True, None if kept is None else str(kept)

    def disclose_due(self) -> int:
        """Disclose every seal whose time has come (``seal.disclosed``: the open view and the
        seal's salt, which open the commitment, and no subject's salt); returns how many."""
        now = self.clock()
        rows = self.db.read(
            "SELECT id FROM access_requests WHERE sealed_until IS NOT NULL"
            " AND sealed_until <= ? AND disclosed_index IS NULL ORDER BY sealed_until",
            (to_micros(now),),
        )
        for (request_id,) in rows:
            stored = self.get(request_id)
            body = {
                "v": stored.version,
                "request": request_id,
                "salt": base64.b64encode(stored.salt).decode(),
                "view": stored.request.to_json(),
            }

            def build(
                tx: Tx, body: dict[str, Any] = body, request_id: str = request_id
            ) -> list[bytes]:
                rows = tx.execute(
                    "SELECT disclosed_index FROM access_requests WHERE id = ?", (request_id,)
                )
                if rows[0][0] is not None:  # another process disclosed it first
                    return []
                # every read recorded under the seal, as of this transaction
                reads = self._reads(request_id, statements=True, run=tx.execute)
                return [Event("seal.disclosed", now, "ombud", {**body, "reads": reads}).to_bytes()]

            def record(tx: Tx, index: int, request_id: str = request_id) -> None:
                tx.execute(
                    "UPDATE access_requests SET disclosed_index = ? WHERE id = ?",
                    (index, request_id),
                )

            self.log.append_with(build, record)
        return len(rows)

    # -- what residents and the ombudsman see ------------------------------------------------

    def _reads(
        self,
        request_id: str,
        ref: bytes | None = None,
        *,
        statements: bool = False,
        run: Callable[[str, tuple[object, ...]], list[tuple[Any, ...]]] | None = None,
    ) -> list[dict[str, Any]]:
        """The reads under a request (of one subject, given its vault reference), in order;
        with ``statements``, each allowed read's ``subject`` as its signed statement names it
        (the request's commitment): what a disclosure adds to the statements that the reads'
        events show of reads made while the request was sealed. ``run`` reads them (a
        transaction's ``execute``; the database's by default)."""
        sql = "SELECT category, outcome, items, at, signed FROM access_reads WHERE request = ?"
        args: tuple[object, ...] = (request_id,)
        if ref is not None:
            sql, args = sql + " AND subject_ref = ?", (request_id, ref)
        out = []
        for c, o, n, a, signed in (run or self.db.read)(sql + " ORDER BY ledger_index", args):
            read = {"category": c, "outcome": o, "items": n, "at": format_time(from_micros(a))}
            if statements and signed is not None:
                stated = parse_json(bytes(signed), "a stored signed read")
                read["subject"] = SignedRead.from_json(stated).subject
            out.append(read)
        return out

    def of_subject(self, ref: bytes) -> list[dict[str, Any]]:
        """Every request that named this subject: who asked, on what basis, what was read and
        when, and the subject's commitment in it with its salt (``subject``: so the resident,
        and only they, can check ``SHA-256(salt ‖ pseudonym)`` against the ledger); a sealed
        one as sealed, with the date it opens."""
        rows = self.db.read(
            "SELECT request, salt, commitment FROM access_subjects WHERE subject_ref = ?", (ref,)
        )
        out = []
        for request_id, salt, commitment in rows:
            stored = self.get(request_id)
            r = stored.request
            # A request filed before revision 0009 (version 1) committed to all its subjects
            # under one salt: given to one of several, it would test guesses of the others.
            shared = stored.version == 1 and len(r.commitments) > 1
            if stored.sealed:
                assert r.sealed_until is not None
                out.append({"sealed": True, "opens": format_time(r.sealed_until)})
                continue
            out.append(
                {
                    "sealed": False,
                    "request": r.id,
                    "organisation": r.requester.organisation,
                    "person": r.requester.person,
                    "purpose": r.purpose,
                    "legalBasis": r.legal_basis,
                    "categories": list(r.categories),
                    "status": stored.status,
                    "ledgerIndex": stored.requested_index,
                    "subject": {
                        "commitment": commitment,
                        "salt": None
                        if salt is None or shared
                        else base64.b64encode(bytes(salt)).decode(),
                    },
                    "reads": self._reads(request_id, ref),
                }
            )
        return out

    def report(self) -> dict[str, Any]:
        """For the ombudsman: requests per requester and legal basis, decisions, refused reads,
        overdue seals and reads per request."""
        now = to_micros(self.clock())
        per: dict[tuple[str, str], int] = {}
        statuses: dict[str, int] = {}
        for stored in self.all():
            if stored.sealed:
                key = ("(sealed)", "(sealed)")
            else:
                key = (stored.request.requester.organisation, stored.request.legal_basis)
            per[key] = per.get(key, 0) + 1
            statuses[stored.status] = statuses.get(stored.status, 0) + 1
        reads = self.db.read(
            "SELECT request, outcome, count(*) FROM access_reads GROUP BY request, outcome"
        )
        overdue = self.db.read(
            "SELECT id FROM access_requests WHERE sealed_until IS NOT NULL"
            " AND sealed_until <= ? AND disclosed_index IS NULL",
            (now,),
        )
        return {
            "requests": [
                {"organisation": o, "legalBasis": b, "count": n}
                for (o, b), n in sorted(per.items())
            ],
            "statuses": statuses,
            "reads": [{"request": r, "outcome": o, "count": int(n)} for r, o, n in reads],
            "refusedReads": sum(int(n) for _, o, n in reads if o != "read"),
            "overdueSeals": [r[0] for r in overdue],
        }
