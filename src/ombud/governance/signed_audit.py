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
from dataclasses import dataclass, field
from datetime import datetime

from ombud.canonical import canonical_json
from ombud.clock import parse_time
from ombud.errors import MalformedError, OmbudError, VerificationError
from ombud.events import Event
from ombud.governance.chain import RostersInForce, roster_in_force
from ombud.governance.decisions import MAJORITIES, Vote, tally_of, verify_tabled_vote
from ombud.governance.results import ResultUpdate, verify_update
from ombud.governance.roster import Roster, check_id

__all__ = ["UpdateAudit", "VoteAudit", "audit_updates", "audit_votes"]

_KINDS = frozenset({"motion.tabled", "vote.cast", "decision.recorded", "result.updated"})


@dataclass(frozen=True)
class VoteAudit:
    """What ``audit_votes`` verified: the motions the log tabled and the votes cast on them."""

    motions: int
    votes: int
    unbound: int
    """Version-1 votes among them, recorded before the log's first version-2 vote."""
    decisions: int = 0
    """Decisions whose recorded tally was recomputed from the votes before them."""


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


@dataclass
class _Motion:
    """What the log holds of a tabled motion, and what the audit has seen of it so far."""

    digest: str
    body: str
    quorum: int
    majority: str
    closes: datetime
    votes: list[Vote] = field(default_factory=list)
    decided: bool = False


def _tabled(event: Event) -> tuple[str, _Motion]:
    """A tabled motion's id and what counts its votes, the digest checked against what the
    event carries of the motion."""
    public = event.body.get("motion")
    if not isinstance(public, dict):
        raise MalformedError("motion.tabled carries its motion")
    digest = hashlib.sha256(canonical_json(public, "a motion")).hexdigest()
    if event.body.get("digest") != digest:
        raise MalformedError("motion.tabled names another digest than its motion's")
    quorum, majority, closes = public.get("quorum"), public.get("majority"), public.get("closes")
    if type(quorum) is not int or quorum < 1 or majority not in MAJORITIES:
        raise MalformedError("motion.tabled names no quorum or majority ombud counts by")
    if not isinstance(closes, str):
        raise MalformedError("motion.tabled names no time its voting closes")
    motion_id = check_id(public.get("id"), "a motion id")
    body = check_id(public.get("body"), "a body")
    return motion_id, _Motion(digest, body, quorum, majority, parse_time(closes))


def _decided(event: Event, motions: dict[str, _Motion]) -> None:
    """Check a ``decision.recorded``: after its motion's close, once, with the tally of the
    votes the log recorded before it."""
    motion_id = event.body.get("motion")
    if not isinstance(motion_id, str) or motion_id not in motions:
        raise MalformedError(f"a decision on {str(motion_id)[:64]!r}, which the log did not table")
    motion = motions[motion_id]
    if event.body.get("digest") != motion.digest:
        raise MalformedError(f"the decision on {motion_id} names another version of it")
    if motion.decided:
        raise MalformedError(f"motion {motion_id} is decided a second time")
    if event.at < motion.closes:
        raise MalformedError(f"motion {motion_id} is decided before its voting closed")
    counted = tally_of(motion_id, motion.quorum, motion.majority, motion.votes).to_json()
    if event.body.get("tally") != counted:
        raise MalformedError(
            f"the decision on {motion_id} records a tally its votes do not give: they give "
            f"{counted['yes']} yes, {counted['no']} no, {counted['abstain']} abstain, "
            f"{counted['outcome']}"
        )
    motion.decided = True


def audit_votes(entries: Iterable[tuple[int, bytes]], genesis: Roster, *, origin: str) -> VoteAudit:
    """Every vote the log whose origin is ``origin`` recorded, verified (see the module's
    threat model); raises ``VerificationError`` naming the first entry that does not hold."""
    rosters, events = _read(entries, genesis, origin)
    motions: dict[str, _Motion] = {}
    votes = unbound = decisions = 0
    bound = False  # a vote has named its deployment: from then on, every one must
    for index, event in events:
        if event.kind == "result.updated":
            continue
        try:
            if event.kind == "motion.tabled":
                motion_id, tabled = _tabled(event)
                if motion_id in motions:
                    raise MalformedError(f"motion {motion_id} is tabled a second time")
                motions[motion_id] = tabled
                continue
            if event.kind == "decision.recorded":
                _decided(event, motions)
                decisions += 1
                continue
            vote = Vote.from_json(event.body.get("vote"))
            if vote.motion not in motions:
                raise MalformedError(f"a vote on {vote.motion}, which the log did not table")
            motion = motions[vote.motion]
            verify_tabled_vote(
                rosters.at(index), vote.motion, motion.digest, motion.body, vote,
                origin=origin, recorded=not bound,
            )  # fmt: skip
            if motion.decided or event.at >= motion.closes:
                raise MalformedError(f"a vote on {vote.motion} cast after its voting closed")
            if any(v.holder == vote.holder for v in motion.votes):
                raise MalformedError(f"{vote.holder} votes on {vote.motion} a second time")
        except OmbudError as exc:
            raise VerificationError(f"entry {index} ({event.kind}): {exc}") from exc
        motion.votes.append(vote)
        votes += 1
        unbound += vote.origin is None
        bound = bound or vote.origin is not None
    return VoteAudit(len(motions), votes, unbound, decisions)


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
