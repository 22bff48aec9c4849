"""Tenders through the ledger: published by the roster's signatures, bids committed before the
deadline, the tender closed by the first witnessed checkpoint past it, bids revealed, the
evaluation recorded as the award — and every refusal recorded.

Threat model: see ``ombud.governance.tenders``. The server's clock may refuse a commitment
(past the deadline by its own account) but never admits one: a commitment is in time only
when a published checkpoint the witnesses' quorum cosigned before the deadline covers it
(``observe`` remembers the last such checkpoint per tender; ``ombud serve`` calls it after
each publication), and the tender closes at the first checkpoint they cosigned past the
deadline — any commitment above the cut is late in every evaluation, whoever's clock said
otherwise. Each step is verified inside the transaction that records it; a refused commitment
or reveal — signed by its bidder, so attributable — is a ``bid.refused`` event naming the
reason (an unsigned one is refused without a trace, and so is one that is not this
deployment's: signed for another log origin, or of version 1, which names none); the award
is ``evaluate`` of what the ledger holds, so ``ombud tender verify`` recomputes it from an
export.
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
    verify_bid_origin,
    verify_deadline,
    verify_in_time,
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

    def all(self, *, unfinished: bool = False) -> list[TenderRecord]:
        """Every tender, or with ``unfinished`` those not awarded yet (what the rounds tend)."""
        where = " WHERE awarded_index IS NULL" if unfinished else ""
        rows = self.db.read(
            f"SELECT {self._COLUMNS} FROM tenders{where} ORDER BY published_index"  # noqa: S608
        )
        return [self._record(r) for r in rows]

    _BIDS = (
        "SELECT commitment, committed_index, committed_at, reveal, revealed_index"
        " FROM tender_bids WHERE ocid = ?"
    )

    def bids(self, ocid: str) -> list[Bid]:
        return self._parse_bids(self.db.read(self._BIDS + " ORDER BY committed_index", (ocid,)))

    def bid(self, ocid: str, bidder: str) -> Bid:
        """One bidder's bid (``NotFoundError`` when it committed none)."""
        rows = self.db.read(self._BIDS + " AND bidder = ?", (ocid, bidder))
        if not rows:
            raise NotFoundError(f"{bidder[:64]} committed no bid to {ocid[:80]}")
        return self._parse_bids(rows)[0]

    def _bids_in(self, tx: Tx, ocid: str) -> list[Bid]:
        return self._parse_bids(tx.execute(self._BIDS + " ORDER BY committed_index", (ocid,)))

    @staticmethod
    def _parse_bids(rows: Any) -> list[Bid]:
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
        """Record a sealed bid signed by its bidder for this deployment, before the tender
        closed; refused (and recorded) when the tender closed, the server's clock is past the
        deadline, or the bidder committed already. One signed for another deployment
        (``ForeignBidError``) or of version 1, which names none (``UnboundBidError``), is
        refused before anything is written, as input never addressed to this ledger."""
        verify_bid_origin(commitment, self.log.origin)
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

        return self._recorded(commitment.ocid, commitment.bidder, build, insert, actor, "")

    def observe(self, ocid: str | None = None) -> None:
        """Remember, for each open tender (or ``ocid``), the published checkpoint if the
        witnesses' quorum cosigned it before the deadline: the bids it covers are in time.
        ``ombud serve`` calls it after every publication; a commitment and a close call it
        first."""
        published = self.log.published_checkpoint()
        keys, quorum = self.witnesses()
        if published is None or quorum < 1:
            return
        records = [self.get(ocid)] if ocid is not None else self.all(unfinished=True)
        for record in records:
            if record.closed_index is not None:
                continue
            try:
                verify_in_time(
                    published.note, self.log.verifier(), keys, quorum, record.tender.deadline
                )
            except VerificationError:
                continue  # cosigned after the deadline (or not by the quorum)
            with self.db.transaction() as tx:
                tx.execute(
                    "UPDATE tenders SET before_size = ?, before_note = ? WHERE ocid = ?"
                    " AND closed_index IS NULL AND (before_size IS NULL OR before_size < ?)",
                    (published.size, published.note, record.tender.ocid, published.size),
                )

    def close(self, ocid: str, *, actor: str) -> int | None:
        """Close the tender once the published checkpoint's witnesses cosigned it past the
        deadline (``tender.closed``, carrying that checkpoint and the last one they cosigned
        before the deadline, whose size is the cut); None while none has."""
        self.observe(ocid)
        record = self.get(ocid)
        if record.closed_index is not None:
            return record.closed_index
        published = self.log.published_checkpoint()
        keys, quorum = self.witnesses()
        if published is None or quorum < 1:
            return None  # no witness judges the deadline (publishing refuses such tenders)
        try:
            verify_deadline(
                published.note, self.log.verifier(), keys, quorum, record.tender.deadline
            )
        except VerificationError:
            # Not yet: no quorum of witnesses has cosigned past the deadline. On a quiet log
            # no new checkpoint would ever come; once the server's clock says the deadline has
            # passed, a marker entry makes the log grow, so the next one is published (the cut
            # is still the witnesses' to decide).
            if self.clock() >= record.tender.deadline and self.log.size <= published.size:
                body = {"v": 1, "ocid": ocid}
                marker = Event("deadline.reached", self.clock(), actor, body).to_bytes()
                self.log.append_with(lambda tx: [marker], lambda tx, index: None)
            return None

        def build(tx: Tx) -> list[bytes]:
            rows = tx.execute(
                "SELECT closed_index, before_size, before_note FROM tenders WHERE ocid = ?",
                (ocid,),
            )
            closed, before_size, before_note = rows[0]
            if closed is not None:
                return []  # another process closed it
            cut.append(int(before_size or 0))
            body = {
                "v": 1,
                "ocid": ocid,
                "cut": cut[-1],
                "inTime": None if before_note is None else bytes(before_note).decode("utf-8"),
                "checkpoint": published.note.decode("utf-8"),
                "witnesses": [w.vkey for w in keys],
                "quorum": quorum,
            }
            return [Event("tender.closed", self.clock(), actor, body).to_bytes()]

        def update(tx: Tx, index: int) -> None:
            tx.execute(
                "UPDATE tenders SET closed_index = ?, cut = ? WHERE ocid = ?",
                (index, cut[-1], ocid),
            )

        cut: list[int] = []
        self.log.append_with(build, update)
        return self.get(ocid).closed_index

    def reveal(self, reveal: Reveal, *, actor: str) -> int:
        """Record a bid's document and salt, signed by the committed bidder, after the tender
        closed, once per bidder; whether it opens the commitment is the evaluation's to say
        (and the event's). A reveal nobody can attribute — no such bid, or not the bidder's
        signature, or not this deployment's (``verify_bid_origin``) — is refused without a
        trace."""
        verify_bid_origin(reveal, self.log.origin)
        self.get(reveal.ocid)
        commitment = self.bid(reveal.ocid, reveal.bidder).commitment
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

        return self._recorded(reveal.ocid, reveal.bidder, build, update, actor, "reveal-")

    def award(self, ocid: str, *, actor: str) -> int:
        """Evaluate by the published rule and record it (``award.made``): once the reveals
        closed, or every bid committed in time was revealed. The evaluation is computed inside
        the transaction that records it, so no reveal slips in between."""
        evaluated: list[Evaluation] = []

        def build(tx: Tx) -> list[bytes]:
            rows = tx.execute(
                "SELECT tender, cut, awarded_index FROM tenders WHERE ocid = ?", (ocid,)
            )
            if not rows:
                raise NotFoundError(f"no tender {ocid[:80]!r}")
            data, cut, awarded = rows[0]
            if awarded is not None:
                raise ConflictError(f"tender {ocid} was awarded already")
            if cut is None:
                raise ConflictError(
                    f"tender {ocid} has not closed: no witnessed checkpoint past it"
                )
            tender = Tender.from_json(parse_json(bytes(data), "a stored tender"))
            bids = self._bids_in(tx, ocid)
            waiting = [b for b in bids if b.committed_index < cut and b.reveal is None]
            if waiting and self.clock() < tender.reveal_by:
                raise ConflictError(
                    f"{len(waiting)} bid(s) may still be revealed until "
                    f"{format_time(tender.reveal_by)}"
                )
            evaluation = evaluate(
                tender,
                [(b.committed_index, b.commitment) for b in bids],
                int(cut),
                {b.commitment.bidder: b.reveal for b in bids if b.reveal is not None},
            )
            evaluated.append(evaluation)
            body = {"v": 1, "ocid": ocid, "evaluation": evaluation.to_json()}
            return [Event("award.made", self.clock(), actor, body).to_bytes()]

        def update(tx: Tx, index: int) -> None:
            tx.execute(
                "UPDATE tenders SET awarded_index = ?, evaluation = ? WHERE ocid = ?",
                (index, _bytes(evaluated[-1].to_json()), ocid),
            )

        return self.log.append_with(build, update)

    def tend(self, *, actor: str) -> int:
        """Close what is due and award what may be: the ``ombud serve`` round; returns how
        many tenders moved on. One tender's failure does not hold up the others: each is
        tried, then the first failure is raised (and logged by the round)."""
        moved = 0
        failures: list[OmbudError] = []
        self.observe()
        for record in self.all(unfinished=True):
            try:
                if record.stage == "open":
                    moved += self.close(record.tender.ocid, actor=actor) is not None
                elif record.stage == "closed":
                    self.award(record.tender.ocid, actor=actor)
                    moved += 1
            except ConflictError:
                pass  # reveals still open
            except OmbudError as exc:
                failures.append(exc)
        if failures:
            raise failures[0]
        return moved

    # -- helpers ---------------------------------------------------------------------------

    def _recorded(
        self,
        ocid: str,
        bidder: str,
        build: Callable[[Tx], list[bytes]],
        record: Callable[[Tx, int], None],
        actor: str,
        step: str,
    ) -> int:
        try:
            return self.log.append_with(build, record)
        except (ExpiredError, AlreadyExistsError, ConflictError) as exc:
            self._refuse(ocid, bidder, _refusal(exc, step), actor)
            raise

    def _refuse(self, ocid: str, bidder: str, reason: str, actor: str) -> None:
        """Record a refusal once per bidder, tender and reason: a replayed commitment or
        reveal (both are public) cannot fill the ledger with refusals in a bidder's name."""
        body = {"v": 1, "ocid": ocid, "bidder": bidder, "reason": reason}
        event = Event("bid.refused", self.clock(), actor, body).to_bytes()

        def build(tx: Tx) -> list[bytes]:
            if tx.execute(
                "SELECT 1 FROM tender_refusals WHERE ocid = ? AND bidder = ? AND reason = ?",
                (ocid, bidder, reason),
            ):
                return []
            return [event]

        def record(tx: Tx, index: int) -> None:
            tx.execute(
                "INSERT INTO tender_refusals (ocid, bidder, reason, ledger_index)"
                " VALUES (?, ?, ?, ?)",
                (ocid, bidder, reason, index),
            )

        self.log.append_with(build, record)


def _refusal(exc: OmbudError, step: str) -> str:
    """A refusal's reason: a commitment's ``late`` or ``twice``; a reveal's ``too-early``,
    ``reveal-late`` or ``reveal-twice`` (``step`` is "reveal-"), so that a replayed reveal is
    not taken for a replayed commitment already recorded."""
    if isinstance(exc, ExpiredError):
        return f"{step}late"
    if isinstance(exc, AlreadyExistsError):
        return f"{step}twice"
    return "too-early"


def _bytes(value: dict[str, Any]) -> bytes:
    return canonical_json(value, "a tender's record")
