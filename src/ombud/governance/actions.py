"""Privileged actions through the ledger, step by step: a request proposed, each holder's
signature as it arrives, and the outcome once the roster's policy is met — or the refusal.

Threat model: the operator holds the database and an API token, never the holders' keys; a
rogue officer or a stolen key holds one signature. Every step is verified inside the
transaction that records it, against the roster in force at that moment: a request bound to
another roster or another deployment (a staging copy set up from the same genesis: requests
name their deployment's log origin since version 2), or to none (version 1), expired or
already carried out is refused; a signature that does not verify,
from a key the roster does not hold (or removed), from the requester where four eyes are
needed, or from a role the rule does not name, is refused; carrying out needs the rule's count
of distinct valid signatures, and none at all is "operator-only". Each step is a ledger event
(``action.requested``, ``action.signed``, the action's own outcome events), and each refusal is
an ``action.refused`` event with a reason code (never a message that could echo input), so the
ledger shows attempts as well as acts — except a request that is not this deployment's (another
origin, or none): it is refused before anything is written, as input that was never addressed
to this ledger. A request is carried out once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ombud.canonical import parse_json
from ombud.database import Database, Tx
from ombud.errors import (
    ApprovalError,
    ConflictError,
    ExpiredError,
    NotFoundError,
    OmbudError,
    ReservedActionError,
    VerificationError,
)
from ombud.events import Event
from ombud.governance.roster import (
    ActionRequest,
    Approval,
    Roster,
    refusal_code,
    verify_approval,
    verify_origin,
    verify_request,
    verify_signature,
)
from ombud.ledger.log import Log

__all__ = ["ActionBook", "Effect", "Proposal", "roster_in_tx"]

_REFUSED = (ApprovalError, ExpiredError, VerificationError)
"""What a step refuses for a reason the ledger records (malformed input is just refused)."""


def roster_in_tx(tx: Tx) -> Roster:
    """The roster in force, read inside ``tx`` (``NotFoundError`` before a genesis)."""
    rows = tx.execute("SELECT roster FROM roster_versions ORDER BY version DESC LIMIT 1")
    if not rows:
        raise NotFoundError("no roster yet: establish the genesis roster first")
    return Roster.from_bytes(bytes(rows[0][0]))


def _nothing(tx: Tx, index: int) -> None:
    return None


@dataclass(frozen=True)
class Effect:
    """What carrying out an action does, inside the transaction that records it: the outcome
    events (from the roster in force, the request and its approvals), and the rows that point
    at the first of them. ``build`` raises to refuse parameters that no longer fit."""

    build: Callable[[Tx, Roster, ActionRequest, tuple[Approval, ...]], list[Event]]
    record: Callable[[Tx, int], None] = _nothing


@dataclass(frozen=True)
class Proposal:
    """A privileged request as the deployment holds it."""

    request: ActionRequest
    approvals: tuple[Approval, ...]
    status: str
    requested_index: int
    outcome_index: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "digest": self.request.digest,
            "request": self.request.to_json(),
            "approvals": [a.to_json() for a in self.approvals],
            "status": self.status,
            "requestedIndex": self.requested_index,
            "outcomeIndex": self.outcome_index,
        }


class ActionBook:
    def __init__(self, db: Database, log: Log, *, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.log = log
        self.clock = clock

    # -- reading -------------------------------------------------------------------------

    def get(self, digest: str) -> Proposal:
        rows = self.db.read(
            "SELECT request, status, requested_index, outcome_index FROM roster_requests"
            " WHERE digest = ?",
            (digest,),
        )
        if not rows:
            raise NotFoundError(f"no privileged request {digest[:64]!r}")
        data, status, requested, outcome = rows[0]
        request = ActionRequest.from_json(parse_json(bytes(data), "a stored request"))
        signed = self.db.read(
            "SELECT holder, signature FROM roster_signatures WHERE digest = ?"
            " ORDER BY ledger_index",
            (digest,),
        )
        approvals = tuple(Approval(h, bytes(s)) for h, s in signed)
        return Proposal(request, approvals, status, int(requested), outcome)

    def all(self, status: str | None = None, *, limit: int = 500) -> list[Proposal]:
        """The latest ``limit`` requests (of ``status``), newest first."""
        sql = "SELECT digest FROM roster_requests"
        args: tuple[object, ...] = ()
        if status is not None:
            sql, args = sql + " WHERE status = ?", (status,)
        rows = self.db.read(sql + " ORDER BY requested_index DESC LIMIT ?", (*args, limit))
        return [self.get(r[0]) for r in rows]

    def refusals(self) -> list[dict[str, Any]]:
        """Refused attempts per action and reason, for the ombudsman (the events hold each)."""
        rows = self.db.read(
            "SELECT action, reason, count(*), max(ledger_index) FROM roster_refusals"
            " GROUP BY action, reason ORDER BY action, reason"
        )
        return [
            {"action": a, "reason": r, "count": int(n), "lastIndex": int(i)} for a, r, n, i in rows
        ]

    # -- the steps -----------------------------------------------------------------------

    def propose(self, request: ActionRequest, *, actor: str) -> int:
        """Record a request (``action.requested``) bound to the roster in force, unexpired,
        never carried out, of an action the policy names; returns its ledger index (the
        same index for a request already pending)."""
        self._addressed(request)
        digest = request.digest
        known: list[int] = []

        def build(tx: Tx) -> list[bytes]:
            rows = tx.execute(
                "SELECT status, requested_index FROM roster_requests WHERE digest = ?", (digest,)
            )
            if rows and rows[0][0] == "pending":
                known.append(int(rows[0][1]))
                return []
            verify_request(
                roster_in_tx(tx),
                request,
                now=self.clock(),
                origin=self.log.origin,
                used=self._used(tx, digest),
            )
            body = {"v": 1, "digest": digest, "request": request.to_json()}
            return [Event("action.requested", self.clock(), actor, body).to_bytes()]

        def record(tx: Tx, index: int) -> None:
            tx.execute(
                "INSERT INTO roster_requests (digest, action, request, status, requested_index)"
                " VALUES (?, ?, ?, 'pending', ?)",
                (digest, request.action, request.to_bytes(), index),
            )

        index = self._recorded(digest, request.action, None, actor, build, record)
        return known[0] if known else index

    def sign(self, digest: str, approval: Approval, *, actor: str) -> int:
        """Add one holder's signature to a pending request (``action.signed``), verified at
        once against the roster in force; returns its ledger index."""
        request = self._pending(digest).request
        self._addressed(request)
        known: list[int] = []

        def build(tx: Tx) -> list[bytes]:
            self._pending_in(tx, digest)
            roster = roster_in_tx(tx)
            verify_request(
                roster,
                request,
                now=self.clock(),
                origin=self.log.origin,
                used=self._used(tx, digest),
            )
            verify_signature(roster, request, approval)
            rows = tx.execute(
                "SELECT ledger_index FROM roster_signatures WHERE digest = ? AND holder = ?",
                (digest, approval.holder),
            )
            if rows:  # Ed25519 is deterministic: the same holder's signature again
                known.append(int(rows[0][0]))
                return []
            body = {
                "v": 1,
                "digest": digest,
                "holder": approval.holder,
                "signature": approval.to_json()["signature"],
            }
            return [Event("action.signed", self.clock(), actor, body).to_bytes()]

        def record(tx: Tx, index: int) -> None:
            tx.execute(
                "INSERT INTO roster_signatures (digest, holder, signature, ledger_index)"
                " VALUES (?, ?, ?, ?)",
                (digest, approval.holder, approval.signature, index),
            )

        index = self._recorded(digest, request.action, approval.holder, actor, build, record)
        return known[0] if known else index

    def carry_out(self, digest: str, effect: Effect, *, actor: str) -> int:
        """Carry out a pending request once its signatures meet the roster's rule: the
        effect's outcome events, and the request marked carried out; returns the index of
        the first outcome event. Refused, it records why and raises."""
        request = self._pending(digest).request
        self._addressed(request)

        def build(tx: Tx) -> list[bytes]:
            self._pending_in(tx, digest)
            roster = roster_in_tx(tx)
            signed = tx.execute(
                "SELECT holder, signature FROM roster_signatures WHERE digest = ?"
                " ORDER BY ledger_index",
                (digest,),
            )
            approvals = tuple(Approval(h, bytes(s)) for h, s in signed)
            verify_approval(
                roster,
                request,
                approvals,
                now=self.clock(),
                origin=self.log.origin,
                used=self._used(tx, digest),
            )
            return [e.to_bytes() for e in effect.build(tx, roster, request, approvals)]

        def record(tx: Tx, index: int) -> None:
            tx.execute(
                "UPDATE roster_requests SET status = 'carried-out', outcome_index = ?"
                " WHERE digest = ?",
                (index, digest),
            )
            tx.execute(
                "INSERT INTO roster_actions (digest, action, ledger_index) VALUES (?, ?, ?)",
                (digest, request.action, index),
            )
            effect.record(tx, index)

        return self._recorded(digest, request.action, None, actor, build, record)

    def submit(
        self,
        request: ActionRequest,
        approvals: Sequence[Approval],
        effect: Effect,
        *,
        actor: str,
    ) -> int:
        """Propose, sign and carry out in one go (a request file signed offline): each step
        its own event, each refusal recorded; returns the outcome's ledger index."""
        self.propose(request, actor=actor)
        for approval in approvals:
            self.sign(request.digest, approval, actor=actor)
        return self.carry_out(request.digest, effect, actor=actor)

    def refuse_unsigned(self, action: str, *, actor: str) -> None:
        """Record and raise that ``action``, which the roster reserves, was attempted with
        the operator's authority alone (``ReservedActionError``)."""
        exc = ReservedActionError(
            f"{action} is reserved to the roster: propose it (`ombud roster propose`) and "
            "have the holders sign it; the operator alone cannot carry it out"
        )
        self._refuse(None, action, None, exc, actor)
        raise exc

    # -- helpers ---------------------------------------------------------------------------

    def _addressed(self, request: ActionRequest) -> None:
        """Refuse, before anything is written, a request that is not this deployment's: one
        signed for another (``ForeignRequestError``), or of version 1, which names none
        (``UnboundRequestError``). Each step checks it again inside its transaction."""
        verify_origin(request, self.log.origin)

    @staticmethod
    def _used(tx: Tx, digest: str) -> list[str]:
        rows = tx.execute("SELECT digest FROM roster_actions WHERE digest = ?", (digest,))
        return [r[0] for r in rows]

    def _pending(self, digest: str) -> Proposal:
        proposal = self.get(digest)
        if proposal.status != "pending":
            raise ConflictError(f"privileged request {digest[:16]}… was already {proposal.status}")
        return proposal

    @staticmethod
    def _pending_in(tx: Tx, digest: str) -> None:
        rows = tx.execute("SELECT status FROM roster_requests WHERE digest = ?", (digest,))
        if not rows:
            raise NotFoundError(f"no privileged request {digest[:64]!r}")
        if rows[0][0] != "pending":
            raise ConflictError(f"privileged request {digest[:16]}… was already {rows[0][0]}")

    def _recorded(
        self,
        digest: str,
        action: str,
        holder: str | None,
        actor: str,
        build: Callable[[Tx], list[bytes]],
        record: Callable[[Tx, int], None],
    ) -> int:
        try:
            return self.log.append_with(build, record)
        except _REFUSED as exc:
            self._refuse(digest, action, holder, exc, actor)
            raise

    def _refuse(
        self, digest: str | None, action: str, holder: str | None, exc: OmbudError, actor: str
    ) -> None:
        body: dict[str, Any] = {
            "v": 1,
            "digest": digest,
            "action": action,
            "reason": refusal_code(exc),
        }
        if holder is not None:
            body["holder"] = holder
        event = Event("action.refused", self.clock(), actor, body).to_bytes()

        def record(tx: Tx, index: int) -> None:
            tx.execute(
                "INSERT INTO roster_refusals (ledger_index, digest, action, holder, reason)"
                " VALUES (?, ?, ?, ?, ?)",
                (index, digest, action, holder, body["reason"]),
            )

        self.log.append_with(lambda tx: [event], record)
