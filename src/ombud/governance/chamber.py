"""Decisions through the ledger: a motion tabled by the roster's signatures, members' signed
votes recorded as they come, and the decision recorded with its tally once voting closed.

Threat model: see ``ombud.governance.decisions``. Votes reach the ledger through the clerk
(scope ``decisions:vote``), who holds no member's key: a vote is verified against the roster in
force inside the transaction that records it; a vote after the close, a second vote, a
non-member's, another body's or a forged one is refused and recorded (``vote.refused`` with a
reason code) — except a vote that is not this deployment's (signed for another log origin, or
of version 1, which names none): it is refused before anything is written, as input that was
never addressed to this ledger. The decision is ``tally`` of the recorded votes, so anyone
recomputes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ombud.canonical import canonical_json, is_plain_text, parse_json
from ombud.clock import to_micros
from ombud.database import Database, Tx
from ombud.errors import (
    AlreadyExistsError,
    ConflictError,
    ExpiredError,
    MalformedError,
    NotAHolderError,
    NotFoundError,
    OmbudError,
    RoleError,
    VerificationError,
)
from ombud.events import Event
from ombud.governance.actions import Effect, roster_in_tx
from ombud.governance.decisions import (
    Motion,
    Tally,
    Vote,
    tally,
    verify_vote,
    verify_vote_origin,
)
from ombud.governance.roster import ActionRequest, Approval, Roster, refusal_code
from ombud.ledger.log import Log

__all__ = ["TABLE", "DecisionBook", "MotionRecord"]

TABLE = "motion.table"
"""The roster's action class for tabling a motion."""


_REFUSED = (
    ExpiredError, AlreadyExistsError, NotAHolderError, RoleError, VerificationError, MalformedError
)  # fmt: skip
"""A vote refused for one of these is recorded: after the close, twice, a non-member's,
another body's, a forged one, or one for another motion."""


@dataclass(frozen=True)
class MotionRecord:
    motion: Motion
    tabled_index: int
    decided_index: int | None
    tally: Tally | None


def _refusal(exc: OmbudError) -> str:
    if isinstance(exc, ExpiredError):
        return "after-closing"
    if isinstance(exc, AlreadyExistsError):
        return "double-vote"
    if isinstance(exc, NotAHolderError):
        return "not-a-member"
    if isinstance(exc, MalformedError):
        return "another-motion"
    return refusal_code(exc)


