"""Decisions and votes, pure: a vote signed by a member's roster key, bound to its motion;
a non-member, another body or a forged vote refused by name; the tally by the majority rule."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from ombud.errors import (
    ForeignVoteError,
    MalformedError,
    NotAHolderError,
    RoleError,
    SignatureError,
    UnboundVoteError,
)
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


def test_a_vote_names_its_deployment_since_version_2() -> None:
    """Version 2 binds the deployment's origin (in the JSON, the signed message and its own
    domain); a vote for another deployment is refused by name; a version-1 vote keeps its exact
    bytes and counts only as recorded history (``recorded``), and stripping a version-2 vote's
    origin does not make it one."""
    bound = vote("council-1", "yes")
    assert bound.version == 2 and bound.to_json()["v"] == 2
    assert bound.to_json()["origin"] == ORIGIN and Vote.from_json(bound.to_json()) == bound
    assert bound.signed_message().startswith(b"ombud-vote/v2\n")
    assert b'"origin":"decisions.example/log"' in bound.signed_message()
    with pytest.raises(ForeignVoteError, match=r"signed for deployment 'decisions\.example/log'"):
        verify_vote(GENESIS, MOTION, bound, origin="staging.example/log")
    with pytest.raises(ForeignVoteError):  # recorded history must be this log's too
        verify_vote(GENESIS, MOTION, bound, origin="staging.example/log", recorded=True)
    moved = replace(bound, origin="staging.example/log")  # the clerk re-addresses it
    with pytest.raises(SignatureError):
        verify_vote(GENESIS, MOTION, moved, origin="staging.example/log")
    old = vote("council-1", "yes", origin=None)
    assert old.version == 1 and old.to_json() == {
        "motion": MOTION.id, "digest": MOTION.digest, "holder": "council-1", "choice": "yes",
        "signature": old.to_json()["signature"],
    }  # fmt: skip
    assert old.signed_message() == (
        b'ombud-vote/v1\n{"choice":"yes","digest":"' + MOTION.digest.encode()
        + b'","holder":"council-1","motion":"m-2026-17"}'
    )  # fmt: skip
    assert Vote.from_json(old.to_json()) == old
    with pytest.raises(UnboundVoteError, match="names no deployment"):
        verify_vote(GENESIS, MOTION, old, origin=ORIGIN)
    verify_vote(GENESIS, MOTION, old, origin=ORIGIN, recorded=True)
    with pytest.raises(SignatureError):  # a downgrade: v2's signature does not sign v1's bytes
        verify_vote(GENESIS, MOTION, replace(bound, origin=None), origin=ORIGIN, recorded=True)
    for bad in (
        {**bound.to_json(), "v": 1},
        {**bound.to_json(), "v": True},
        {**bound.to_json(), "origin": "has space"},
        {**bound.to_json(), "origin": None},
        {**old.to_json(), "origin": ORIGIN},
        {**old.to_json(), "v": 1},
    ):
        with pytest.raises(MalformedError):
            Vote.from_json(bad)
