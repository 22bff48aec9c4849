"""Flags: posts a coordination check found part of a campaign, kept but left out of aggregates
until an operator releases them with a reason.

Threat model: flags are public for the accountability of moderation, so a city cannot silence
posts unseen; but a flag must not reopen what the ledger keeps closed (DESIGN §4). A
``post.flagged`` leaf names the post by its commitment (a post id is half its writer's
receipt) and commits to the evidence with a salt; the public list (``Flag``) says which leaf,
which check and whether released — never a post's district, service, sentiment or text.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ombud.canonical import canonical_json
from ombud.clock import to_seconds
from ombud.database import Database, Tx
from ombud.errors import NotFoundError
from ombud.events import Event, commit, new_salt
from ombud.integrity.coordination import CoordinationSettings, PostFacts, detect
from ombud.ledger.log import Log
from ombud.release import AlreadyReleasedError, check_reason
from ombud.voice.normalise import normalise
from ombud.voice.posts import Post, PostStore

__all__ = ["PUBLIC_CHECKS", "Flag", "FlagBook", "Flagging"]

PUBLIC_CHECKS = {
    "near_duplicate": "one of a cluster of near-identical posts; the cluster's earliest is kept",
    "rate": "repeats an earlier post during an unusual surge of posts",
    "author": "an imported author's posts beyond the daily bound",
}
"""What each coordination check means, as the public flag list says it: the detailed reasons
(counts per district and service, the cluster's members) are for staff."""


@dataclass(frozen=True)
class Flag:
    """A flagged post as the public sees it: which leaf, which check, when flagged and whether
    released — never the post's district, service, sentiment or text."""

    commitment: bytes
    post_index: int
    check: str
    flagged_index: int
    released_index: int | None
    released_reason: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "commitment": self.commitment.hex(),
            "postIndex": self.post_index,
            "check": self.check,
            "meaning": PUBLIC_CHECKS.get(self.check, self.check),
            "flaggedIndex": self.flagged_index,
            "released": self.released_index is not None,
            "releasedIndex": self.released_index,
            "releaseReason": self.released_reason,
        }


@dataclass(frozen=True)
class Flagging:
    """A coordination flag about to be recorded: its ``post.flagged`` leaf names the post by
    its commitment (a post id is half its writer's receipt) and commits to the evidence with a
    salt — the evidence (district, service, counts) is guessable, so a bare hash of it would
    give it away; staff hold the evidence and the salt that opens the commitment."""

    flag: Any
    commitment: bytes
    salt: bytes = field(repr=False)

    def event(self, at: datetime) -> bytes:
        evidence = canonical_json(dict(self.flag.evidence))
        return Event(
            "post.flagged",
            at,
            "coordination",
            {
                "v": 2,
                "commitment": self.commitment.hex(),
                "check": self.flag.check,
                "evidence": commit(evidence, self.salt).hex(),
            },
        ).to_bytes()

    def insert(self, tx: Tx, index: int) -> None:
        f = self.flag
        tx.execute(
            "INSERT INTO post_flags"
            " (post, flagged_check, reason, evidence, ledger_index, evidence_salt)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (f.post_id, f.check, f.reason, json.dumps(dict(f.evidence)), index, self.salt),
        )


