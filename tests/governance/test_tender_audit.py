"""``audit_tender``: the award recomputed from an export nobody vouches for but the log's key.

The witnesses' cosignatures bind the checkpoints the close carries to the tree they saw; an
export whose entries below the cut are not that tree (a fork that moves a late bid in time)
must not verify, however consistently the rest of it was rewritten and signed by the log. Nor
must one holding a bid signed for another deployment, or a version-1 bid after the log's first
version-2 one, or a bid or reveal the bidder signed for another tender, nor one whose close
was judged by witnesses the roster did not authorise."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest

from ombud.errors import VerificationError
from ombud.events import Event
from ombud.governance import procurement
from ombud.governance.roster import Roster
from ombud.governance.tender_audit import audit_tender
from ombud.governance.tenders import (
    Commitment,
    Evaluation,
    Reveal,
    Tender,
    evaluate,
    sign_commitment,
    sign_reveal,
)
from ombud.ledger import note
from tests.governance.test_procurement import DEADLINE, City, _publish, city  # noqa: F401
from tests.governance.test_roster import GENESIS, signed
from tests.governance.test_tenders import KEYS, ORIGIN, TENDER, bid, committed, revealed
from tests.governance.test_witness_audit import cosigner, forge, witness_change


def _late_bid_log(city: City) -> list[bytes]:  # noqa: F811
    """The honest history: lumen-co bids in time, late-llc after the deadline."""
    deployment, clock = city.deployment, city.clock
    book = deployment.tenders
    _publish(deployment)
    honest = bid("lumen-co", 198_000)
    book.commit(committed("lumen-co", *honest), actor="bidder")
    city.publish_checkpoint(DEADLINE - timedelta(seconds=1))
    book.observe()
    clock.now = DEADLINE - timedelta(days=1)  # the server's clock set back
    favourite = bid("late-llc", 99_000)
    book.commit(committed("late-llc", *favourite), actor="bidder")
    city.publish_checkpoint(DEADLINE + timedelta(minutes=1))
    assert book.close(TENDER.ocid, actor="ombud") is not None
    book.reveal(revealed("lumen-co", *honest), actor="bidder")
    book.reveal(revealed("late-llc", *favourite), actor="bidder")
    book.award(TENDER.ocid, actor="ombud")
    log = deployment.log
    return list(log.entries(0, log.size))


def _forge(entries: list[bytes]) -> list[bytes]:
    """The operator's fork: the late bid swapped with an unrelated entry below the cut (a
    signature on the tender's publication, which no witness policy rests on), and the award
    rewritten to what the rule gives for the forged history."""
    events = [Event.from_bytes(e) for e in entries]
    closed = next(e for e in events if e.kind == "tender.closed")
    cut = closed.body["cut"]
    late = next(
        i
        for i, e in enumerate(events)
        if e.kind == "bid.committed" and e.body["commitment"]["bidder"] == "late-llc"
    )
    assert late >= cut
    spare = next(i for i, e in enumerate(events[:cut]) if e.kind == "action.signed")
    forged = list(entries)
    forged[spare], forged[late] = entries[late], entries[spare]
    assert _reawarded(forged, cut).winner == "late-llc"  # the fork would award the favourite
    return forged


def _reawarded(forged: list[bytes], cut: int) -> Evaluation:
    """What the rule gives for the ``forged`` history (the first reveal of each bidder
    counting, as in the audit), written in place of its award."""
    events = [Event.from_bytes(e) for e in forged]
    tender = next(
        Tender.from_json(e.body["tender"]) for e in events if e.kind == "tender.published"
    )
    commitments = [
        (i, Commitment.from_json(e.body["commitment"]))
        for i, e in enumerate(events)
        if e.kind == "bid.committed"
    ]
    reveals: dict[str, Reveal] = {}
    for e in events:
        if e.kind == "bid.revealed":
            reveal = Reveal.from_json(e.body["reveal"])
            reveals.setdefault(reveal.bidder, reveal)
    evaluation = evaluate(tender, commitments, cut, reveals)
    award = next(i for i, e in enumerate(events) if e.kind == "award.made")
    old = events[award]
    body = {**old.body, "evaluation": evaluation.to_json()}
    forged[award] = Event(old.kind, old.at, old.actor, body).to_bytes()
    return evaluation


@pytest.mark.parametrize("city", ["sqlite"], indirect=True)
def test_a_fork_below_the_cut_does_not_verify(city: City) -> None:  # noqa: F811
    entries = _late_bid_log(city)
    key = city.deployment.log.verifier()
    assert audit_tender(enumerate(entries), TENDER.ocid, key).winner == "lumen-co"
    with pytest.raises(VerificationError, match="witnesses cosigned"):
        audit_tender(enumerate(_forge(entries)), TENDER.ocid, key)


@pytest.mark.parametrize("city", ["sqlite"], indirect=True)
def test_entries_out_of_order_do_not_verify(city: City) -> None:  # noqa: F811
    entries = _late_bid_log(city)
    key = city.deployment.log.verifier()
    numbered = list(enumerate(entries))
    with pytest.raises(VerificationError):
        audit_tender(numbered[1:], TENDER.ocid, key)


@contextmanager
def unchecked(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As ombud was before bids named their deployment: no origin check on the way in."""
    with monkeypatch.context() as earlier:
        earlier.setattr(procurement, "verify_bid_origin", lambda *args, **kwargs: None)
        yield


