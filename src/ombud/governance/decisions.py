"""Decisions and votes: a motion (its text by hash), the body that decides, its quorum and
majority; each member's vote signed with their roster key; the tally anyone recomputes.

Threat model: a clerk who adds, drops or changes a vote, a member who votes twice or after
the close, and someone who is not a member. A vote is an Ed25519 signature by a roster holder
over the motion's id and digest and the choice, so a vote cannot be moved to another motion or
forged by the clerk; ``verify_vote`` names what is wrong (a non-member, another role, a bad
signature). ``tally`` is a pure function of the motion and the votes the ledger holds: one per
member, the first that counts. Pure: values in, values out.
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
from ombud.errors import MalformedError, NotAHolderError, RoleError
from ombud.governance.roster import Roster, check_id, matches, verify_ed25519

__all__ = ["CHOICES", "MAJORITIES", "Motion", "Tally", "Vote", "sign_vote", "tally", "verify_vote"]

CHOICES = ("yes", "no", "abstain")
MAJORITIES = ("simple", "two-thirds")
"""``simple``: more yes than no; ``two-thirds``: at least two yes for each no, and one yes.
Abstentions count towards the quorum only."""
_DOMAIN = b"ombud-vote/v1\n"
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
class Vote:
    """A member's vote: the motion (id and digest), the choice, signed by the holder's key."""

    motion: str
    digest: str
    holder: str
    choice: str
    signature: bytes

    def __post_init__(self) -> None:
        check_id(self.motion, "a motion id")
        check_id(self.holder, "a holder id")
        if not matches(_HEX64, self.digest):
            raise MalformedError("a vote names its motion's digest (64 hex digits)")
        if self.choice not in CHOICES:
            raise MalformedError(f"a vote is one of {', '.join(CHOICES)}")
        if len(self.signature) != 64:
            raise MalformedError("a vote's signature is 64 bytes")

    def signed_message(self) -> bytes:
        return _DOMAIN + canonical_json(
            {"motion": self.motion, "digest": self.digest, "holder": self.holder,
             "choice": self.choice},
            "a vote",
        )  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {
            "motion": self.motion,
            "digest": self.digest,
            "holder": self.holder,
            "choice": self.choice,
            "signature": b64url(self.signature),
        }

    @classmethod
    def from_json(cls, obj: Any) -> Vote:
        keys = {"motion", "digest", "holder", "choice", "signature"}
        if not isinstance(obj, dict) or set(obj) != keys:
            raise MalformedError(f"a vote is an object with exactly {sorted(keys)}")
        signature = unb64url(obj["signature"], "a vote's signature", 64)
        return cls(obj["motion"], obj["digest"], obj["holder"], obj["choice"], signature)


def sign_vote(motion: Motion, holder: str, choice: str, key: Ed25519PrivateKey) -> Vote:
    unsigned = Vote(motion.id, motion.digest, holder, choice, b"\0" * 64)
    return Vote(motion.id, motion.digest, holder, choice, key.sign(unsigned.signed_message()))


def verify_vote(roster: Roster, motion: Motion, vote: Vote) -> None:
    """None when ``vote`` is a valid vote on ``motion`` by a member of its body in ``roster``;
    raises ``MalformedError`` (another motion), ``NotAHolderError`` (not on the roster: a
    non-member, or removed), ``RoleError`` (not of the deciding body) or ``SignatureError``."""
    if (vote.motion, vote.digest) != (motion.id, motion.digest):
        raise MalformedError("the vote is for another motion, or another version of it")
    holder = roster.holder(vote.holder)
    if holder is None:
        raise NotAHolderError(f"{vote.holder} holds no office in roster version {roster.version}")
    if holder.role != motion.body:
        raise RoleError(f"{holder.id} is {holder.role}; {motion.id} is decided by {motion.body}")
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
    counted: dict[str, str] = {}
    for vote in votes:
        if vote.motion == motion.id:
            counted.setdefault(vote.holder, vote.choice)
    yes = sum(c == "yes" for c in counted.values())
    no = sum(c == "no" for c in counted.values())
    abstain = sum(c == "abstain" for c in counted.values())
    two_thirds = yes > 0 and 3 * yes >= 2 * (yes + no)
    carried = yes > no if motion.majority == "simple" else two_thirds
    outcome = "adopted" if carried else "rejected"
    if len(counted) < motion.quorum:
        outcome = "no-quorum"
    return Tally(motion.id, yes, no, abstain, outcome)
