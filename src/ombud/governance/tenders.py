"""Tenders with sealed bids: the tender, bid commitments and reveals, the deadline judged by
witnessed ledger time, and the evaluation anyone can recompute (DESIGN §7).

Threat model: a bidder who learns the others' prices before bidding, a buyer who lets a
favourite bid late or changes the rule afterwards, and an operator who backdates the server's
clock. Before the deadline a bidder publishes only ``SHA-256(bid document ‖ salt)``, signed
with its key; after it, the reveal must open that commitment. A commitment is in time only
when a checkpoint cosigned by the witnesses' quorum *before* the deadline covers its entry
(``verify_in_time``: by their clocks it existed then, whatever the server's clock said); the
tender closes at the first checkpoint they cosigned past the deadline (``verify_deadline``),
and the cut is the size of the last one they cosigned before it. The award
rule (lowest price, or weighted criteria with published weights) is part of the published
tender, and ``evaluate`` is a pure function of the tender, the commitments, the cut and the
reveals, so anyone recomputes the award from an exported log. Since bid version 2 a
commitment and its reveal also name the deployment they are for (its log's origin), so
neither can be replayed from a deployment holding a tender of the same ocid (a staging copy):
the bidder's key and the commitment are the same on both, and only the origin tells them
apart. Version 1 names none: it is no longer taken, and one a log recorded still verifies
there only before the log's first version-2 bid (``verify_bid_origin``). Pure: values in,
values out.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ombud.base64url import b64url, unb64url
from ombud.canonical import is_json_number, parse_json
from ombud.clock import format_time, parse_time
from ombud.errors import (
    ForeignBidError,
    MalformedError,
    SignatureError,
    UnboundBidError,
    VerificationError,
)
from ombud.governance.roster import (
    BoundStatement,
    check_id,
    matches,
    statement_origin,
    verify_bound,
    verify_ed25519,
)
from ombud.ledger import note
from ombud.ledger.checkpoint import SignedCheckpoint, open_checkpoint

__all__ = [
    "OCID",
    "BidOutcome",
    "Commitment",
    "Criterion",
    "Evaluation",
    "Lot",
    "Reveal",
    "Tender",
    "TenderDocument",
    "commit_to",
    "evaluate",
    "sign_commitment",
    "sign_reveal",
    "verify_bid_origin",
    "verify_deadline",
    "verify_in_time",
]

OCID = re.compile(r"ocds-[a-z0-9]{6}-[A-Za-z0-9._-]{1,64}")
"""An Open Contracting ID: the publisher's registered prefix, then the process's own id."""
_DOMAIN = b"ombud-bid-commitment/v1\n"
_DOMAIN_V2 = b"ombud-bid-commitment/v2\n"
_REVEAL = b"ombud-bid-reveal/v1\n"
_REVEAL_V2 = b"ombud-bid-reveal/v2\n"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_MAX_LOTS = 50
_MAX_DOCS = 50
_MAX_CRITERIA = 10
MAX_BID_DOCUMENT = 16_384
"""Bytes a bid document may have (it is published whole with its reveal)."""


def _text(value: object, what: str, most: int = 500) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= most:
        raise MalformedError(f"{what} is 1-{most} characters")
    return value


def _amount(value: object, what: str, *, written: bool = True) -> float:
    """``value`` as a positive float; raises ``MalformedError``. An integer too large for a
    float (a bid document's ``1`` followed by 400 zeros) is refused here, not an
    ``OverflowError`` that once stopped every award of the tender. A figure ``written`` into
    a stored document (a budget, a weight, a bid's price in the evaluation) must also be one
    canonical JSON carries exactly; another of a bid's figures only scores, and is held to
    no more than it always was, so that recorded awards are audited as they were made."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedError(f"{what} is a number")
    try:
        number = float(value)
    except OverflowError:
        raise MalformedError(f"{what} is a number of float range") from None
    if not math.isfinite(number) or (written and not is_json_number(number)):
        raise MalformedError(f"{what} is a number JSON carries exactly")
    if number <= 0:
        raise MalformedError(f"{what} is positive")
    return number


def _exact(obj: Any, keys: set[str], what: str) -> None:
    if not isinstance(obj, dict) or set(obj) != keys:
        raise MalformedError(f"{what} is an object with exactly {sorted(keys)}")


@dataclass(frozen=True)
class Lot:
    id: str
    title: str

    def __post_init__(self) -> None:
        check_id(self.id, "a lot id")
        _text(self.title, "a lot's title", 200)


@dataclass(frozen=True)
class TenderDocument:
    """A tender document by its SHA-256: the text is published elsewhere, the hash binds it."""

    id: str
    title: str
    sha256: str

    def __post_init__(self) -> None:
        check_id(self.id, "a document id")
        _text(self.title, "a document's title", 200)
        if not matches(_HEX64, self.sha256):
            raise MalformedError("a document's sha256 is 64 lowercase hex digits")


@dataclass(frozen=True)
class Criterion:
    """One award criterion: ``price`` (the bid's value) or an attribute every bid states, its
    weight, and whether lower or higher is better. Score = 100 * best/value (lower) or
    100 * value/best (higher); the total is the weighted mean."""

    name: str
    weight: float
    better: str

    def __post_init__(self) -> None:
        if self.name != "price":
            check_id(self.name, "a criterion's name")
        _amount(self.weight, "a criterion's weight")
        if self.better not in ("lower", "higher"):
            raise MalformedError("a criterion is better 'lower' or 'higher'")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "weight": self.weight, "better": self.better}


@dataclass(frozen=True)
class Tender:
    """A call for tenders as published: what, for whom, the budget, the lots and documents
    (by hash), the award rule, the deadline for commitments and the one for reveals."""

    ocid: str
    title: str
    description: str
    buyer: str
    budget: float
    currency: str
    lots: tuple[Lot, ...]
    documents: tuple[TenderDocument, ...]
    criteria: tuple[Criterion, ...]
    deadline: datetime
    reveal_by: datetime

    def __post_init__(self) -> None:
        if not matches(OCID, self.ocid):
            raise MalformedError("an ocid is ocds-<6 letters or digits>-<id>")
        _text(self.title, "a tender's title", 200)
        _text(self.description, "a tender's description", 2000)
        _text(self.buyer, "the buyer", 200)
        _amount(self.budget, "the budget")
        if not matches(_CURRENCY, self.currency):
            raise MalformedError("a currency is an ISO 4217 code")
        if len(self.lots) > _MAX_LOTS or len(self.documents) > _MAX_DOCS:
            raise MalformedError(f"a tender has at most {_MAX_LOTS} lots and {_MAX_DOCS} documents")
        if not 0 < len(self.criteria) <= _MAX_CRITERIA:
            raise MalformedError(f"a tender has 1 to {_MAX_CRITERIA} award criteria")
        names = [c.name for c in self.criteria]
        if len(set(names)) != len(names) or "price" not in names:
            raise MalformedError("award criteria have distinct names, price among them")
        if not self.deadline < self.reveal_by:
            raise MalformedError("reveals close after the deadline for bids")
        format_time(self.deadline)

    @property
    def price_only(self) -> bool:
        return [c.name for c in self.criteria] == ["price"]

    def formula(self) -> str:
        """The award rule in words, as OCDS ``awardCriteriaDetails`` carries it."""
        if self.price_only:
            return "The lowest price among valid bids wins; ties go to the earlier commitment."
        terms = ", ".join(
            f"{c.name} ({c.better} is better, weight {c.weight:g})" for c in self.criteria
        )
        return (
            "Each valid bid scores, per criterion, 100 * best/value (lower is better) or "
            "100 * value/best (higher is better); its score is the weighted mean; the highest "
            f"score wins, ties to the earlier commitment. Criteria: {terms}."
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "v": 1,
            "ocid": self.ocid,
            "title": self.title,
            "description": self.description,
            "buyer": self.buyer,
            "budget": {"amount": self.budget, "currency": self.currency},
            "lots": [{"id": lot.id, "title": lot.title} for lot in self.lots],
            "documents": [
                {"id": d.id, "title": d.title, "sha256": d.sha256} for d in self.documents
            ],
            "criteria": [c.to_json() for c in self.criteria],
            "deadline": format_time(self.deadline),
            "revealBy": format_time(self.reveal_by),
        }

    @classmethod
    def from_json(cls, obj: Any) -> Tender:
        keys = {
            "v",
            "ocid",
            "title",
            "description",
            "buyer",
            "budget",
            "lots",
            "documents",
            "criteria",
            "deadline",
            "revealBy",
        }
        _exact(obj, keys, "a tender")
        if obj["v"] != 1:
            raise MalformedError("a tender is version 1")
        _exact(obj["budget"], {"amount", "currency"}, "a budget")
        for name in ("lots", "documents", "criteria"):
            if not isinstance(obj[name], list):
                raise MalformedError(f"a tender's {name} are a list")
        for lot in obj["lots"]:
            _exact(lot, {"id", "title"}, "a lot")
        for doc in obj["documents"]:
            _exact(doc, {"id", "title", "sha256"}, "a document")
        for c in obj["criteria"]:
            _exact(c, {"name", "weight", "better"}, "a criterion")
        if not isinstance(obj["deadline"], str) or not isinstance(obj["revealBy"], str):
            raise MalformedError("a tender's deadline and revealBy are times")
        return cls(
            obj["ocid"],
            obj["title"],
            obj["description"],
            obj["buyer"],
            _amount(obj["budget"]["amount"], "the budget"),
            obj["budget"]["currency"],
            tuple(Lot(x["id"], x["title"]) for x in obj["lots"]),
            tuple(TenderDocument(d["id"], d["title"], d["sha256"]) for d in obj["documents"]),
            tuple(
                Criterion(c["name"], _amount(c["weight"], "a weight"), c["better"])
                for c in obj["criteria"]
            ),
            parse_time(obj["deadline"]),
            parse_time(obj["revealBy"]),
        )


def commit_to(document: bytes, salt: bytes) -> str:
    """The commitment to a bid: SHA-256(bid document ‖ salt), in hex."""
    if len(salt) != 32:
        raise MalformedError("a bid's salt is 32 bytes")
    return hashlib.sha256(document + salt).hexdigest()


@dataclass(frozen=True)
class Commitment(BoundStatement):
    """A sealed bid: who bids (id, name, Ed25519 key) and the commitment to their document,
    and, from bid version 2 on, the deployment it is for (``origin``, its log's origin),
    signed with that key. A commitment without an origin is version 1, in the exact form it
    had before."""

    ocid: str
    bidder: str
    name: str
    key: bytes
    commitment: str
    signature: bytes
    origin: str | None = None

    def __post_init__(self) -> None:
        if not matches(OCID, self.ocid):
            raise MalformedError("an ocid is ocds-<6 letters or digits>-<id>")
        check_id(self.bidder, "a bidder id")
        _text(self.name, "a bidder's name", 200)
        if len(self.key) != 32 or len(self.signature) != 64:
            raise MalformedError("a bidder's key is 32 bytes and its signature 64")
        if not matches(_HEX64, self.commitment):
            raise MalformedError("a commitment is 64 lowercase hex digits")
        self._check_origin()

    _DOMAINS = (_DOMAIN, _DOMAIN_V2)
    _WHAT = "a commitment"

    def _fields(self) -> dict[str, Any]:
        return {
            "ocid": self.ocid,
            "bidder": self.bidder,
            "name": self.name,
            "key": b64url(self.key),
            "commitment": self.commitment,
        }

    def verify(self) -> None:
        """None when the bidder's key signed this commitment; ``SignatureError`` otherwise."""
        verify_ed25519(
            self.key,
            self.signature,
            self.signed_message(),
            f"{self.bidder}'s commitment is not signed by its key",
        )

    def to_json(self) -> dict[str, Any]:
        return {**self._content(), "signature": b64url(self.signature)}

    @classmethod
    def from_json(cls, obj: Any) -> Commitment:
        keys = {"ocid", "bidder", "name", "key", "commitment", "signature"}
        origin = statement_origin(obj, keys, "a commitment")
        return cls(
            obj["ocid"],
            obj["bidder"],
            obj["name"],
            unb64url(obj["key"], "a bidder's key", 32),
            obj["commitment"],
            unb64url(obj["signature"], "a signature", 64),
            origin,
        )


def sign_commitment(
    ocid: str,
    bidder: str,
    name: str,
    key: Ed25519PrivateKey,
    commitment: str,
    *,
    origin: str | None,
) -> Commitment:
    """``bidder``'s sealed bid on ``ocid``, for the deployment whose log's origin is
    ``origin`` (version 2); ``origin=None`` makes a version-1 commitment, which no deployment
    takes any longer (for tests of recorded history only)."""
    from ombud.governance.roster import public_key

    unsigned = Commitment(ocid, bidder, name, public_key(key), commitment, b"\0" * 64, origin)
    signature = key.sign(unsigned.signed_message())
    return Commitment(ocid, bidder, name, unsigned.key, commitment, signature, origin)


@dataclass(frozen=True)
class Reveal(BoundStatement):
    """A bid opened after the deadline: its document and salt and, from bid version 2 on, the
    deployment it is for (``origin``), signed with the key that signed the commitment (so
    nobody else can reveal, or spoil, a bidder's bid). A reveal without an origin is version
    1, in the exact form it had before."""

    ocid: str
    bidder: str
    document: bytes
    salt: bytes
    signature: bytes
    origin: str | None = None

    def __post_init__(self) -> None:
        check_id(self.bidder, "a bidder id")
        if not 0 < len(self.document) <= MAX_BID_DOCUMENT or len(self.salt) != 32:
            raise MalformedError(
                f"a bid document is 1-{MAX_BID_DOCUMENT} bytes and its salt 32 bytes"
            )
        if len(self.signature) != 64:
            raise MalformedError("a reveal's signature is 64 bytes")
        self._check_origin()

    _DOMAINS = (_REVEAL, _REVEAL_V2)
    _WHAT = "a reveal"

    def _fields(self) -> dict[str, Any]:
        return {
            "ocid": self.ocid,
            "bidder": self.bidder,
            "document": b64url(self.document),
            "salt": b64url(self.salt),
        }

    def verify(self, commitment: Commitment) -> None:
        """None when the committed bidder's key signed this reveal; ``SignatureError``
        otherwise."""
        verify_ed25519(
            commitment.key,
            self.signature,
            self.signed_message(),
            f"the reveal is not signed by {self.bidder}'s key",
        )

    def opens(self, commitment: Commitment) -> bool:
        return commit_to(self.document, self.salt) == commitment.commitment

    def to_json(self) -> dict[str, Any]:
        return {**self._content(), "signature": b64url(self.signature)}

    @classmethod
    def from_json(cls, obj: Any) -> Reveal:
        keys = {"ocid", "bidder", "document", "salt", "signature"}
        origin = statement_origin(obj, keys, "a reveal")
        return cls(
            obj["ocid"],
            obj["bidder"],
            unb64url(obj["document"], "a bid document", most=4 * MAX_BID_DOCUMENT),
            unb64url(obj["salt"], "a salt", 32),
            unb64url(obj["signature"], "a signature", 64),
            origin,
        )


def sign_reveal(
    ocid: str,
    bidder: str,
    key: Ed25519PrivateKey,
    document: bytes,
    salt: bytes,
    *,
    origin: str | None,
) -> Reveal:
    """``bidder``'s reveal on ``ocid``, for the deployment whose log's origin is ``origin``
    (version 2); ``origin=None`` makes a version-1 reveal (for tests of recorded history)."""
    unsigned = Reveal(ocid, bidder, document, salt, b"\0" * 64, origin)
    return Reveal(ocid, bidder, document, salt, key.sign(unsigned.signed_message()), origin)


def verify_bid_origin(bid: Commitment | Reveal, origin: str, *, recorded: bool = False) -> None:
    """None when ``bid`` (a commitment or its reveal) is bound to the deployment whose log's
    origin is ``origin``; raises ``ForeignBidError`` (signed for another deployment) or,
    unless ``recorded``, ``UnboundBidError`` (version 1, which names no deployment).
    ``recorded`` is for history a log already holds, before its first version-2 bid: a
    version-1 commitment or reveal recorded before bids named their deployment still counts
    there, and nowhere else."""
    what = (
        ("bid commitment", "bid", "seal")
        if isinstance(bid, Commitment)
        else ("bid reveal", "reveal", "sign")
    )
    verify_bound(
        bid.origin, origin, recorded=recorded, what=what,
        foreign=ForeignBidError, unbound=UnboundBidError,
    )  # fmt: skip


def _bid_terms(tender: Tender, bidder: str, document: bytes) -> dict[str, float]:
    """The figures a valid bid document states for each criterion; raises ``MalformedError``
    naming what is wrong (the bid is then disqualified)."""
    doc = parse_json(document, "a bid document", max_depth=4)
    _exact(doc, {"v", "ocid", "bidder", "value", "attributes"}, "a bid document")
    if doc["v"] != 1 or doc["ocid"] != tender.ocid or doc["bidder"] != bidder:
        raise MalformedError("the document names another tender or bidder")
    _exact(doc["value"], {"amount", "currency"}, "a bid's value")
    if doc["value"]["currency"] != tender.currency:
        raise MalformedError(f"the bid is not in {tender.currency}")
    terms = {"price": _amount(doc["value"]["amount"], "the bid's amount")}
    attributes = doc["attributes"]
    if not isinstance(attributes, dict):
        raise MalformedError("a bid's attributes are an object")
    for c in tender.criteria:
        if c.name != "price":
            terms[c.name] = _amount(attributes.get(c.name), f"the bid's {c.name}", written=False)
    if terms["price"] > tender.budget:
        raise MalformedError("the bid is over the tender's budget")
    return terms


def _signed_by(reveal: Reveal, commitment: Commitment) -> bool:
    try:
        reveal.verify(commitment)
    except SignatureError:
        return False
    return True


@dataclass(frozen=True)
class BidOutcome:
    bidder: str
    name: str
    committed_index: int
    status: str
    reason: str | None
    amount: float | None
    score: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "bidder": self.bidder,
            "name": self.name,
            "committedIndex": self.committed_index,
            "status": self.status,
            "reason": self.reason,
            "amount": self.amount,
            "score": self.score,
        }


