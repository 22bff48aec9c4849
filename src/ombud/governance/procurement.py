"""Tenders through the ledger: published by the roster's signatures, bids committed before the
deadline, the tender closed by the first witnessed checkpoint past it, bids revealed, the
evaluation recorded as the award — and every refusal recorded.

Threat model: see ``ombud.governance.tenders``. The server's clock may refuse a commitment
(past the deadline by its own account) but never admits one: a tender closes at the size of
a published checkpoint whose witnesses' cosignature timestamps are past the deadline, and a
commitment recorded at or after that size is late in every evaluation, whoever's clock said
otherwise. Each step is verified inside the transaction that records it; a refused commitment
or reveal — signed by its bidder, so attributable — is a ``bid.refused`` event naming the
reason (an unsigned one is refused without a trace); the award is ``evaluate`` of what the
ledger holds, so ``ombud tender verify`` recomputes it from an export.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ombud.canonical import canonical_json, parse_json
from ombud.clock import format_time, from_micros, to_micros
from ombud.database import Database, Tx
from ombud.errors import (
    AlreadyExistsError,
    ConflictError,
    ExpiredError,
    MalformedError,
    NotFoundError,
    OmbudError,
    VerificationError,
)
from ombud.events import Event
from ombud.governance.actions import Effect
from ombud.governance.ocds import award_release, tender_release
from ombud.governance.roster import ActionRequest, Approval, Roster
from ombud.governance.tenders import (
    Commitment,
    Evaluation,
    Reveal,
    Tender,
    evaluate,
    verify_deadline,
)
from ombud.ledger import note
from ombud.ledger.log import Log

__all__ = ["PUBLISH", "Bid", "TenderBook", "TenderRecord"]

PUBLISH = "tender.publish"
"""The roster's action class for publishing a tender."""


@dataclass(frozen=True)
class TenderRecord:
    tender: Tender
    published_index: int
    published_at: datetime
    closed_index: int | None
    cut: int | None
    awarded_index: int | None
    evaluation: Evaluation | None

    @property
    def stage(self) -> str:
        if self.awarded_index is not None:
            return "awarded"
        return "open" if self.closed_index is None else "closed"


@dataclass(frozen=True)
class Bid:
    commitment: Commitment
    committed_index: int
    committed_at: datetime
    reveal: Reveal | None
    revealed_index: int | None


