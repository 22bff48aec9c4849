"""Decisions through a deployment, on SQLite and PostgreSQL: a motion tabled by the roster's
signatures, members' votes recorded; a vote after closing, a double vote, a non-member's and a
forged one each refused and recorded; the decision's tally recomputed from the ledger."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from ombud.deployment import Deployment, init_deployment
from ombud.errors import (
    AlreadyExistsError,
    ExpiredError,
    ForeignVoteError,
    MalformedError,
    NotAHolderError,
    SignatureError,
    UnboundVoteError,
)
from ombud.events import Event
from ombud.governance.decisions import Motion, Vote, tally
from ombud.governance.roster import ActionRequest
from tests.governance.test_decisions import MOTION, vote
from tests.governance.test_procurement import Clock
from tests.governance.test_roster import GENESIS, signed


@pytest.fixture(params=["sqlite", "postgresql"])
def chamber(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Deployment, Clock]]:
    url = request.getfixturevalue("postgres_schema") if request.param == "postgresql" else ""
    init_deployment(tmp_path / "city", "decisions.example/log", database_url=url)
    clock = Clock()
    clock.now = MOTION.closes - timedelta(days=5)
    with Deployment.open(tmp_path / "city", clock=clock) as deployment:
        deployment.establish_roster(GENESIS, actor="clerk")
        yield deployment, clock


def table(deployment: Deployment, motion: Motion = MOTION) -> None:
    request = ActionRequest(
        "motion.table",
        {"motion": motion.to_json()},
        GENESIS.version,
        GENESIS.digest,
        "council-1",
        secrets.token_hex(16),
        deployment.clock() + timedelta(days=1),
        deployment.log.origin,
    )
    deployment.submit(request, signed(request, "council-2", "council-3", "council-4"), actor="x")


def _last(deployment: Deployment) -> Event:
    size = deployment.log.size
    return Event.from_bytes(deployment.log.entries(size - 1, size)[0])


def test_a_vote_refused_for_each_reason_and_a_tally_that_recomputes(
    chamber: tuple[Deployment, Clock],
) -> None:
    deployment, clock = chamber
    book = deployment.decisions
    table(deployment)
    tabled = [e for e in map(Event.from_bytes, deployment.log.entries(0, deployment.log.size))
              if e.kind == "motion.tabled"]  # fmt: skip
    assert tabled[0].body["motion"]["textSha256"] == MOTION.text_sha256
    assert "text" not in tabled[0].body["motion"]  # the ledger holds the text by its hash
    for holder, choice in (("council-1", "yes"), ("council-2", "no"), ("council-3", "yes")):
        book.cast(vote(holder, choice), actor="clerk")
    refusals = [
        (vote("council-1", "no"), AlreadyExistsError, "double-vote"),
        (vote("council-6", "yes"), NotAHolderError, "not-a-member"),
        (replace(vote("council-4", "no"), choice="yes"), SignatureError, "bad-signature"),
    ]
    for attempt, error, reason in refusals:
        with pytest.raises(error):
            book.cast(attempt, actor="clerk")
        assert (_last(deployment).kind, _last(deployment).body["reason"]) == (
            "vote.refused",
            reason,
        )
    clock.now = MOTION.closes
    with pytest.raises(ExpiredError):
        book.cast(vote("council-5", "yes"), actor="clerk")
    assert _last(deployment).body["reason"] == "after-closing"
    assert book.decide_due(actor="ombud") == 1
    decided = book.get(MOTION.id)
    assert decided.tally is not None and decided.tally.outcome == "adopted"
    # Anyone recomputes the tally from the ledger's vote.cast events.
    cast = [Vote.from_json(e.body["vote"]) for e in map(Event.from_bytes,
            deployment.log.entries(0, deployment.log.size)) if e.kind == "vote.cast"]  # fmt: skip
    assert (
        tally(MOTION, cast) == decided.tally == tally(MOTION, [v for v, _ in book.votes(MOTION.id)])
    )


def test_a_vote_for_another_deployment_or_of_version_1_is_refused_with_nothing_written(
    chamber: tuple[Deployment, Clock], tmp_path: Path
) -> None:
    """Two deployments set up from one genesis (a staging copy of this one) table the same
    motion: a member's vote cast on staging is refused here, and so is a version-1 vote (it
    names no deployment), each before anything is written; the member's vote for this
    deployment counts."""
    deployment, clock = chamber
    table(deployment)
    init_deployment(tmp_path / "staging", "staging.example/log")
    with Deployment.open(tmp_path / "staging", clock=clock) as staging:
        staging.establish_roster(GENESIS, actor="clerk")
        table(staging)
        assert staging.decisions.get(MOTION.id).motion.digest == MOTION.digest
        on_staging = vote("council-1", "yes", origin=staging.log.origin)
        staging.decisions.cast(on_staging, actor="clerk")
    size = deployment.log.size
    for attempt, error, says in (
        (on_staging, ForeignVoteError, r"signed for deployment 'staging\.example/log'"),
        (vote("council-1", "yes", origin=None), UnboundVoteError, "names no deployment"),
    ):
        with pytest.raises(error, match=says):
            deployment.decisions.cast(attempt, actor="clerk")
        assert deployment.log.size == size  # no vote.cast, no vote.refused
        assert deployment.decisions.votes(MOTION.id) == []
    deployment.decisions.cast(vote("council-1", "yes"), actor="clerk")
    assert [v.holder for v, _ in deployment.decisions.votes(MOTION.id)] == ["council-1"]


def test_a_motion_whose_title_or_text_holds_a_control_character_is_not_tabled(
    chamber: tuple[Deployment, Clock],
) -> None:
    # Its title went to the district's Atom feed as it was, and the feed was no XML at all.
    deployment, _ = chamber
    size = deployment.log.size
    for motion in (replace(MOTION, title="Night\x0b limit"), replace(MOTION, text="07:00\x00")):
        with pytest.raises(MalformedError, match="control character"):
            table(deployment, motion)
        assert deployment.log.size == size and deployment.decisions.all() == []
    table(deployment, replace(MOTION, text="The council limits construction:\n\t07:00-19:00."))
    assert [r.motion.id for r in deployment.decisions.all()] == [MOTION.id]
