"""Decisions and votes, pure: a vote signed by a member's roster key, bound to its motion;
a non-member, another body or a forged vote refused by name; the tally by the majority rule."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from ombud.errors import MalformedError, NotAHolderError, RoleError, SignatureError
from ombud.governance.decisions import Motion, Vote, sign_vote, tally, verify_vote
from tests.governance.test_roster import GENESIS, KEYS

MOTION = Motion(
    "m-2026-17",
    "Night-time noise limit on the harbour front",
    "The council limits construction on the harbour front to 07:00-19:00 from January.",
    "council",
    3,
    "simple",
    datetime(2026, 12, 20, 18, tzinfo=UTC),
    "north",
)
ORIGIN = "decisions.example/log"
"""The deployment votes are signed for: the log the chamber's tests set up."""


def vote(holder: str, choice: str, motion: Motion = MOTION, origin: str | None = ORIGIN) -> Vote:
    return sign_vote(motion, holder, choice, KEYS[holder], origin=origin)


def test_votes_are_signed_by_members_of_the_body() -> None:
    verify_vote(GENESIS, MOTION, vote("council-1", "yes"), origin=ORIGIN)
    with pytest.raises(RoleError):  # another body
        verify_vote(GENESIS, MOTION, vote("officer-a", "yes"), origin=ORIGIN)
    with pytest.raises(NotAHolderError):  # not on this roster
        verify_vote(GENESIS, MOTION, vote("council-6", "yes"), origin=ORIGIN)
    forged = replace(vote("council-1", "yes"), choice="no")  # the clerk changed it
    with pytest.raises(SignatureError):
        verify_vote(GENESIS, MOTION, forged, origin=ORIGIN)
    other = replace(MOTION, quorum=1)  # another version of the motion
    with pytest.raises(MalformedError):
        verify_vote(GENESIS, other, vote("council-1", "yes"), origin=ORIGIN)


def test_the_tally_follows_the_rule() -> None:
    votes = [vote("council-1", "yes"), vote("council-2", "no"), vote("council-3", "yes")]
    assert tally(MOTION, votes).outcome == "adopted"
    assert tally(MOTION, votes[:2]).outcome == "no-quorum"
    again = [*votes, vote("council-2", "yes")]  # the first vote of each member counts
    assert tally(MOTION, again).to_json() == {
        "motion": MOTION.id, "yes": 2, "no": 1, "abstain": 0, "outcome": "adopted",
    }  # fmt: skip
    two_thirds = replace(MOTION, majority="two-thirds")
    three = [vote("council-1", "yes", two_thirds), vote("council-2", "no", two_thirds),
             vote("council-3", "abstain", two_thirds)]  # fmt: skip
    assert tally(two_thirds, three).outcome == "rejected"
    assert Motion.from_json(MOTION.to_json()) == MOTION
    with pytest.raises(MalformedError):
        Motion.from_json({**MOTION.to_json(), "textSha256": "0" * 64})
