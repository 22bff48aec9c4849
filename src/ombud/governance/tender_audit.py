"""A tender re-derived from a log's entries alone, and its award recomputed: what ``ombud
tender verify`` runs on an export.

Threat model: the entries come from an untrusted export. Only what verifies counts: each
commitment's bidder signature, the closing checkpoint's log signature (the key the verifier
holds) and its witnesses' cosignature timestamps past the deadline; the evaluation is then
recomputed with ``evaluate`` and compared with the published award. Any difference — a bid
left out, a reveal moved, a cut moved, a winner changed — is a ``VerificationError`` naming it.
"""

from __future__ import annotations

from collections.abc import Iterable

from ombud.errors import MalformedError, VerificationError
from ombud.events import Event
from ombud.governance.tenders import (
    Commitment,
    Evaluation,
    Reveal,
    Tender,
    evaluate,
    verify_deadline,
)
from ombud.ledger import note

__all__ = ["audit_tender"]


def audit_tender(
    entries: Iterable[tuple[int, bytes]],
    ocid: str,
    log_key: note.Verifier,
    witnesses: Iterable[note.Verifier] | None = None,
) -> Evaluation:
    """The award of ``ocid`` recomputed from the log, when it matches the published one; raises
    ``VerificationError`` naming the first thing that does not hold. ``witnesses`` pins the
    witness keys that judge the deadline; by default those the closing event names."""
    tender: Tender | None = None
    commitments: list[tuple[int, Commitment]] = []
    reveals: dict[str, Reveal] = {}
    closed: tuple[int, dict[str, object]] | None = None
    published: Evaluation | None = None
    for index, entry in entries:
        try:
            event = Event.from_bytes(entry)
        except MalformedError:
            continue
        if event.body.get("ocid") != ocid:
            continue
        body = dict(event.body)
        try:
            if event.kind == "tender.published":
                tender = Tender.from_json(body["tender"])
            elif event.kind == "bid.committed":
                commitment = Commitment.from_json(body["commitment"])
                commitment.verify()
                commitments.append((index, commitment))
            elif event.kind == "tender.closed" and closed is None:
                closed = (index, body)
            elif event.kind == "bid.revealed" and published is None:
                reveal = Reveal.from_json(body["reveal"])
                reveals.setdefault(reveal.bidder, reveal)
            elif event.kind == "award.made":
                published = Evaluation.from_json(body["evaluation"])
        except (MalformedError, KeyError) as exc:
            raise VerificationError(f"entry {index} ({event.kind}) is malformed: {exc}") from exc
    if tender is None:
        raise VerificationError(f"the log holds no tender {ocid[:80]!r}")
    if closed is None or published is None:
        raise VerificationError(f"tender {ocid} has not been closed and awarded in this log")
    body = closed[1]
    checkpoint, listed, quorum = body.get("checkpoint"), body.get("witnesses"), body.get("quorum")
    if (
        not isinstance(checkpoint, str)
        or not isinstance(listed, list)
        or not isinstance(quorum, int)
    ):
        raise VerificationError(f"the closing event (entry {closed[0]}) is malformed")
    keys = (
        list(witnesses)
        if witnesses is not None
        else [note.Verifier.from_vkey(str(v)) for v in listed]
    )
    opened = verify_deadline(checkpoint.encode(), log_key, keys, quorum, tender.deadline)
    cut = opened.checkpoint.size
    if body.get("cut") != cut:
        raise VerificationError("the closing event names another cut than its checkpoint's size")
    recomputed = evaluate(tender, commitments, cut, reveals)
    if recomputed != published:
        raise VerificationError(
            f"the published award of {ocid} is not what its rule gives: published winner "
            f"{published.winner}, recomputed {recomputed.winner}"
            if recomputed.winner != published.winner
            else f"the published evaluation of {ocid} differs from the recomputed one"
        )
    return recomputed