def _bound_log(city: City, monkeypatch: pytest.MonkeyPatch, late: Commitment | None) -> int:  # noqa: F811
    """A tender bid across the upgrade: lumen-co's version-1 bid recorded before bids named
    their deployment, bright-ltd's version-2 one, then ``late`` (if any) slipped in behind the
    origin check, all before the deadline; both revealed for this deployment (a version-2
    reveal opens a version-1 bid) and awarded. Returns the index of ``late``'s entry."""
    deployment = city.deployment
    book = deployment.tenders
    _publish(deployment)
    lumen, bright = bid("lumen-co", 198_000), bid("bright-ltd", 150_000)
    with unchecked(monkeypatch):
        book.commit(committed("lumen-co", *lumen, origin=None), actor="bidder")
    book.commit(committed("bright-ltd", *bright), actor="bidder")
    index = -1
    if late is not None:
        with unchecked(monkeypatch):
            index = book.commit(late, actor="bidder")
    city.publish_checkpoint(DEADLINE - timedelta(seconds=1))
    book.observe()
    city.publish_checkpoint(DEADLINE + timedelta(minutes=1))
    assert book.close(TENDER.ocid, actor="ombud") is not None
    book.reveal(revealed("lumen-co", *lumen), actor="bidder")
    book.reveal(revealed("bright-ltd", *bright), actor="bidder")
    city.clock.now = TENDER.reveal_by  # ``late`` is never revealed
    book.award(TENDER.ocid, actor="ombud")
    return index


