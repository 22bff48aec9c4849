"""Recorded votes and result updates re-verified from a log's entries alone: version-1 ones
recorded before the log's first version-2 one still verify; a version-1 one after it (a
downgrade, or a twin deployment's old signature) and one signed for another deployment break
the audit at their entry."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from ombud.deployment import Deployment
from ombud.errors import VerificationError
from ombud.events import Event
from ombud.governance import chamber as chamber_module
from ombud.governance import decisions, delivery, results
from ombud.governance.signed_audit import UpdateAudit, VoteAudit, audit_updates, audit_votes
from tests.governance.test_chamber import chamber, table  # noqa: F401 (the fixture)
from tests.governance.test_decisions import MOTION, ORIGIN, vote
from tests.governance.test_procurement import Clock
from tests.governance.test_results import RESULT
from tests.governance.test_roster import GENESIS, KEYS


@contextmanager
def unchecked(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As ombud was before votes and updates named their deployment: no origin check."""
    with monkeypatch.context() as earlier:
        for module in (decisions, chamber_module):
            earlier.setattr(module, "verify_vote_origin", lambda *args, **kwargs: None)
        for module in (results, delivery):
            earlier.setattr(module, "verify_update_origin", lambda *args, **kwargs: None)
        yield


def entries(deployment: Deployment) -> list[tuple[int, bytes]]:
    return list(enumerate(deployment.log.entries(0, deployment.log.size)))


def test_votes_recorded_before_the_first_bound_one_verify_and_none_after(
    chamber: tuple[Deployment, Clock],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deployment, _ = chamber
    table(deployment)
    with unchecked(monkeypatch):
        deployment.decisions.cast(vote("council-1", "yes", origin=None), actor="clerk")
    deployment.decisions.cast(vote("council-2", "yes"), actor="clerk")
    assert audit_votes(entries(deployment), GENESIS, origin=ORIGIN) == VoteAudit(1, 2, 1)
    with pytest.raises(VerificationError, match="signed for deployment"):  # another log's view
        audit_votes(entries(deployment), GENESIS, origin="staging.example/log")
    with unchecked(monkeypatch):  # a version-1 vote after a version-2 one
        index = deployment.decisions.cast(vote("council-3", "no", origin=None), actor="clerk")
    with pytest.raises(VerificationError, match=rf"entry {index} .*names no deployment"):
        audit_votes(entries(deployment), GENESIS, origin=ORIGIN)


def test_a_vote_for_another_deployment_in_the_log_breaks_the_audit(
    chamber: tuple[Deployment, Clock],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deployment, _ = chamber
    table(deployment)
    with unchecked(monkeypatch):
        index = deployment.decisions.cast(
            vote("council-1", "yes", origin="staging.example/log"), actor="clerk"
        )
    with pytest.raises(VerificationError, match=rf"entry {index} .*signed for deployment"):
        audit_votes(entries(deployment), GENESIS, origin=ORIGIN)


def test_updates_recorded_before_the_first_bound_one_verify_and_none_after(
    chamber: tuple[Deployment, Clock],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ombud.governance.results import sign_update

    deployment, clock = chamber
    table(deployment)
    for holder in ("council-1", "council-2", "council-3"):
        deployment.decisions.cast(vote(holder, "yes"), actor="clerk")
    clock.now = MOTION.closes
    deployment.decisions.decide_due(actor="ombud")
    key = KEYS["officer-a"]
    with unchecked(monkeypatch):
        deployment.results.record(
            sign_update(RESULT.id, 0, "planned", 0, "", "officer-a", key, RESULT, origin=None),
            actor="clerk",
        )
    deployment.results.record(
        sign_update(RESULT.id, 1, "in-progress", 20, "", "officer-a", key, origin=ORIGIN),
        actor="clerk",
    )
    assert audit_updates(entries(deployment), GENESIS, origin=ORIGIN) == UpdateAudit(1, 2, 1)
    assert audit_votes(entries(deployment), GENESIS, origin=ORIGIN) == VoteAudit(1, 3, 0, 1)
    with unchecked(monkeypatch):
        index = deployment.results.record(
            sign_update(RESULT.id, 2, "completed", 100, "", "officer-a", key, origin=None),
            actor="clerk",
        )
    with pytest.raises(VerificationError, match=rf"entry {index} .*names no deployment"):
        audit_updates(entries(deployment), GENESIS, origin=ORIGIN)


def _rewritten(
    log: list[tuple[int, bytes]], kind: str, change: Callable[[Event], Event]
) -> list[tuple[int, bytes]]:
    """The log with its (only) entry of ``kind`` replaced, as an operator holding the log's key
    could have appended it in the first place."""
    return [
        (i, change(event).to_bytes() if (event := Event.from_bytes(e)).kind == kind else e)
        for i, e in log
    ]


def test_a_decision_the_votes_do_not_give_or_a_late_or_second_vote_breaks_the_audit(
    chamber: tuple[Deployment, Clock],  # noqa: F811
) -> None:
    # Each of these logs verified: decision verify checked the votes' signatures, but neither
    # the tally recorded nor when, or how often, a member's vote was cast.
    deployment, clock = chamber
    table(deployment)
    for holder, choice in (("council-1", "no"), ("council-2", "no"), ("council-3", "yes")):
        deployment.decisions.cast(vote(holder, choice), actor="clerk")
    clock.now = MOTION.closes
    deployment.decisions.decide_due(actor="ombud")
    log = entries(deployment)
    assert audit_votes(log, GENESIS, origin=ORIGIN) == VoteAudit(1, 3, 0, 1)
    (decided,) = [i for i, e in log if Event.from_bytes(e).kind == "decision.recorded"]

    def adopted(event: Event) -> Event:
        tally = {**event.body["tally"], "yes": 3, "no": 0, "outcome": "adopted"}
        return replace(event, body={**event.body, "tally": tally})

    with pytest.raises(VerificationError, match=rf"entry {decided} .*1 yes, 2 no, 0 abstain"):
        audit_votes(_rewritten(log, "decision.recorded", adopted), GENESIS, origin=ORIGIN)
    early = _rewritten(
        log, "decision.recorded", lambda e: replace(e, at=MOTION.closes - timedelta(seconds=1))
    )
    with pytest.raises(VerificationError, match="before its voting closed"):
        audit_votes(early, GENESIS, origin=ORIGIN)

    def cast(at: datetime, holder: str) -> bytes:
        return Event(
            "vote.cast", at, "clerk", {"v": 1, "vote": vote(holder, "yes").to_json()}
        ).to_bytes()

    size = len(log)
    for extra, says in (
        ([log[decided][1]], "decided a second time"),
        ([cast(MOTION.closes + timedelta(days=1), "council-4")], "after its voting closed"),
    ):
        with pytest.raises(VerificationError, match=rf"entry {size} .*{says}"):
            audit_votes([*log, *enumerate(extra, size)], GENESIS, origin=ORIGIN)
    late = [*log[:decided], (decided, cast(MOTION.closes, "council-4")),
            *((i + 1, e) for i, e in log[decided:])]  # fmt: skip
    with pytest.raises(VerificationError, match=rf"entry {decided} .*after its voting closed"):
        audit_votes(late, GENESIS, origin=ORIGIN)
    again = [*log[:decided], (decided, cast(MOTION.closes - timedelta(hours=1), "council-1")),
             *((i + 1, e) for i, e in log[decided:])]  # fmt: skip
    with pytest.raises(VerificationError, match=rf"entry {decided} .*a second time"):
        audit_votes(again, GENESIS, origin=ORIGIN)