@dataclass(frozen=True)
class Evaluation:
    ocid: str
    cut: int
    bids: tuple[BidOutcome, ...]
    winner: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "ocid": self.ocid,
            "cut": self.cut,
            "bids": [b.to_json() for b in self.bids],
            "winner": self.winner,
        }

    @classmethod
    def from_json(cls, obj: Any) -> Evaluation:
        _exact(obj, {"ocid", "cut", "bids", "winner"}, "an evaluation")
        if not isinstance(obj["bids"], list):
            raise MalformedError("an evaluation's bids are a list")
        keys = {"bidder", "name", "committedIndex", "status", "reason", "amount", "score"}
        for b in obj["bids"]:
            _exact(b, keys, "a bid's outcome")
        return cls(
            obj["ocid"],
            obj["cut"],
            tuple(
                BidOutcome(
                    b["bidder"],
                    b["name"],
                    b["committedIndex"],
                    b["status"],
                    b["reason"],
                    b["amount"],
                    b["score"],
                )
                for b in obj["bids"]
            ),
            obj["winner"],
        )


def evaluate(
    tender: Tender,
    commitments: Sequence[tuple[int, Commitment]],
    cut: int,
    reveals: Mapping[str, Reveal],
) -> Evaluation:
    """The evaluation anyone recomputes: each committed bid (ledger index, commitment) valid
    or disqualified with its reason — committed at or after ``cut`` (late), never revealed,
    a reveal that does not open its commitment, or a document that does not fit the tender —
    then scored by the tender's published rule; the winner has the best score (ties: the
    earlier commitment), or there is none."""
    outcomes: list[BidOutcome] = []
    valid: list[tuple[int, str, dict[str, float]]] = []
    for index, c in sorted(commitments, key=lambda pair: pair[0]):
        reason: str | None = None
        terms: dict[str, float] | None = None
        reveal = reveals.get(c.bidder)
        if index >= cut:
            reason = "committed after the deadline"
        elif reveal is None:
            reason = "not revealed"
        elif not _signed_by(reveal, c) or not reveal.opens(c):
            reason = "the reveal does not open its commitment"
        else:
            try:
                terms = _bid_terms(tender, c.bidder, reveal.document)
            except MalformedError as exc:
                reason = f"invalid bid document: {exc}"[:300]
        if terms is not None:
            valid.append((index, c.bidder, terms))
        outcomes.append(
            BidOutcome(
                c.bidder,
                c.name,
                index,
                "disqualified" if reason else "valid",
                reason,
                terms["price"] if terms else None,
                None,
            )
        )
    scores: dict[str, float] = {}
    if valid:
        best = {
            c.name: (min if c.better == "lower" else max)(t[2][c.name] for t in valid)
            for c in tender.criteria
        }
        weights = {c.name: c.weight for c in tender.criteria}
        if not math.isfinite(sum(weights.values())):  # 1e308 twice: every score was NaN
            most = max(weights.values())
            weights = {name: weight / most for name, weight in weights.items()}
        total = sum(weights.values())
        for _, bidder, terms in valid:
            score = sum(
                weights[c.name]
                * (
                    best[c.name] / terms[c.name]
                    if c.better == "lower"
                    else terms[c.name] / best[c.name]
                )
                for c in tender.criteria
            )
            scores[bidder] = round(100 * score / total, 6)
    ranked = sorted(valid, key=lambda t: (-scores[t[1]], t[0]))
    final = tuple(
        BidOutcome(
            b.bidder, b.name, b.committed_index, b.status, b.reason, b.amount, scores.get(b.bidder)
        )
        for b in outcomes
    )
    return Evaluation(tender.ocid, cut, final, ranked[0][1] if ranked else None)