class TenderBook:
    def __init__(
        self,
        db: Database,
        log: Log,
        *,
        witnesses: Callable[[], tuple[list[note.Verifier], int]],
        clock: Callable[[], datetime],
    ) -> None:
        """``witnesses()`` gives the witness policy's keys and quorum, which judge deadlines."""
        self.db = db
        self.log = log
        self.witnesses = witnesses
        self.clock = clock

    # -- reading -------------------------------------------------------------------------

    _COLUMNS = "tender, published_index, published_at, closed_index, cut, awarded_index, evaluation"

    @staticmethod
    def _record(row: Any) -> TenderRecord:
        data, published, at, closed, cut, awarded, evaluation = row
        tender = Tender.from_json(parse_json(bytes(data), "a stored tender"))
        found = None
        if evaluation is not None:
            found = Evaluation.from_json(parse_json(bytes(evaluation), "a stored evaluation"))
        return TenderRecord(tender, published, from_micros(at), closed, cut, awarded, found)

    def get(self, ocid: str) -> TenderRecord:
        rows = self.db.read(f"SELECT {self._COLUMNS} FROM tenders WHERE ocid = ?", (ocid,))  # noqa: S608
        if not rows:
            raise NotFoundError(f"no tender {ocid[:80]!r}")
        return self._record(rows[0])

    def all(self) -> list[TenderRecord]:
        rows = self.db.read(f"SELECT {self._COLUMNS} FROM tenders ORDER BY published_index")  # noqa: S608
        return [self._record(r) for r in rows]

    def bids(self, ocid: str) -> list[Bid]:
        rows = self.db.read(
            "SELECT commitment, committed_index, committed_at, reveal, revealed_index"
            " FROM tender_bids WHERE ocid = ? ORDER BY committed_index",
            (ocid,),
        )
        return [
            Bid(
                Commitment.from_json(parse_json(bytes(c), "a stored commitment")),
                i,
                from_micros(at),
                None if r is None else Reveal.from_json(parse_json(bytes(r), "a stored reveal")),
                ri,
            )
            for c, i, at, r, ri in rows
        ]

    def releases(self, ocid: str) -> list[dict[str, Any]]:
        """The tender's OCDS releases, from what the ledger recorded."""
        record = self.get(ocid)
        out = [tender_release(record.tender, record.published_at, record.published_index)]
        if record.evaluation is not None and record.awarded_index is not None:
            bids = [(b.committed_index, b.committed_at, b.commitment) for b in self.bids(ocid)]
            at = self._time_of(record.awarded_index)
            out.append(
                award_release(record.tender, bids, record.evaluation, at, record.awarded_index)
            )
        return out

    def _time_of(self, index: int) -> datetime:
        return Event.from_bytes(self.log.entries(index, index + 1)[0]).at

    # -- publishing, through the roster ----------------------------------------------------

    @staticmethod
    def check_publication(request: ActionRequest) -> Tender:
        if request.action != PUBLISH or set(request.params) != {"tender"}:
            raise MalformedError(f"{PUBLISH} takes exactly a tender")
        return Tender.from_json(request.params["tender"])

    def publication(self, *, actor: str) -> Effect:
        """Carrying out ``tender.publish``: a ``tender.published`` event with the tender."""
        made: list[tuple[Tender, datetime]] = []

        def build(
            tx: Tx, roster: Roster, request: ActionRequest, approvals: tuple[Approval, ...]
        ) -> list[Event]:
            tender = self.check_publication(request)
            now = self.clock()
            if tx.execute("SELECT 1 FROM tenders WHERE ocid = ?", (tender.ocid,)):
                raise AlreadyExistsError(f"tender {tender.ocid} is published already")
            if tender.deadline <= now:
                raise MalformedError("the tender's deadline has passed")
            if self.witnesses()[1] < 1:
                raise ConflictError(
                    "tenders need witnesses: their deadline is judged by the witnesses' time, "
                    "and this log's witness policy has none"
                )
            made.append((tender, now))
            body = {
                "v": 1,
                "ocid": tender.ocid,
                "request": request.digest,
                "tender": tender.to_json(),
            }
            return [Event("tender.published", now, actor, body)]

        def record(tx: Tx, index: int) -> None:
            tender, now = made[-1]
            tx.execute(
                "INSERT INTO tenders (ocid, tender, published_index, published_at)"
                " VALUES (?, ?, ?, ?)",
                (tender.ocid, _bytes(tender.to_json()), index, to_micros(now)),
            )

        return Effect(build, record)

    # -- bids ------------------------------------------------------------------------------

    def commit(self, commitment: Commitment, *, actor: str) -> int:
        """Record a sealed bid signed by its bidder, before the tender closed; refused (and
        recorded) when the tender closed, the server's clock is past the deadline, or the
        bidder committed already."""
        commitment.verify()
        record = self.get(commitment.ocid)
        self.close(commitment.ocid, actor=actor)  # a witnessed checkpoint past it closes it

        def build(tx: Tx) -> list[bytes]:
            closed = tx.execute(
                "SELECT closed_index FROM tenders WHERE ocid = ?", (commitment.ocid,)
            )[0][0]
            now = self.clock()
            if closed is not None or now >= record.tender.deadline:
                raise ExpiredError(
                    f"the deadline for tender {commitment.ocid} was "
                    f"{format_time(record.tender.deadline)}"
                )
            if tx.execute(
                "SELECT 1 FROM tender_bids WHERE ocid = ? AND bidder = ?",
                (commitment.ocid, commitment.bidder),
            ):
                raise AlreadyExistsError(f"{commitment.bidder} has bid on this tender already")
            body = {"v": 1, "ocid": commitment.ocid, "commitment": commitment.to_json()}
            return [Event("bid.committed", now, actor, body).to_bytes()]

        def insert(tx: Tx, index: int) -> None:
            tx.execute(
                "INSERT INTO tender_bids (ocid, bidder, commitment, committed_index,"
                " committed_at) VALUES (?, ?, ?, ?, ?)",
                (
                    commitment.ocid,
                    commitment.bidder,
                    _bytes(commitment.to_json()),
                    index,
                    to_micros(self.clock()),
                ),
            )

        return self._recorded(commitment.ocid, commitment.bidder, build, insert, actor)

    def close(self, ocid: str, *, actor: str) -> int | None:
        """Close the tender once the published checkpoint's witnesses cosigned it past the
        deadline (``tender.closed``, carrying that checkpoint); None while none has."""
        record = self.get(ocid)
        if record.closed_index is not None:
            return record.closed_index
        published = self.log.published_checkpoint()
        if published is None:
            return None
        keys, quorum = self.witnesses()
        if quorum < 1:
            return None  # no witness judges the deadline (publishing refuses such tenders)
        try:
            opened = verify_deadline(
                published.note, self.log.verifier(), keys, quorum, record.tender.deadline
            )
        except VerificationError:
            return None  # not yet: no quorum of witnesses has cosigned past the deadline
        cut = opened.checkpoint.size

        def build(tx: Tx) -> list[bytes]:
            if tx.execute("SELECT closed_index FROM tenders WHERE ocid = ?", (ocid,))[0][0]:
                return []  # another process closed it
            body = {
                "v": 1,
                "ocid": ocid,
                "cut": cut,
                "checkpoint": published.note.decode("utf-8"),
                "witnesses": [w.vkey for w in keys],
                "quorum": quorum,
            }
            return [Event("tender.closed", self.clock(), actor, body).to_bytes()]

        def update(tx: Tx, index: int) -> None:
            tx.execute(
                "UPDATE tenders SET closed_index = ?, cut = ? WHERE ocid = ?", (index, cut, ocid)
            )

        self.log.append_with(build, update)
        return self.get(ocid).closed_index

    def reveal(self, reveal: Reveal, *, actor: str) -> int:
        """Record a bid's document and salt, signed by the committed bidder, after the tender
        closed, once per bidder; whether it opens the commitment is the evaluation's to say
        (and the event's). A reveal nobody can attribute — no such bid, or not the bidder's
        signature — is refused without a trace."""
        self.get(reveal.ocid)
        stored = [b for b in self.bids(reveal.ocid) if b.commitment.bidder == reveal.bidder]
        if not stored:
            raise NotFoundError(f"{reveal.bidder} committed no bid to {reveal.ocid}")
        commitment = stored[0].commitment
        reveal.verify(commitment)
        self.close(reveal.ocid, actor=actor)

        def build(tx: Tx) -> list[bytes]:
            closed, awarded = tx.execute(
                "SELECT closed_index, awarded_index FROM tenders WHERE ocid = ?", (reveal.ocid,)
            )[0]
            if closed is None:
                raise ConflictError("bids are revealed after the tender closed, not before")
            if awarded is not None:
                raise ExpiredError(f"tender {reveal.ocid} was awarded: reveals are closed")
            rows = tx.execute(
                "SELECT revealed_index FROM tender_bids WHERE ocid = ? AND bidder = ?",
                (reveal.ocid, reveal.bidder),
            )
            if rows[0][0] is not None:
                raise AlreadyExistsError(f"{reveal.bidder} revealed its bid already")
            body = {
                "v": 1,
                "ocid": reveal.ocid,
                "reveal": reveal.to_json(),
                "opens": reveal.opens(commitment),
            }
            return [Event("bid.revealed", self.clock(), actor, body).to_bytes()]

        def update(tx: Tx, index: int) -> None:
            tx.execute(
                "UPDATE tender_bids SET reveal = ?, revealed_index = ?"
                " WHERE ocid = ? AND bidder = ?",
                (_bytes(reveal.to_json()), index, reveal.ocid, reveal.bidder),
            )

        return self._recorded(reveal.ocid, reveal.bidder, build, update, actor)

    def award(self, ocid: str, *, actor: str) -> int:
        """Evaluate by the published rule and record it (``award.made``): once the reveals
        closed, or every bid committed in time was revealed."""
        record = self.get(ocid)
        if record.awarded_index is not None:
            raise ConflictError(f"tender {ocid} was awarded already")
        if record.cut is None:
            raise ConflictError(f"tender {ocid} has not closed: no witnessed checkpoint past it")
        bids = self.bids(ocid)
        waiting = [b for b in bids if b.committed_index < record.cut and b.reveal is None]
        if waiting and self.clock() < record.tender.reveal_by:
            raise ConflictError(
                f"{len(waiting)} bid(s) may still be revealed until "
                f"{format_time(record.tender.reveal_by)}"
            )
        evaluation = evaluate(
            record.tender,
            [(b.committed_index, b.commitment) for b in bids],
            record.cut,
            {b.commitment.bidder: b.reveal for b in bids if b.reveal is not None},
        )

        def build(tx: Tx) -> list[bytes]:
            if tx.execute("SELECT awarded_index FROM tenders WHERE ocid = ?", (ocid,))[0][0]:
                raise ConflictError(f"tender {ocid} was awarded already")
            body = {"v": 1, "ocid": ocid, "evaluation": evaluation.to_json()}
            return [Event("award.made", self.clock(), actor, body).to_bytes()]

        def update(tx: Tx, index: int) -> None:
            tx.execute(
                "UPDATE tenders SET awarded_index = ?, evaluation = ? WHERE ocid = ?",
                (index, _bytes(evaluation.to_json()), ocid),
            )

        return self.log.append_with(build, update)

    def tend(self, *, actor: str) -> int:
        """Close what is due and award what may be: the ``ombud serve`` round; returns how
        many tenders moved on."""
        moved = 0
        for record in self.all():
            if record.stage == "open" and self.clock() >= record.tender.deadline:
                moved += self.close(record.tender.ocid, actor=actor) is not None
            elif record.stage == "closed":
                try:
                    self.award(record.tender.ocid, actor=actor)
                    moved += 1
                except ConflictError:
                    pass  # reveals still open
        return moved

    # -- helpers ---------------------------------------------------------------------------

    def _recorded(
        self,
        ocid: str,
        bidder: str,
        build: Callable[[Tx], list[bytes]],
        record: Callable[[Tx, int], None],
        actor: str,
    ) -> int:
        try:
            return self.log.append_with(build, record)
        except (ExpiredError, AlreadyExistsError, ConflictError) as exc:
            reason = _refusal(exc)
            body = {"v": 1, "ocid": ocid, "bidder": bidder, "reason": reason}
            event = Event("bid.refused", self.clock(), actor, body).to_bytes()
            self.log.append_with(lambda tx: [event], lambda tx, index: None)
            raise


def _refusal(exc: OmbudError) -> str:
    if isinstance(exc, ExpiredError):
        return "late"
    if isinstance(exc, AlreadyExistsError):
        return "twice"
    return "too-early"


def _bytes(value: dict[str, Any]) -> bytes:
    return canonical_json(value, "a tender's record")
