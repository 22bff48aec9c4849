"""A tender re-derived from a log's entries alone, and its award recomputed: what ``ombud
tender verify`` runs on an export.

Threat model: the entries come from an untrusted export. Only what verifies counts: each
commitment's bidder signature; each commitment and reveal signed for this log (the origin of
the log key's checkpoints; one of version 1, which names none, only before the log's first
version-2 bid, or it may be a twin deployment's bid replayed here); the closing checkpoint's
log signature (the key the verifier holds) and its witnesses' cosignature timestamps past the
deadline, the witnesses being those the verifier pins or, in a log with a roster, those of
the last witness policy the roster authorised (``audit_witnesses``: the operator can write a
``settings.changed`` naming its own witness with the log's key alone); both checkpoints the
close carries must be the roots of the export's own first entries (else a fork the log key
signed could move a late bid below a cut the witnesses cosigned for another history: 32 bytes
a leaf up to the close are kept to check it); the evaluation is then recomputed with
``evaluate`` and compared with the published award. Any difference — a bid left out, a reveal
moved, a cut moved, a winner changed, a fork below the close, a bid or reveal for another
deployment or signed for another tender, a close judged by witnesses the roster did not
authorise — is a ``VerificationError`` naming it.
"""

from __future__ import annotations

from collections.abc import Iterable

from ombud.errors import ApprovalError, MalformedError, VerificationError
from ombud.events import Event
from ombud.governance.roster import Roster
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
from ombud.governance.witness_audit import KINDS, WitnessAudit, WitnessChanges
from ombud.ledger import merkle, note
from ombud.ledger.checkpoint import Checkpoint

__all__ = ["audit_tender"]


def audit_tender(
    entries: Iterable[tuple[int, bytes]],
    ocid: str,
    log_key: note.Verifier,
    witnesses: Iterable[note.Verifier] | None = None,
    *,
    genesis: Roster | None = None,
) -> Evaluation:
    """The award of ``ocid`` recomputed from the log, when it matches the published one; raises
    ``VerificationError`` naming the first thing that does not hold. ``witnesses`` pins the
    witness keys that judge the deadline; by default those of the last witness policy the
    roster authorised before the close (``WitnessChanges``, the chain of rosters from
    ``genesis``, or given none from the log's own), or, in a log without a roster, those the
    closing event names."""
    tender: Tender | None = None
    commitments: list[tuple[int, Commitment]] = []
    reveals: dict[str, Reveal] = {}
    closed: tuple[int, dict[str, object]] | None = None
    governance = WitnessChanges()  # what authorises witness policies, up to the close
    published: Evaluation | None = None
    origin = log_key.name  # the checkpoints' origin: open_checkpoint holds them to it
    bound = False  # a bid has named its deployment: from then on, every one must
    leaves = bytearray()  # the leaf hashes up to the close, to bind its checkpoints to them
    for index, entry in entries:
        if closed is None:
            if index != len(leaves) // merkle.HASH_SIZE:
                raise VerificationError(f"entry {index} is not the log's next entry")
            leaves += merkle.leaf_hash(entry)
        try:
            event = Event.from_bytes(entry)
        except MalformedError:
            continue
        if event.kind in KINDS:
            if closed is None:
                governance.add(index, entry, event)
            continue
        if event.body.get("ocid") != ocid:
            bound = bound or _names_origin(event)
            continue
        body = dict(event.body)
        try:
            if event.kind == "tender.published":
                tender = Tender.from_json(body["tender"])
            elif event.kind == "bid.committed":
                commitment = Commitment.from_json(body["commitment"])
                _this_tender(index, event.kind, commitment, ocid)
                verify_bid_origin(commitment, origin, recorded=not bound)
                commitment.verify()
                commitments.append((index, commitment))
                bound = bound or commitment.origin is not None
            elif event.kind == "tender.closed" and closed is None:
                closed = (index, body)
            elif event.kind == "bid.revealed" and published is None:
                reveal = Reveal.from_json(body["reveal"])
                _this_tender(index, event.kind, reveal, ocid)
                verify_bid_origin(reveal, origin, recorded=not bound)
                reveals.setdefault(reveal.bidder, reveal)
                bound = bound or reveal.origin is not None
            elif event.kind == "award.made":
                published = Evaluation.from_json(body["evaluation"])
        except (MalformedError, KeyError) as exc:
            raise VerificationError(f"entry {index} ({event.kind}) is malformed: {exc}") from exc
        except ApprovalError as exc:
            raise VerificationError(f"entry {index} ({event.kind}): {exc}") from exc
    if tender is None:
        raise VerificationError(f"the log holds no tender {ocid[:80]!r}")
    if closed is None or published is None:
        raise VerificationError(f"tender {ocid} has not been closed and awarded in this log")
    body = closed[1]
    checkpoint, in_time = body.get("checkpoint"), body.get("inTime")
    if not isinstance(checkpoint, str) or not (in_time is None or isinstance(in_time, str)):
        raise VerificationError(f"the closing event (entry {closed[0]}) is malformed")
    audit = None  # a log without a roster (and no genesis given to hold it to) has no policy
    if genesis is not None or governance.has_roster:
        audit = governance.audit(genesis, origin=origin)
    keys, quorum = _judges(closed, audit, witnesses)
    try:
        closing = verify_deadline(checkpoint.encode(), log_key, keys, quorum, tender.deadline)
        _check_prefix(leaves, closing.checkpoint)
        cut = 0
        if in_time is not None:
            before = verify_in_time(in_time.encode(), log_key, keys, quorum, tender.deadline)
            _check_prefix(leaves, before.checkpoint)
            cut = before.checkpoint.size
    except MalformedError as exc:  # a checkpoint the close carries that is not one
        raise VerificationError(
            f"the closing event (entry {closed[0]}) is malformed: {exc}"
        ) from exc
    except VerificationError as exc:
        if audit is None or not audit.refused:
            raise
        raise VerificationError(f"{exc} ({_untrusted(audit)})") from exc
    if body.get("cut") != cut:
        raise VerificationError(
            "the closing event names another cut than the size of the last checkpoint the "
            "witnesses cosigned before the deadline"
        )
    recomputed = evaluate(tender, commitments, cut, reveals)
    if recomputed != published:
        raise VerificationError(
            f"the published award of {ocid} is not what its rule gives: published winner "
            f"{published.winner}, recomputed {recomputed.winner}"
            if recomputed.winner != published.winner
            else f"the published evaluation of {ocid} differs from the recomputed one"
        )
    return recomputed