def _cosigned(
    cosigned: bytes,
    log_key: note.Verifier,
    witnesses: Iterable[note.Verifier],
    quorum: int,
    deadline: datetime,
    *,
    before: bool,
) -> SignedCheckpoint:
    witnesses = list(witnesses)
    if quorum < 1:
        raise MalformedError("a deadline is judged by at least one witness")
    opened = open_checkpoint(cosigned, [log_key], witnesses=witnesses)
    trusted = {(w.name, w.key_id) for w in witnesses}
    limit = deadline.timestamp()
    agreeing = {
        (v.verifier.name, v.verifier.key_id)
        for v in opened.cosigners
        if (v.verifier.name, v.verifier.key_id) in trusted
        and v.timestamp is not None
        and ((v.timestamp < limit) if before else (v.timestamp >= limit))
    }
    if len(agreeing) < quorum:
        when = "before" if before else "at or after"
        raise VerificationError(
            f"the checkpoint has {len(agreeing)} witness cosignature(s) timestamped {when} "
            f"{format_time(deadline)}; it needs {quorum}"
        )
    return opened


def verify_deadline(
    cosigned: bytes,
    log_key: note.Verifier,
    witnesses: Iterable[note.Verifier],
    quorum: int,
    deadline: datetime,
) -> SignedCheckpoint:
    """The checkpoint that closes a tender: signed by the log, and cosigned by ``quorum``
    distinct ``witnesses`` whose cosignature timestamps are at or past ``deadline``; raises
    ``VerificationError`` when it is not."""
    return _cosigned(cosigned, log_key, witnesses, quorum, deadline, before=False)


def verify_in_time(
    cosigned: bytes,
    log_key: note.Verifier,
    witnesses: Iterable[note.Verifier],
    quorum: int,
    deadline: datetime,
) -> SignedCheckpoint:
    """The checkpoint that proves bids in time: signed by the log and cosigned by ``quorum``
    distinct ``witnesses`` *before* ``deadline``. Its size is the cut: an entry below it
    existed before the deadline by the witnesses' clocks, whatever the server's said; an
    entry at or above it did not, as far as anyone can prove, and is late."""
    return _cosigned(cosigned, log_key, witnesses, quorum, deadline, before=True)