class DecisionBook:
    def __init__(self, db: Database, log: Log, *, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.log = log
        self.clock = clock

    # -- reading -----------------------------------------------------------------------------

    @staticmethod
    def _record(row: Any) -> MotionRecord:
        data, tabled, decided, found = row
        motion = Motion.from_json(parse_json(bytes(data), "a stored motion"))
        result = None
        if found is not None:
            t = parse_json(bytes(found), "a stored tally")
            result = Tally(t["motion"], t["yes"], t["no"], t["abstain"], t["outcome"])
        return MotionRecord(motion, tabled, decided, result)

    def get(self, motion_id: str) -> MotionRecord:
        rows = self.db.read(
            "SELECT motion, tabled_index, decided_index, tally FROM motions WHERE id = ?",
            (motion_id,),
        )
        if not rows:
            raise NotFoundError(f"no motion {motion_id[:64]!r}")
        return self._record(rows[0])

    def all(self) -> list[MotionRecord]:
        rows = self.db.read(
            "SELECT motion, tabled_index, decided_index, tally FROM motions ORDER BY tabled_index"
        )
        return [self._record(r) for r in rows]

    def votes(self, motion_id: str) -> list[tuple[Vote, int]]:
        rows = self.db.read(
            "SELECT vote, ledger_index FROM votes WHERE motion = ? ORDER BY ledger_index",
            (motion_id,),
        )
        return [(Vote.from_json(parse_json(bytes(v), "a stored vote")), int(i)) for v, i in rows]

    # -- tabling, through the roster ---------------------------------------------------------

    @staticmethod
    def check_tabling(request: ActionRequest) -> Motion:
        if request.action != TABLE or set(request.params) != {"motion"}:
            raise MalformedError(f"{TABLE} takes exactly a motion")
        motion = Motion.from_json(request.params["motion"])
        # Its title and text reach pages and feeds (XML 1.0 refuses a C0 control whole).
        if not (is_plain_text(motion.title) and is_plain_text(motion.text)):
            raise MalformedError(
                "a motion's title and text hold no control character but tab and line ends"
            )
        return motion

    def tabling(self, *, actor: str) -> Effect:
        """Carrying out ``motion.table``: ``motion.tabled`` with the motion (its text by hash;
        the text is published here, and its hash lets anyone check it)."""
        made: list[Motion] = []

        def build(
            tx: Tx, roster: Roster, request: ActionRequest, approvals: tuple[Approval, ...]
        ) -> list[Event]:
            motion = self.check_tabling(request)
            if tx.execute("SELECT 1 FROM motions WHERE id = ?", (motion.id,)):
                raise AlreadyExistsError(f"motion {motion.id} was tabled already")
            if motion.closes <= self.clock():
                raise MalformedError("the motion's voting closes in the past")
            made.append(motion)
            body = {"v": 1, "motion": motion.public_json(), "digest": motion.digest,
                    "request": request.digest}  # fmt: skip
            return [Event("motion.tabled", self.clock(), actor, body)]

        def record(tx: Tx, index: int) -> None:
            motion = made[-1]
            tx.execute(
                "INSERT INTO motions (id, motion, closes, tabled_index) VALUES (?, ?, ?, ?)",
                (motion.id, canonical_json(motion.to_json()), to_micros(motion.closes), index),
            )

        return Effect(build, record)

    # -- votes and the decision --------------------------------------------------------------

    def cast(self, vote: Vote, *, actor: str) -> int:
        """Record a member's signed vote while voting is open; refused and recorded otherwise
        (refused with nothing written when it is not this deployment's: ``_addressed``)."""
        motion = self.get(vote.motion).motion
        self._addressed(vote)

        def build(tx: Tx) -> list[bytes]:
            now = self.clock()  # the time checked is the time recorded: before the close
            decided = tx.execute("SELECT decided_index FROM motions WHERE id = ?", (motion.id,))
            if decided[0][0] is not None or now >= motion.closes:
                raise ExpiredError(f"voting on {motion.id} has closed")
            verify_vote(roster_in_tx(tx), motion, vote, origin=self.log.origin)
            if tx.execute(
                "SELECT 1 FROM votes WHERE motion = ? AND holder = ?", (motion.id, vote.holder)
            ):
                raise AlreadyExistsError(f"{vote.holder} has voted on {motion.id} already")
            body = {"v": 1, "vote": vote.to_json()}
            return [Event("vote.cast", now, actor, body).to_bytes()]

        def record(tx: Tx, index: int) -> None:
            tx.execute(
                "INSERT INTO votes (motion, holder, vote, ledger_index) VALUES (?, ?, ?, ?)",
                (motion.id, vote.holder, canonical_json(vote.to_json()), index),
            )

        try:
            return self.log.append_with(build, record)
        except _REFUSED as exc:
            self._refuse(vote, exc, actor)
            raise

    def _addressed(self, vote: Vote) -> None:
        """Refuse, before anything is written, a vote that is not this deployment's: one
        signed for another (``ForeignVoteError``), or of version 1, which names none
        (``UnboundVoteError``). ``cast`` checks it again inside its transaction."""
        verify_vote_origin(vote, self.log.origin)

    def _refuse(self, vote: Vote, exc: OmbudError, actor: str) -> None:
        body = {"v": 1, "motion": vote.motion, "holder": vote.holder, "reason": _refusal(exc)}
        event = Event("vote.refused", self.clock(), actor, body).to_bytes()
        self.log.append_with(lambda tx: [event], lambda tx, index: None)

    def decide(self, motion_id: str, *, actor: str) -> int:
        """After voting closed: the tally of the recorded votes (``decision.recorded``),
        counted inside the transaction that records it, so no vote slips in between."""
        record = self.get(motion_id)
        if self.clock() < record.motion.closes:
            raise ConflictError(f"voting on {motion_id} is still open")
        counted: list[Tally] = []

        def build(tx: Tx) -> list[bytes]:
            if tx.execute("SELECT decided_index FROM motions WHERE id = ?", (motion_id,))[0][0]:
                raise ConflictError(f"motion {motion_id} was decided already")
            rows = tx.execute(
                "SELECT vote FROM votes WHERE motion = ? ORDER BY ledger_index", (motion_id,)
            )
            votes = [Vote.from_json(parse_json(bytes(v), "a stored vote")) for (v,) in rows]
            counted.append(tally(record.motion, votes))
            body = {"v": 1, "motion": motion_id, "digest": record.motion.digest,
                    "tally": counted[-1].to_json()}  # fmt: skip
            return [Event("decision.recorded", self.clock(), actor, body).to_bytes()]

        def update(tx: Tx, index: int) -> None:
            tx.execute(
                "UPDATE motions SET decided_index = ?, tally = ? WHERE id = ?",
                (index, canonical_json(counted[-1].to_json()), motion_id),
            )

        return self.log.append_with(build, update)

    def decide_due(self, *, actor: str) -> int:
        """Decide every motion whose voting closed (the ``ombud serve`` round)."""
        rows = self.db.read(
            "SELECT id FROM motions WHERE decided_index IS NULL AND closes <= ?",
            (to_micros(self.clock()),),
        )
        failures: list[OmbudError] = []
        for (motion_id,) in rows:
            try:
                self.decide(motion_id, actor=actor)
            except OmbudError as exc:  # one motion's failure holds up no other
                failures.append(exc)
        if failures:
            raise failures[0]
        return len(rows)