def _this_tender(index: int, kind: str, bid: Commitment | Reveal, ocid: str) -> None:
    """Raise unless ``bid`` (a commitment or its reveal, recorded at ``index`` under ``ocid``)
    is signed for that tender: the bidder's statement for another tender of this deployment,
    recorded under this one (a reveal placed before the bidder's own, which it then does not
    open), must not count here."""
    if bid.ocid != ocid:
        raise VerificationError(
            f"entry {index} ({kind}) is signed for tender {bid.ocid}, not {ocid}"
        )


def _names_origin(event: Event) -> bool:
    """Whether ``event`` records a commitment or reveal of version 2 (of another tender: from
    it on, a version-1 bid in the log is not one recorded before bids named their
    deployment)."""
    kind = {"bid.committed": "commitment", "bid.revealed": "reveal"}.get(event.kind)
    signed = event.body.get(kind) if kind else None
    return isinstance(signed, dict) and signed.get("v") == 2 and "origin" in signed


def _check_prefix(leaves: bytes | bytearray, checkpoint: Checkpoint) -> None:
    """Raise unless ``checkpoint`` is the root of the first entries whose ``leaves`` are given:
    what the witnesses cosigned is then this log, not another history the log key signed."""
    if checkpoint.size > len(leaves) // merkle.HASH_SIZE:
        raise VerificationError(
            f"the checkpoint of size {checkpoint.size} the witnesses cosigned reaches past the "
            "closing event"
        )
    frontier = merkle.Frontier()
    view = memoryview(leaves)
    for i in range(checkpoint.size):
        frontier.append(bytes(view[i * merkle.HASH_SIZE : (i + 1) * merkle.HASH_SIZE]))
    if frontier.root() != checkpoint.root:
        raise VerificationError(
            f"the checkpoint of size {checkpoint.size} the witnesses cosigned is not the root "
            "of this log's first entries: the log forked"
        )


def _untrusted(audit: WitnessAudit) -> str:
    return "; ".join(
        f"the witness policy of entry {index} is not trusted: {why}"[:300]
        for index, why in audit.refused
    )


def _judges(
    closed: tuple[int, dict[str, object]],
    audit: WitnessAudit | None,
    pinned: Iterable[note.Verifier] | None,
) -> tuple[list[note.Verifier], int]:
    """Whose cosignatures judge the deadline: the keys pinned by the verifier; else the last
    witness policy the roster authorised before the close (``audit``); else, for a log without
    a roster, the keys and quorum the closing event names. The quorum is the authorised
    policy's, or the closing event's where none is. A log with a roster and no witness policy
    it authorised before the close is judged by pinned keys only."""
    index, body = closed
    source: dict[str, object] = body
    if audit is not None and audit.authorised:
        policy = audit.authorised[-1]
        source = {"witnesses": list(policy.keys), "quorum": policy.quorum}
    elif audit is not None and pinned is None:
        untrusted = f" ({_untrusted(audit)})" if audit.refused else ""
        raise VerificationError(
            f"no witness policy the roster authorised is in force at the close (entry "
            f"{index}){untrusted}: pin the witnesses' keys to judge its deadline"
        )
    listed, quorum = source.get("witnesses"), source.get("quorum")
    if not isinstance(listed, list) or not isinstance(quorum, int) or isinstance(quorum, bool):
        raise VerificationError(f"the witnesses judging the close (entry {index}) are malformed")
    if quorum < 1:
        raise VerificationError(
            f"the witness policy judging the close (entry {index}) asks no cosignature "
            f"(quorum {quorum}): no witness judged its deadline"
        )
    if pinned is not None:
        return list(pinned), quorum
    try:
        return [note.Verifier.from_vkey(str(v)) for v in listed], quorum
    except ValueError as exc:
        raise VerificationError(f"a witness key judging the close is malformed: {exc}") from None
