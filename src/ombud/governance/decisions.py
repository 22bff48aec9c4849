"""Decisions and votes: a motion (its text by hash), the body that decides, its quorum and
majority; each member's vote signed with their roster key; the tally anyone recomputes.

Threat model: a clerk who adds, drops or changes a vote, a member who votes twice or after
the close, someone who is not a member, and a vote carried over from another deployment. A
vote is an Ed25519 signature by a roster holder over the motion's id and digest, the choice
and, since vote version 2, the deployment it is cast on (its log's origin), so a vote cannot
be moved to another motion or forged by the clerk, nor replayed on a deployment set up from
the same roster genesis (a staging copy of production) where an identical motion is tabled:
both share holders' keys and motion digests, and only the origin tells them apart. A vote of
version 1 names no deployment: it is no longer cast, and one a log recorded still verifies
there only before the log's first version-2 vote (``verify_vote_origin``). ``verify_vote``
names what is wrong (a non-member, another role, a bad signature, another deployment).
``tally`` is a pure function of the motion and the votes the ledger holds: one per member, the
first that counts. Pure: values in, values out.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ombud.base64url import b64url, unb64url
from ombud.canonical import canonical_json
from ombud.clock import format_time, parse_time
from ombud.districts import is_district
from ombud.errors import (
    ForeignVoteError,
    MalformedError,
    NotAHolderError,
    RoleError,
    UnboundVoteError,
)
from ombud.governance.roster import (
    BoundStatement,
    Roster,
    check_id,
    matches,
    statement_origin,
    verify_bound,
    verify_ed25519,
)

__all__ = [
    "CHOICES",
    "MAJORITIES",
    "Motion",
    "Tally",
    "Vote",
    "sign_vote",
    "tally",
    "tally_of",
    "verify_tabled_vote",
    "verify_vote",
    "verify_vote_origin",
]

CHOICES = ("yes", "no", "abstain")
MAJORITIES = ("simple", "two-thirds")
"""``simple``: more yes than no; ``two-thirds``: at least two yes for each no, and one yes.
Abstentions count towards the quorum only."""
_DOMAIN = b"ombud-vote/v1\n"
_DOMAIN_V2 = b"ombud-vote/v2\n"
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Motion:
    """A motion: its text (published; its SHA-256 on the ledger), the role that votes on it,
    the votes that make a quorum, the majority, and when voting closes."""

    id: str
    title: str
    text: str
    body: str
    quorum: int
    majority: str
    closes: datetime
    district: str | None = None

    def __post_init__(self) -> None:
        check_id(self.id, "a motion id")
        check_id(self.body, "the deciding body (a roster role)")
        if not isinstance(self.title, str) or not 0 < len(self.title) <= 200:
            raise MalformedError("a motion's title is 1-200 characters")
        if not isinstance(self.text, str) or not 0 < len(self.text) <= 20_000:
            raise MalformedError("a motion's text is 1-20,000 characters")
        if isinstance(self.quorum, bool) or not isinstance(self.quorum, int) or self.quorum < 1:
            raise MalformedError("a motion's quorum is a positive number of votes")
        if self.majority not in MAJORITIES:
            raise MalformedError(f"a majority is one of {', '.join(MAJORITIES)}")
        if self.district is not None and not is_district(self.district):
            raise MalformedError("a district is 1-64 letters, digits and . _ -")
        format_time(self.closes)

    @property
    def text_sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def public_json(self) -> dict[str, Any]:
        """What the ledger holds: everything but the text, which it holds by hash."""
        return {
            "v": 1,
            "id": self.id,
            "title": self.title,
            "textSha256": self.text_sha256,
            "body": self.body,
            "quorum": self.quorum,
            "majority": self.majority,
            "closes": format_time(self.closes),
            "district": self.district,
        }

    @property
    def digest(self) -> str:
        return hashlib.sha256(canonical_json(self.public_json(), "a motion")).hexdigest()

    def to_json(self) -> dict[str, Any]:
        return {**self.public_json(), "text": self.text}

    @classmethod
    def from_json(cls, obj: Any) -> Motion:
        keys = {"v", "id", "title", "text", "body", "quorum", "majority", "closes", "district"}
        if not isinstance(obj, dict) or not set(obj) <= keys | {"textSha256"}:
            raise MalformedError(f"a motion is an object with {sorted(keys)}")
        if obj.get("v") != 1 or not isinstance(obj.get("closes"), str):
            raise MalformedError("a motion is version 1 and closes at a time")
        try:
            motion = cls(
                obj["id"], obj["title"], obj["text"], obj["body"], obj["quorum"],
                obj["majority"], parse_time(obj["closes"]), obj.get("district"),
            )  # fmt: skip
        except KeyError as exc:
            raise MalformedError(f"a motion names its {exc.args[0]}") from None
        if "textSha256" in obj and obj["textSha256"] != motion.text_sha256:
            raise MalformedError("the motion's text does not have its stated hash")
        return motion


@dataclass(frozen=True)
class Vote(BoundStatement):
    """A member's vote: the motion (id and digest), the choice and, from vote version 2 on,
    the deployment it is cast on (``origin``, its log's origin), signed by the holder's key. A
    vote without an origin is version 1, in the exact form it had before."""

    motion: str
    digest: str
    holder: str
    choice: str
    signature: bytes
    origin: str | None = None

    def __post_init__(self) -> None:
        check_id(self.motion, "a motion id")
        check_id(self.holder, "a holder id")
        if not matches(_HEX64, self.digest):
            raise MalformedError("a vote names its motion's digest (64 hex digits)")
        if self.choice not in CHOICES:
            raise MalformedError(f"a vote is one of {', '.join(CHOICES)}")
        if len(self.signature) != 64:
            raise MalformedError("a vote's signature is 64 bytes")
        self._check_origin()

    _DOMAINS = (_DOMAIN, _DOMAIN_V2)
    _WHAT = "a vote"

    def _fields(self) -> dict[str, Any]:
        return {
            "motion": self.motion,
            "digest": self.digest,
            "holder": self.holder,
            "choice": self.choice,
        }

    def to_json(self) -> dict[str, Any]:
        return {**self._content(), "signature": b64url(self.signature)}

    @classmethod
    def from_json(cls, obj: Any) -> Vote:
        keys = {"motion", "digest", "holder", "choice", "signature"}
        origin = statement_origin(obj, keys, "a vote")
        signature = unb64url(obj["signature"], "a vote's signature", 64)
        return cls(obj["motion"], obj["digest"], obj["holder"], obj["choice"], signature, origin)


def sign_vote(
    motion: Motion, holder: str, choice: str, key: Ed25519PrivateKey, *, origin: str | None
) -> Vote:
    """``holder``'s vote on ``motion``, cast on the deployment whose log's origin is
    ``origin`` (version 2); ``origin=None`` makes a version-1 vote, which no deployment takes
    any longer (for tests of recorded history only)."""
    unsigned = Vote(motion.id, motion.digest, holder, choice, b"\0" * 64, origin)
    signature = key.sign(unsigned.signed_message())
    return Vote(motion.id, motion.digest, holder, choice, signature, origin)


def verify_vote_origin(vote: Vote, origin: str, *, recorded: bool = False) -> None:
    """None when ``vote`` is bound to the deployment whose log's origin is ``origin``; raises
    ``ForeignVoteError`` (signed for another deployment) or, unless ``recorded``,
    ``UnboundVoteError`` (a version-1 vote, which names no deployment). ``recorded`` is for
    history a log already holds, before its first version-2 vote: a version-1 vote recorded
    before votes named their deployment still counts there, and nowhere else."""
    verify_bound(
        vote.origin, origin, recorded=recorded, what=("vote", "vote", "sign"),
        foreign=ForeignVoteError, unbound=UnboundVoteError,
    )  # fmt: skip


def verify_vote(
    roster: Roster, motion: Motion, vote: Vote, *, origin: str, recorded: bool = False
) -> None:
    """None when ``vote`` is a valid vote on ``motion`` by a member of its body in ``roster``,
    cast on the deployment whose log's origin is ``origin``; raises the errors of
    ``verify_vote_origin`` (``UnboundVoteError`` unless ``recorded``, ``ForeignVoteError``),
    ``MalformedError`` (another motion), ``NotAHolderError`` (not on the roster: a non-member,
    or removed), ``RoleError`` (not of the deciding body) or ``SignatureError``."""
    verify_tabled_vote(
        roster, motion.id, motion.digest, motion.body, vote, origin=origin, recorded=recorded
    )


def verify_tabled_vote(
    roster: Roster,
    motion_id: str,
    digest: str,
    body: str,
    vote: Vote,
    *,
    origin: str,
    recorded: bool = False,
) -> None:
    """``verify_vote`` against a motion known by its id, digest and deciding body: what a log
    holds of it (``motion.tabled`` carries its text by hash), for offline verifiers."""
    verify_vote_origin(vote, origin, recorded=recorded)
    if (vote.motion, vote.digest) != (motion_id, digest):
        raise MalformedError("the vote is for another motion, or another version of it")
    holder = roster.holder(vote.holder)
    if holder is None:
        raise NotAHolderError(f"{vote.holder} holds no office in roster version {roster.version}")
    if holder.role != body:
        raise RoleError(f"{holder.id} is {holder.role}; {motion_id} is decided by {body}")
    verify_ed25519(
        holder.key,
        vote.signature,
        vote.signed_message(),
        f"{holder.id}'s vote is not signed by their key",
    )


@dataclass(frozen=True)
class Tally:
    motion: str
    yes: int
    no: int
    abstain: int
    outcome: str

    def to_json(self) -> dict[str, Any]:
        return {
            "motion": self.motion,
            "yes": self.yes,
            "no": self.no,
            "abstain": self.abstain,
            "outcome": self.outcome,
        }


def tally(motion: Motion, votes: Iterable[Vote]) -> Tally:
    """The result of the votes cast (the first of each member counts): ``no-quorum`` when
    fewer than the quorum voted, else ``adopted`` or ``rejected`` by the majority rule."""
    return tally_of(motion.id, motion.quorum, motion.majority, votes)


def tally_of(motion_id: str, quorum: int, majority: str, votes: Iterable[Vote]) -> Tally:
    """``tally`` of a motion known by its id, quorum and majority: what a log holds of it
    (``motion.tabled`` carries its text by hash), for offline verifiers."""
    counted: dict[str, str] = {}
    for vote in votes:
        if vote.motion == motion_id:
            counted.setdefault(vote.holder, vote.choice)
    yes = sum(c == "yes" for c in counted.values())
    no = sum(c == "no" for c in counted.values())
    abstain = sum(c == "abstain" for c in counted.values())
    two_thirds = yes > 0 and 3 * yes >= 2 * (yes + no)
    carried = yes > no if majority == "simple" else two_thirds
    outcome = "adopted" if carried else "rejected"
    if len(counted) < quorum:
        outcome = "no-quorum"
    return Tally(motion_id, yes, no, abstain, outcome)