@dataclass
class FlagBook:
    """The flags of posts in the deployment database, written through the ledger."""

    posts: PostStore
    screen_rounds: int = field(default=0, init=False)
    """Screening passes completed by this process (``/metrics``)."""
    flagged_total: int = field(default=0, init=False)
    _screened_up_to: int = field(default=-1, init=False)
    """The highest post ledger index the last screening pass saw: with nothing newer, a pass
    would find nothing new, so it is skipped."""

    @property
    def db(self) -> Database:
        return self.posts.db

    @property
    def log(self) -> Log:
        return self.posts.log

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.posts.clock

    @property
    def random_bytes(self) -> Callable[[int], bytes]:
        return self.posts.random_bytes

    def screen(self, settings: CoordinationSettings | None = None) -> int:
        """Flag coordinated posts among those still holding text in the detection window
        (and the window before it, for the rate baseline); returns how many were newly
        flagged. Already flagged posts are never flagged twice."""
        self.screen_rounds += 1
        newest = self.db.read("SELECT max(ledger_index) FROM posts")[0][0]
        if newest is None or newest <= self._screened_up_to:
            return 0  # nothing new: the same posts give the same flags
        flagged = self._screen(settings or CoordinationSettings())
        self._screened_up_to = int(newest)  # only once the pass has committed
        return flagged

    def _screen(self, settings: CoordinationSettings) -> int:
        now = to_seconds(self.clock())
        horizon = now - settings.window_s - settings.rate_history_s
        rows = self.db.read(
            "SELECT p.id, p.received, p.district, p.service, p.text, f.post, p.commitment"
            " FROM posts p LEFT JOIN post_flags f ON f.post = p.id"
            " WHERE p.received >= ? AND p.text IS NOT NULL ORDER BY p.received, p.ledger_index",
            (horizon,),
        )
        if not rows:
            return 0
        # Times are kept to the hour; within an hour, ledger order says which came first, so
        # each post is placed that many seconds into its hour (what "earliest" needs).
        facts, hour, rank = [], -1, 0
        for r in rows:
            rank = rank + 1 if int(r[1]) == hour else 0
            hour = int(r[1])
            facts.append(PostFacts(r[0], hour + min(rank, 3599), r[2], r[3], normalise(r[4]), None))
        already = {r[0] for r in rows if r[5] is not None}
        commitments = {r[0]: bytes(r[6]) for r in rows}
        new = [
            Flagging(f, commitments[f.post_id], new_salt(self.random_bytes))
            for f in detect(facts, settings)
            if f.post_id not in already
        ]
        if not new:
            return 0
        at = self.clock()

        def build(tx: Tx) -> list[bytes]:
            return [f.event(at) for f in new]

        def record(tx: Tx, first: int) -> None:
            for offset, flagging in enumerate(new):
                flagging.insert(tx, first + offset)

        self.log.append_with(build, record)
        self.flagged_total += len(new)
        return len(new)

    def release(self, post_id: str, reason: str, *, actor: str) -> Post:
        """Put a flagged post back into aggregates (``post.flagged`` with ``released``)."""
        check_reason(reason)
        current = self.posts.get(post_id)
        if current.flag is None:
            raise NotFoundError(f"post {post_id} is not flagged")
        if current.flag_released:
            raise AlreadyReleasedError(f"post {post_id} was released already")
        event = Event(
            "post.flagged",
            self.clock(),
            actor,
            {
                "v": 2,
                "commitment": current.commitment.hex(),
                "released": True,
                "reason": reason,
            },
        ).to_bytes()

        def build(tx: Tx) -> list[bytes]:
            row = tx.execute("SELECT released_index FROM post_flags WHERE post = ?", (post_id,))
            if row and row[0][0] is not None:  # released by another request meanwhile
                raise AlreadyReleasedError(f"post {post_id} was released already")
            return [event]

        def record(tx: Tx, index: int) -> None:
            tx.execute(
                "UPDATE post_flags SET released_reason = ?, released_index = ? WHERE post = ?",
                (reason, index, post_id),
            )

        self.log.append_with(build, record)
        return self.posts.get(post_id)

    def list(self, *, limit: int = 100, post_id: str | None = None) -> list[Flag]:
        """Flagged posts, newest flag first (or the flag of ``post_id``), as the public sees
        them (``Flag``)."""
        where, args = ("WHERE f.post = ?", (post_id,)) if post_id is not None else ("", ())
        rows = self.db.read(
            "SELECT p.commitment, p.ledger_index, f.flagged_check, f.ledger_index,"
            " f.released_index, f.released_reason FROM post_flags f"
            f" JOIN posts p ON p.id = f.post {where} ORDER BY f.ledger_index DESC LIMIT ?",
            (*args, max(1, min(limit, 1000))),
        )
        return [Flag(bytes(r[0]), int(r[1]), r[2], int(r[3]), r[4], r[5]) for r in rows]
