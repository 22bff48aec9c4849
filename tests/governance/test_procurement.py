"""A tender end to end through a deployment, on SQLite and PostgreSQL: published by the
roster's signatures; three bidders — one late, one whose reveal does not open its commitment,
one honest winner; the deadline judged by the witnesses' cosignature timestamps while the
server's clock is set back (no backdating: a bid is in time only when a checkpoint the
witnesses cosigned before the deadline covers it); the award recomputed from the log alone;
every refusal recorded."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from ombud.config import Settings
from ombud.deployment import Deployment, init_deployment
from ombud.errors import (
    AlreadyExistsError,
    ConflictError,
    ExpiredError,
    ForeignBidError,
    NotFoundError,
    UnboundBidError,
    VerificationError,
)
from ombud.events import Event
from ombud.governance.roster import ActionRequest
from ombud.governance.tender_audit import audit_tender
from ombud.governance.tenders import Tender
from ombud.ledger import note
from ombud.witness.policy import WitnessEndpoint, WitnessPolicy
from tests.governance.test_roster import GENESIS, signed
from tests.governance.test_tenders import ORIGIN, TENDER, bid, committed, revealed

DEADLINE = TENDER.deadline


class Clock:
    def __init__(self) -> None:
        self.now = DEADLINE - timedelta(days=10)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class City:
    deployment: Deployment
    clock: Clock
    witnesses: list[note.Signer]

    def publish_checkpoint(self, witness_time: datetime) -> int:
        """Sign a checkpoint and publish it cosigned by every witness at ``witness_time``."""
        log = self.deployment.log
        signed_note = log.checkpoint().to_bytes()
        text = signed_note.split(b"\n\n")[0] + b"\n"
        for w in self.witnesses:
            at = note.Signer.from_skey(w.skey, clock=lambda: witness_time.timestamp())
            signed_note += at.signature_line(text)
        log.publish(signed_note)
        return log.size


def witnessed(data_dir: Path, url: str = "") -> tuple[str, list[note.Signer]]:
    """A new deployment whose witness policy is two witnesses (quorum 2) whose keys the test
    holds; returns the log's vkey and the witnesses' signers."""
    vkey = init_deployment(data_dir, ORIGIN, database_url=url)
    witnesses = [
        note.Signer.generate(f"w{i}.example", sig_type=note.ALG_COSIGNATURE_V1) for i in (1, 2)
    ]
    endpoints = tuple(
        WitnessEndpoint(w.verifier().vkey, f"http://w{i}.example") for i, w in enumerate(witnesses)
    )
    settings = Settings.load(data_dir)
    replace(settings, witnesses=WitnessPolicy(quorum=2, witness=endpoints)).save()
    return vkey, witnesses


@pytest.fixture(params=["sqlite", "postgresql"])
def city(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[City]:
    url = request.getfixturevalue("postgres_schema") if request.param == "postgresql" else ""
    data_dir = tmp_path / "city"
    _, witnesses = witnessed(data_dir, url)
    clock = Clock()
    with Deployment.open(data_dir, clock=clock) as deployment:
        deployment.establish_roster(GENESIS, actor="clerk")
        yield City(deployment, clock, witnesses)


def _publish(deployment: Deployment, tender: Tender = TENDER) -> None:
    request = ActionRequest(
        "tender.publish",
        {"tender": tender.to_json()},
        GENESIS.version,
        GENESIS.digest,
        "officer-a",
        secrets.token_hex(16),
        deployment.clock() + timedelta(days=1),
        deployment.log.origin,
    )
    deployment.submit(request, signed(request, "council-1", "council-2", "council-3"), actor="x")


def _last(deployment: Deployment) -> Event:
    size = deployment.log.size
    return Event.from_bytes(deployment.log.entries(size - 1, size)[0])


def test_a_tender_with_three_bidders_recomputes_from_the_log(city: City) -> None:
    deployment, clock = city.deployment, city.clock
    book = deployment.tenders
    _publish(deployment)
    assert book.get(TENDER.ocid).stage == "open"
    docs = {
        "lumen-co": bid("lumen-co", 198_000),
        "bright-ltd": bid("bright-ltd", 150_000),
        "late-llc": bid("late-llc", 120_000),
    }
    book.commit(committed("lumen-co", *docs["lumen-co"]), actor="bidder")
    book.commit(committed("bright-ltd", *docs["bright-ltd"]), actor="bidder")
    with pytest.raises(AlreadyExistsError):  # a replayed commitment: refused and recorded
        book.commit(committed("lumen-co", *docs["lumen-co"]), actor="anyone")
    assert _last(deployment).body["reason"] == "twice"
    with pytest.raises(ConflictError):  # reveals wait for the deadline
        book.reveal(revealed("lumen-co", *docs["lumen-co"]), actor="bidder")
    city.publish_checkpoint(DEADLINE - timedelta(minutes=5))  # covers both bids, in time
    book.observe()
    # Witnesses cosign a checkpoint a minute past the deadline; the operator has set the
    # server's clock back a day to let a favourite bid late. The witnesses' time decides.
    city.publish_checkpoint(DEADLINE + timedelta(minutes=1))
    clock.now = DEADLINE - timedelta(days=1)
    with pytest.raises(ExpiredError):
        book.commit(committed("late-llc", *docs["late-llc"]), actor="bidder")
    assert (_last(deployment).kind, _last(deployment).body["reason"]) == ("bid.refused", "late")
    record = book.get(TENDER.ocid)
    assert record.stage == "closed" and record.cut is not None
    # Reveals: the honest one opens its commitment; the other does not.
    book.reveal(revealed("lumen-co", *docs["lumen-co"]), actor="bidder")
    cheaper, _ = bid("bright-ltd", 99_000)
    book.reveal(revealed("bright-ltd", cheaper, docs["bright-ltd"][1]), actor="bidder")
    assert _last(deployment).body["opens"] is False
    size = deployment.log.size
    with pytest.raises(NotFoundError):  # no commitment: nobody to attribute it to, no trace
        book.reveal(revealed("late-llc", *docs["late-llc"]), actor="bidder")
    with pytest.raises(AlreadyExistsError):  # once per bidder: refused and recorded, as a
        book.reveal(revealed("lumen-co", *docs["lumen-co"]), actor="bidder")  # reveal's
    assert deployment.log.size == size + 1 and _last(deployment).body["reason"] == "reveal-twice"
    for _ in range(3):  # replays of either, public both: refused, never recorded again
        with pytest.raises(AlreadyExistsError):
            book.reveal(revealed("lumen-co", *docs["lumen-co"]), actor="anyone")
        with pytest.raises(ExpiredError):
            book.commit(committed("lumen-co", *docs["lumen-co"]), actor="anyone")
    assert deployment.log.size == size + 2  # the late replay once, as "late"
    book.award(TENDER.ocid, actor="ombud")
    evaluation = book.get(TENDER.ocid).evaluation
    assert evaluation is not None and evaluation.winner == "lumen-co"
    assert {b.bidder: b.status for b in evaluation.bids} == {
        "lumen-co": "valid",
        "bright-ltd": "disqualified",
    }
    # Anyone recomputes the award from the log's entries and the log's key.
    log = deployment.log
    entries = list(enumerate(log.entries(0, log.size)))
    assert audit_tender(entries, TENDER.ocid, log.verifier()) == evaluation
    # A log whose award names another winner does not verify.
    forged = [(i, e) for i, e in entries if Event.from_bytes(e).kind != "bid.revealed" or i % 2]
    with pytest.raises(VerificationError):
        audit_tender(forged, TENDER.ocid, log.verifier())
    releases = book.releases(TENDER.ocid)
    assert [r["tag"] for r in releases] == [["tender"], ["award", "contract"]]


def test_a_bid_no_checkpoint_covered_before_the_deadline_is_late(city: City) -> None:
    """The attack a backdating operator would try on a quiet log: the last checkpoint the
    witnesses cosigned before the deadline is old; a favourite bids after the deadline with
    the server's clock set back; the next checkpoint — cosigned past the deadline — covers it
    and closes the tender. The bid is still late: the cut is the last checkpoint cosigned
    before the deadline."""
    deployment, clock = city.deployment, city.clock
    book = deployment.tenders
    _publish(deployment)
    honest = bid("lumen-co", 198_000)
    book.commit(committed("lumen-co", *honest), actor="bidder")
    city.publish_checkpoint(DEADLINE - timedelta(seconds=1))
    book.observe()
    clock.now = DEADLINE + timedelta(hours=1)  # the server's clock alone closes nothing ...
    assert book.close(TENDER.ocid, actor="ombud") is None
    clock.now = DEADLINE - timedelta(days=1)  # ... and set back, it admits a late bid
    favourite = bid("late-llc", 99_000)
    book.commit(committed("late-llc", *favourite), actor="bidder")
    city.publish_checkpoint(DEADLINE + timedelta(minutes=1))  # covers the favourite's bid
    assert book.close(TENDER.ocid, actor="ombud") is not None
    book.reveal(revealed("lumen-co", *honest), actor="bidder")
    book.reveal(revealed("late-llc", *favourite), actor="bidder")
    book.award(TENDER.ocid, actor="ombud")
    evaluation = book.get(TENDER.ocid).evaluation
    assert evaluation is not None and evaluation.winner == "lumen-co"
    late = {b.bidder: b for b in evaluation.bids}["late-llc"]
    assert (late.status, late.reason) == ("disqualified", "committed after the deadline")
    log = deployment.log
    assert audit_tender(enumerate(log.entries(0, log.size)), TENDER.ocid, log.verifier())
    with pytest.raises(ConflictError):
        book.award(TENDER.ocid, actor="ombud")


def test_a_tender_without_a_bid_in_time_awards_nobody(city: City) -> None:
    deployment, clock = city.deployment, city.clock
    _publish(deployment)
    before = city.publish_checkpoint(DEADLINE - timedelta(seconds=30))  # then a quiet log
    clock.now = DEADLINE + timedelta(seconds=2)
    assert deployment.tenders.close(TENDER.ocid, actor="ombud") is None
    assert _last(deployment).kind == "deadline.reached"  # the log grows: a checkpoint follows
    size = deployment.log.size
    assert deployment.tenders.close(TENDER.ocid, actor="ombud") is None
    assert deployment.log.size == size  # one marker, not one per round
    city.publish_checkpoint(DEADLINE + timedelta(seconds=3))
    assert deployment.tenders.close(TENDER.ocid, actor="ombud") is not None
    deployment.tenders.award(TENDER.ocid, actor="ombud")  # no bid came in time: unsuccessful
    record = deployment.tenders.get(TENDER.ocid)
    assert record.evaluation is not None and record.evaluation.winner is None
    assert record.cut == before  # the last checkpoint cosigned before the deadline


def test_bidders_sign_their_commitments(city: City) -> None:
    _publish(city.deployment)
    document, salt = bid("lumen-co", 100_000)
    good = committed("lumen-co", document, salt)
    impostor = replace(good, key=committed("quiet", document, salt).key)
    size = city.deployment.log.size
    with pytest.raises(Exception, match="not signed by its key"):
        city.deployment.tenders.commit(impostor, actor="bidder")
    assert city.deployment.log.size == size  # an unsigned bid leaves nothing behind
    city.deployment.tenders.commit(good, actor="bidder")
    with pytest.raises(Exception, match="already"):
        city.deployment.tenders.commit(good, actor="bidder")
    assert _last(city.deployment).body["reason"] == "twice"
    size = city.deployment.log.size
    for _ in range(5):  # a replay of a public commitment: refused, but recorded only once
        with pytest.raises(Exception, match="already"):
            city.deployment.tenders.commit(good, actor="anyone")
    assert city.deployment.log.size == size


def test_a_bid_of_absurd_figures_does_not_stop_the_award(city: City) -> None:
    """Anyone may bid: a document whose amount is an integer of 400 digits once made every
    award of the tender (and the round's awards after it) fail with ``OverflowError``."""
    deployment, clock = city.deployment, city.clock
    _publish(deployment)
    honest = bid("lumen-co", 198_000)
    absurd = (
        b'{"v":1,"ocid":"%s","bidder":"quiet","value":{"amount":%s,"currency":"EUR"},'
        b'"attributes":{}}' % (TENDER.ocid.encode(), b"9" * 400),
        secrets.token_bytes(32),
    )
    deployment.tenders.commit(committed("lumen-co", *honest), actor="bidder")
    deployment.tenders.commit(committed("quiet", *absurd), actor="bidder")
    city.publish_checkpoint(DEADLINE - timedelta(minutes=5))
    deployment.tenders.observe()
    city.publish_checkpoint(DEADLINE + timedelta(minutes=1))
    clock.now = DEADLINE + timedelta(minutes=2)
    assert deployment.tenders.close(TENDER.ocid, actor="ombud") is not None
    deployment.tenders.reveal(revealed("lumen-co", *honest), actor="bidder")
    deployment.tenders.reveal(revealed("quiet", *absurd), actor="bidder")
    assert deployment.tenders.tend(actor="ombud") == 1
    evaluation = deployment.tenders.get(TENDER.ocid).evaluation
    assert evaluation is not None and evaluation.winner == "lumen-co"
    log = deployment.log
    assert audit_tender(enumerate(log.entries(0, log.size)), TENDER.ocid, log.verifier())


def test_a_bid_or_reveal_for_another_deployment_is_refused_with_nothing_written(
    city: City,
) -> None:
    """A staging copy holding a tender of the same ocid has the same bidders' keys and
    commitments: a bid and a reveal signed there name its origin, and production refuses them
    before writing anything — not even the marker or the close a commitment's round would
    append. So is one of version 1, which names no deployment (seal it again)."""
    deployment, clock = city.deployment, city.clock
    book = deployment.tenders
    _publish(deployment)
    honest = bid("lumen-co", 198_000)
    book.commit(committed("lumen-co", *honest), actor="bidder")
    city.publish_checkpoint(DEADLINE - timedelta(minutes=5))
    book.observe()
    clock.now = DEADLINE + timedelta(seconds=1)  # a commitment's round would mark the deadline
    size = deployment.log.size
    replayed = bid("bright-ltd", 120_000)
    for origin, error, says in (
        ("staging.example/log", ForeignBidError, "signed for deployment 'staging.example/log'"),
        (None, UnboundBidError, "names no deployment"),
    ):
        with pytest.raises(error, match=says):
            book.commit(committed("bright-ltd", *replayed, origin=origin), actor="bidder")
        assert deployment.log.size == size
    clock.now = DEADLINE - timedelta(days=1)
    city.publish_checkpoint(DEADLINE + timedelta(minutes=1))
    assert book.close(TENDER.ocid, actor="ombud") is not None
    size = deployment.log.size
    for origin, error in (("staging.example/log", ForeignBidError), (None, UnboundBidError)):
        with pytest.raises(error):
            book.reveal(revealed("lumen-co", *honest, origin=origin), actor="bidder")
        assert deployment.log.size == size
    assert book.bid(TENDER.ocid, "lumen-co").reveal is None
    book.reveal(revealed("lumen-co", *honest), actor="bidder")  # this deployment's: recorded
    assert _last(deployment).body["opens"] is True
    book.award(TENDER.ocid, actor="ombud")
    record = book.get(TENDER.ocid)
    assert record.evaluation is not None and record.evaluation.winner == "lumen-co"
    assert [b.commitment.bidder for b in book.bids(TENDER.ocid)] == ["lumen-co"]
