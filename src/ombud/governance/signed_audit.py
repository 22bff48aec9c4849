"""Members' votes and offices' result updates re-verified from a log's entries alone: what
``ombud decision verify`` and ``ombud result verify`` run on an export.

Threat model: the entries come from an untrusted export. Only what verifies counts: each vote
must be signed by a member of its motion's deciding body in the roster in force at its entry
(the chain from the verifier's own genesis, ``roster_in_force``), on a motion the log tabled
before it; each result update by the office that answers for the result, in sequence. Both
must be signed for this log (the origin the verifier trusts: the checkpoint's, authenticated
with the log's key): one for another deployment breaks the audit. A vote or update of version
1 names no deployment; it counts only before the log's first version-2 vote (or update): after
it, it may be a twin deployment's old signature replayed here, so it breaks the audit too.
Anything that does not hold is a ``VerificationError`` naming its entry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from ombud.canonical import canonical_json
from ombud.errors import MalformedError, OmbudError, VerificationError
from ombud.events import Event
from ombud.governance.chain import RostersInForce, roster_in_force
from ombud.governance.decisions import Vote, verify_tabled_vote
from ombud.governance.results import ResultUpdate, verify_update
from ombud.governance.roster import Roster, check_id

__all__ = ["UpdateAudit", "VoteAudit", "audit_updates", "audit_votes"]

_KINDS = frozenset({"motion.tabled", "vote.cast", "result.updated"})


@dataclass(frozen=True)
class VoteAudit:
    """What ``audit_votes`` verified: the motions the log tabled and the votes cast on them."""

    motions: int
    votes: int
    unbound: int
    """Version-1 votes among them, recorded before the log's first version-2 vote."""


@dataclass(frozen=True)
class UpdateAudit:
    """What ``audit_updates`` verified: the results the log created and all their updates."""

    results: int
    updates: int
    unbound: int
    """Version-1 updates among them, recorded before the log's first version-2 update."""


def _read(
    entries: Iterable[tuple[int, bytes]], genesis: Roster, origin: str
) -> tuple[RostersInForce, list[tuple[int, Event]]]:
    """The rosters in force (their chain verified) and the decision and result events, in
    log order; everything else is skipped."""
    changes: list[tuple[int, bytes]] = []
    events: list[tuple[int, Event]] = []
    for index, entry in entries:
        try:
            event = Event.from_bytes(entry)
        except MalformedError:
            continue
        if event.kind == "roster.changed":
            changes.append((index, entry))
        elif event.kind in _KINDS:
            events.append((index, event))
    return RostersInForce(roster_in_force(changes, genesis, origin=origin)), events


def _tabled(event: Event) -> tuple[str, str, str]:
    """A tabled motion's id, digest and deciding body, the digest checked against what the
    event carries of the motion."""
    public = event.body.get("motion")
    if not isinstance(public, dict):
        raise MalformedError("motion.tabled carries its motion")
    digest = hashlib.sha256(canonical_json(public, "a motion")).hexdigest()
    if event.body.get("digest") != digest:
        raise MalformedError("motion.tabled names another digest than its motion's")
    return check_id(public.get("id"), "a motion id"), digest, check_id(public.get("body"), "a body")


def audit_votes(entries: Iterable[tuple[int, bytes]], genesis: Roster, *, origin: str) -> VoteAudit:
    """Every vote the log whose origin is ``origin`` recorded, verified (see the module's
    threat model); raises ``VerificationError`` naming the first entry that does not hold."""
    rosters, events = _read(entries, genesis, origin)
    motions: dict[str, tuple[str, str]] = {}
    votes = unbound = 0
    bound = False  # a vote has named its deployment: from then on, every one must
    for index, event in events:
        if event.kind == "result.updated":
            continue
        try:
            if event.kind == "motion.tabled":
                motion_id, digest, body = _tabled(event)
                if motion_id in motions:
                    raise MalformedError(f"motion {motion_id} is tabled a second time")
                motions[motion_id] = (digest, body)
                continue
            vote = Vote.from_json(event.body.get("vote"))
            if vote.motion not in motions:
                raise MalformedError(f"a vote on {vote.motion}, which the log did not table")
            digest, body = motions[vote.motion]
            verify_tabled_vote(
                rosters.at(index), vote.motion, digest, body, vote,
                origin=origin, recorded=not bound,
            )  # fmt: skip
        except OmbudError as exc:
            raise VerificationError(f"entry {index} ({event.kind}): {exc}") from exc
        votes += 1
        unbound += vote.origin is None
        bound = bound or vote.origin is not None
    return VoteAudit(len(motions), votes, unbound)


def audit_updates(
    entries: Iterable[tuple[int, bytes]], genesis: Roster, *, origin: str
) -> UpdateAudit:
    """Every result update the log whose origin is ``origin`` recorded, verified (see the
    module's threat model), each in sequence; raises ``VerificationError`` naming the first
    entry that does not hold."""
    rosters, events = _read(entries, genesis, origin)
    results: dict[str, tuple[str, int]] = {}  # id -> (responsible office, next sequence)
    updates = unbound = 0
    bound = False  # an update has named its deployment: from then on, every one must
    for index, event in events:
        if event.kind != "result.updated":
            continue
        try:
            update = ResultUpdate.from_json(event.body.get("update"))
            if update.result is not None:
                if update.result_id in results:
                    raise MalformedError(f"result {update.result_id} is created a second time")
                responsible, expected = update.result.responsible, 0
            elif update.result_id in results:
                responsible, expected = results[update.result_id]
            else:
                raise MalformedError(f"an update of {update.result_id}, never created in the log")
            if update.sequence != expected:
                raise MalformedError(
                    f"update {update.sequence} of {update.result_id} is out of turn; the next "
                    f"is {expected}"
                )
            verify_update(rosters.at(index), responsible, update, origin=origin, recorded=not bound)
        except OmbudError as exc:
            raise VerificationError(f"entry {index} ({event.kind}): {exc}") from exc
        results[update.result_id] = (responsible, expected + 1)
        updates += 1
        unbound += update.origin is None
        bound = bound or update.origin is not None
    return UpdateAudit(len(results), updates, unbound)
