"""Tracked results through a deployment, on SQLite and PostgreSQL: a result born of an adopted
decision, updates in sequence signed by the responsible office, forged or out-of-turn updates
refused, the history kept, the Decidim export."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from ombud.deployment import Deployment
from ombud.errors import (
    ConflictError,
    ForeignUpdateError,
    MalformedError,
    SignatureError,
    UnboundUpdateError,
)
from ombud.governance.results import Milestone, sign_update
from tests.governance.test_chamber import chamber, table  # noqa: F401 (the fixture)
from tests.governance.test_decisions import MOTION, ORIGIN, vote
from tests.governance.test_procurement import Clock
from tests.governance.test_results import RESULT
from tests.governance.test_roster import KEYS


def test_results_of_an_adopted_decision(chamber: tuple[Deployment, Clock]) -> None:  # noqa: F811
    deployment, clock = chamber
    book = deployment.results
    first = sign_update(
        RESULT.id, 0, "planned", 0, "", "officer-a", KEYS["officer-a"], RESULT, origin=ORIGIN
    )
    table(deployment)
    with pytest.raises(ConflictError, match="not been decided"):
        book.record(first, actor="clerk")
    for holder in ("council-1", "council-2", "council-3"):
        deployment.decisions.cast(vote(holder, "yes"), actor="clerk")
    clock.now = MOTION.closes
    deployment.decisions.decide_due(actor="ombud")
    book.record(first, actor="clerk")
    key = KEYS["officer-a"]
    with pytest.raises(ConflictError, match="out of turn"):
        book.record(
            sign_update(RESULT.id, 2, "in-progress", 30, "", "officer-a", key, origin=ORIGIN),
            actor="c",
        )
    forged = sign_update(
        RESULT.id, 1, "completed", 100, "done", "officer-a", KEYS["officer-b"], origin=ORIGIN
    )
    with pytest.raises(SignatureError):
        book.record(forged, actor="clerk")
    book.record(
        sign_update(RESULT.id, 1, "in-progress", 40, "limits in force", "officer-a", key,
                    origin=ORIGIN),
        actor="clerk",
    )  # fmt: skip
    history = book.history(RESULT.id)
    assert [(u.status, u.progress) for u, _, _ in history] == [("planned", 0), ("in-progress", 40)]
    rows = book.export()
    assert rows[0]["progress"] == 40 and rows[0]["decision"] == MOTION.id


def test_an_update_for_another_deployment_or_of_version_1_is_refused_with_nothing_written(
    chamber: tuple[Deployment, Clock],  # noqa: F811
) -> None:
    deployment, clock = chamber
    table(deployment)
    for holder in ("council-1", "council-2", "council-3"):
        deployment.decisions.cast(vote(holder, "yes"), actor="clerk")
    clock.now = MOTION.closes
    deployment.decisions.decide_due(actor="ombud")
    key = KEYS["officer-a"]
    size = deployment.log.size
    for origin, error in (("staging.example/log", ForeignUpdateError), (None, UnboundUpdateError)):
        attempt = sign_update(RESULT.id, 0, "planned", 0, "", "officer-a", key, RESULT,
                              origin=origin)  # fmt: skip
        with pytest.raises(error):
            deployment.results.record(attempt, actor="clerk")
        assert deployment.log.size == size and deployment.results.tracked() == []
    first = sign_update(RESULT.id, 0, "planned", 0, "", "officer-a", key, RESULT, origin=ORIGIN)
    deployment.results.record(first, actor="clerk")
    assert [u for u, _, _ in deployment.results.history(RESULT.id)] == [first]


def test_an_update_whose_text_holds_a_control_character_is_refused_with_nothing_written(
    chamber: tuple[Deployment, Clock],  # noqa: F811
) -> None:
    # Such a note went to the office's Atom feed as it was, and the feed was no XML at all.
    deployment, clock = chamber
    table(deployment)
    for holder in ("council-1", "council-2", "council-3"):
        deployment.decisions.cast(vote(holder, "yes"), actor="clerk")
    clock.now = MOTION.closes
    deployment.decisions.decide_due(actor="ombud")
    key = KEYS["officer-a"]
    size = deployment.log.size
    for result in (
        replace(RESULT, title="Quieter\x0b nights"),
        replace(RESULT, description="noise \x00limits"),
        replace(RESULT, milestones=(Milestone("Limits\x1b in force", date(2027, 1, 1)),)),
    ):
        attempt = sign_update(RESULT.id, 0, "planned", 0, "", "officer-a", key, result,
                              origin=ORIGIN)  # fmt: skip
        with pytest.raises(MalformedError, match="control character"):
            deployment.results.record(attempt, actor="clerk")
    assert deployment.log.size == size and deployment.results.tracked() == []
    first = sign_update(RESULT.id, 0, "planned", 0, "", "officer-a", key, RESULT, origin=ORIGIN)
    deployment.results.record(first, actor="clerk")
    size = deployment.log.size
    note = sign_update(RESULT.id, 1, "in-progress", 40, "works\x01 paused", "officer-a", key,
                       origin=ORIGIN)  # fmt: skip
    with pytest.raises(MalformedError, match="control character"):
        deployment.results.record(note, actor="clerk")
    assert deployment.log.size == size
    fine = sign_update(RESULT.id, 1, "in-progress", 40, "works paused;\n\tback in May",
                       "officer-a", key, origin=ORIGIN)  # fmt: skip
    deployment.results.record(fine, actor="clerk")