@pytest.mark.parametrize("city", ["sqlite"], indirect=True)
def test_recorded_version_1_bids_verify_only_before_the_first_bound_one(
    city: City,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _bound_log(city, monkeypatch, None)
    log = city.deployment.log
    entries = list(enumerate(log.entries(0, log.size)))
    evaluation = audit_tender(entries, TENDER.ocid, log.verifier())
    assert evaluation.winner == "bright-ltd" and len(evaluation.bids) == 2


@pytest.mark.parametrize("city", ["sqlite"], indirect=True)
def test_a_version_1_bid_after_a_bound_one_breaks_the_audit(
    city: City,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After the log's first version-2 bid, a version-1 one may be a twin deployment's old
    bid replayed here: it breaks the audit at its entry."""
    late = committed("quiet", *bid("quiet", 99_000), origin=None)
    index = _bound_log(city, monkeypatch, late)
    log = city.deployment.log
    with pytest.raises(VerificationError, match=rf"entry {index} .*names no deployment"):
        audit_tender(enumerate(log.entries(0, log.size)), TENDER.ocid, log.verifier())


@pytest.mark.parametrize("city", ["sqlite"], indirect=True)
def test_a_bid_for_another_deployment_breaks_the_audit(
    city: City,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    late = committed("quiet", *bid("quiet", 99_000), origin="staging.example/log")
    index = _bound_log(city, monkeypatch, late)
    log = city.deployment.log
    with pytest.raises(VerificationError, match=rf"entry {index} .*signed for deployment"):
        audit_tender(enumerate(log.entries(0, log.size)), TENDER.ocid, log.verifier())


def _judged_by(city: City, *witnesses: note.Signer) -> list[tuple[int, bytes]]:  # noqa: F811
    """A tender closed and awarded by a server whose witness policy is ``witnesses`` (all of
    them the quorum): they cosign its checkpoints, before the deadline and past it."""
    deployment = city.deployment
    book = deployment.tenders
    city.witnesses = list(witnesses)
    book.witnesses = lambda: ([w.verifier() for w in witnesses], len(witnesses))
    honest = bid("lumen-co", 198_000)
    book.commit(committed("lumen-co", *honest), actor="bidder")
    city.publish_checkpoint(DEADLINE - timedelta(seconds=1))
    book.observe()
    city.publish_checkpoint(DEADLINE + timedelta(minutes=1))
    assert book.close(TENDER.ocid, actor="ombud") is not None
    book.reveal(revealed("lumen-co", *honest), actor="bidder")
    book.award(TENDER.ocid, actor="ombud")
    log = deployment.log
    return list(enumerate(log.entries(0, log.size)))


@pytest.mark.parametrize("city", ["sqlite"], indirect=True)
def test_a_witness_policy_the_roster_did_not_authorise_is_not_trusted(city: City) -> None:  # noqa: F811
    """The operator holds the log's key, not the council's: it writes a ``settings.changed``
    naming its own witness, which cosigns whatever it is asked to. Unpinned, ``tender
    verify`` trusted it; now only the policy the roster authorised judges the deadline — the
    genesis's two witnesses, who cosigned nothing here."""
    deployment = city.deployment
    _publish(deployment)
    attacker = cosigner("attacker.example")
    forged = forge(deployment, None, attacker)
    entries = _judged_by(city, attacker)
    key = deployment.log.verifier()
    with pytest.raises(VerificationError, match=rf"entry {forged} is not trusted"):
        audit_tender(entries, TENDER.ocid, key)
    with pytest.raises(VerificationError, match=rf"entry {forged} is not trusted"):
        audit_tender(entries, TENDER.ocid, key, genesis=GENESIS)
    with pytest.raises(VerificationError, match="it needs 2"):  # nor the quorum it names
        audit_tender(entries, TENDER.ocid, key, [attacker.verifier()])


@pytest.mark.parametrize("city", ["sqlite"], indirect=True)
def test_a_witness_policy_the_council_signed_judges_the_deadline(city: City) -> None:  # noqa: F811
    deployment = city.deployment
    _publish(deployment)
    w3 = cosigner("w3.example")
    change = witness_change(deployment, w3)
    deployment.submit(change, signed(change, "council-1", "council-2", "council-3"), actor="x")
    entries = _judged_by(city, w3)
    key = deployment.log.verifier()
    assert audit_tender(entries, TENDER.ocid, key).winner == "lumen-co"
    assert audit_tender(entries, TENDER.ocid, key, genesis=GENESIS).winner == "lumen-co"
    other = Roster(0, GENESIS.holders[1:], GENESIS.policy)
    with pytest.raises(VerificationError, match="not the genesis given"):
        audit_tender(entries, TENDER.ocid, key, genesis=other)


@pytest.mark.parametrize("city", ["sqlite"], indirect=True)
def test_a_bid_or_reveal_signed_for_another_tender_breaks_the_audit(city: City) -> None:  # noqa: F811
    """lumen-co also bid on another tender of this deployment, with the same key: its reveal
    there, recorded here under this tender's ocid right after the close, is the first reveal
    of lumen-co the evaluation meets, and it does not open lumen-co's bid here — which the
    rewritten award disqualifies. Every signature verifies (the bidder's key, this log's
    origin); only the ocid the bidder signed tells the statement is another tender's."""
    entries = _late_bid_log(city)
    key = city.deployment.log.verifier()
    events = [Event.from_bytes(e) for e in entries]
    closed = next(i for i, e in enumerate(events) if e.kind == "tender.closed")
    real = next(e for e in events if e.kind == "bid.revealed")
    other = "ocds-0mbud0-2026-002"
    elsewhere = sign_reveal(other, "lumen-co", KEYS["lumen-co"], *bid("lumen-co", 1), origin=ORIGIN)
    moved = Event(real.kind, real.at, real.actor, {**real.body, "reveal": elsewhere.to_json()})
    forged = [*entries[: closed + 1], moved.to_bytes(), *entries[closed + 1 :]]
    # lumen-co disqualified by another tender's reveal
    assert _reawarded(forged, events[closed].body["cut"]).winner is None
    with pytest.raises(VerificationError, match=rf"entry {closed + 1} .*tender {other}"):
        audit_tender(enumerate(forged), TENDER.ocid, key)
    # a commitment signed for the other tender, recorded under this one, likewise
    commit = next(i for i, e in enumerate(events) if e.kind == "bid.committed")
    mine = events[commit]
    signed_there = sign_commitment(other, "quiet", "Quiet", KEYS["quiet"], "ab" * 32, origin=ORIGIN)
    swapped = Event(
        mine.kind, mine.at, mine.actor, {**mine.body, "commitment": signed_there.to_json()}
    )
    with pytest.raises(VerificationError, match=rf"entry {commit} .*tender {other}"):
        audit_tender(
            enumerate([*forged[:commit], swapped.to_bytes(), *forged[commit + 1 :]]),
            TENDER.ocid,
            key,
        )


@pytest.mark.parametrize("city", ["sqlite"], indirect=True)
def test_a_witness_policy_of_no_quorum_does_not_verify(city: City) -> None:  # noqa: F811
    """An export whose witness policy asks no cosignature (quorum 0: the genesis's rewritten)
    judges no deadline: ``tender verify`` says so as a verification failure (exit 1), not as
    bad input (the ``MalformedError`` of ``verify_deadline``, exit 2)."""
    entries = _late_bid_log(city)
    key = city.deployment.log.verifier()
    (genesis_policy,) = [
        i
        for i, e in enumerate(entries)
        if Event.from_bytes(e).kind == "settings.changed"
        and "witnesses" in Event.from_bytes(e).body["settings"]
    ]
    old = Event.from_bytes(entries[genesis_policy])
    settings = old.body["settings"]
    body = {
        **old.body,
        "settings": {**settings, "witnesses": {**settings["witnesses"], "quorum": 0}},
    }
    forged = list(entries)
    forged[genesis_policy] = Event(old.kind, old.at, old.actor, body).to_bytes()
    for pinned in (None, city.witnesses):
        with pytest.raises(VerificationError, match="quorum 0"):
            audit_tender(
                enumerate(forged),
                TENDER.ocid,
                key,
                None if pinned is None else [w.verifier() for w in pinned],
            )


@pytest.mark.parametrize("city", ["sqlite"], indirect=True)
def test_a_close_carrying_no_checkpoint_does_not_verify(city: City) -> None:  # noqa: F811
    """A closing event whose checkpoint is not a signed note (its text rewritten) is a
    verification failure naming the close (exit 1), not bad input (exit 2)."""
    entries = _late_bid_log(city)
    key = city.deployment.log.verifier()
    events = [Event.from_bytes(e) for e in entries]
    closed = next(i for i, e in enumerate(events) if e.kind == "tender.closed")
    old = events[closed]
    for field in ("checkpoint", "inTime"):
        body = {**old.body, field: "not a note"}
        forged = list(entries)
        forged[closed] = Event(old.kind, old.at, old.actor, body).to_bytes()
        with pytest.raises(VerificationError, match=rf"closing event \(entry {closed}\)"):
            audit_tender(enumerate(forged), TENDER.ocid, key)
