"""The platform's side of tokens: issuer keys published on the ledger, tokens spent once.

Threat model: an issuer that gave each resident a key of their own could recognise them by the
key their token names; so each period has exactly one issuer key, published as an
``issuer.key_published`` ledger event before any token of the period is accepted, and a token
verifies only against it. A token is spent at most once: its nullifier (SHA-256 of the token)
is stored inside the transaction that accepts what it pays for, so two concurrent posts with
one token cannot both land (the primary key refuses the second). Nothing here knows who a
resident is.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ombud.clock import format_time, week_shaped, week_window
from ombud.database import Database, Tx
from ombud.errors import (
    AlreadyExistsError,
    ExpiredError,
    MalformedError,
    NotFoundError,
    ReplayError,
    VerificationError,
)
from ombud.events import Event
from ombud.ledger.log import Log
from ombud.voice.issuer import PERIOD
from ombud.voice.tokens import (
    Token,
    load_public_key,
    nullifier,
    period_challenge,
    token_key_id,
    verify_token,
)

__all__ = ["IssuerKey", "TokenBook", "check_open"]


@dataclass(frozen=True)
class IssuerKey:
    period: str
    issuer: str
    key: bytes
    """RFC 9578 §6.5 encoding."""
    ledger_index: int


def check_open(period: str, now: datetime) -> None:
    """None unless ``period`` is spelled as an ISO week and ``now`` is outside it; raises.
    The insight reads such a period's posts as that week's, and its release waits for the
    week's end to count them all, so its tokens pay only during the week."""
    if not week_shaped(period):
        return  # the issuer's free label
    start, end = week_window(period)
    if now < start:
        raise ExpiredError(f"tokens of {period} pay for posts from {format_time(start)}")
    if now >= end:
        raise ExpiredError(
            f"tokens of {period} paid for posts until {format_time(end)}, when that week ended"
        )


class TokenBook:
    """Published issuer keys and spent tokens, in the deployment database."""

    def __init__(self, db: Database, *, origin: str) -> None:
        self.db = db
        self.origin = origin
        """The platform's name, bound into every challenge (RFC 9577 origin_info)."""

    def publish(
        self,
        log: Log,
        period: str,
        issuer: str,
        key: bytes,
        *,
        actor: str,
        clock: Callable[[], datetime],
    ) -> IssuerKey:
        """Publish the one issuer key of ``period`` (``issuer.key_published``)."""
        if not PERIOD.fullmatch(period):
            raise MalformedError(f"period {period[:40]!r} must be 1-32 letters, digits, . _ -")
        if week_shaped(period):
            week_window(period)  # 2026-W99 is no week its tokens could be spent in
        public = load_public_key(key)
        period_challenge(issuer, period, self.origin).to_bytes()  # refuses a bad issuer name
        event = Event(
            "issuer.key_published",
            clock(),
            actor,
            {
                "v": 1,
                "period": period,
                "issuer": issuer,
                "key": base64.b64encode(key).decode("ascii"),
                "keyId": token_key_id(public).hex(),
            },
        ).to_bytes()

        def check(tx: Tx) -> list[bytes]:
            if tx.execute("SELECT 1 FROM issuer_keys WHERE period = ?", (period,)):
                raise AlreadyExistsError(f"period {period} already has a published issuer key")
            return [event]

        def record(tx: Tx, index: int) -> None:
            tx.execute(
                "INSERT INTO issuer_keys (period, issuer, key, ledger_index) VALUES (?, ?, ?, ?)",
                (period, issuer, key, index),
            )

        index = log.append_with(check, record)
        return IssuerKey(period, issuer, key, index)

    def key(self, period: str) -> IssuerKey:
        rows = self.db.read(
            "SELECT issuer, key, ledger_index FROM issuer_keys WHERE period = ?", (period,)
        )
        if not rows:
            raise NotFoundError(f"no issuer key is published for period {period[:40]!r}")
        issuer, key, index = rows[0]
        return IssuerKey(period, issuer, bytes(key), index)

    def period_of(self, token: bytes) -> str:
        """The period whose published key and challenge ``token`` names.

        A token names its key (``token_key_id``) and the hash of its challenge, which binds the
        period; so a client need not say which period it pays for, and cannot lie about it.
        """
        parsed = Token.from_bytes(token)
        for period, issuer, key in self.db.read("SELECT period, issuer, key FROM issuer_keys"):
            if hmac.compare_digest(
                token_key_id(load_public_key(bytes(key))), parsed.token_key_id
            ) and hmac.compare_digest(
                period_challenge(issuer, period, self.origin).digest(),
                parsed.challenge_digest,
            ):
                return str(period)
        raise VerificationError(
            "this token names no published issuer key and period of this platform "
            f"(origin {self.origin})"
        )

    def check(self, token: bytes, period: str, now: datetime) -> bytes:
        """Verify ``token`` for ``period`` at ``now`` (pure reads); returns its nullifier."""
        check_open(period, now)
        published = self.key(period)
        parsed = Token.from_bytes(token)
        verify_token(
            load_public_key(published.key),
            parsed,
            period_challenge(published.issuer, period, self.origin),
        )
        return nullifier(parsed)

    @staticmethod
    def spend(tx: Tx, spent: bytes, period: str) -> None:
        """Record a checked token's nullifier inside the transaction that accepts what it
        pays for; a token already spent is refused."""
        if tx.execute("SELECT 1 FROM spent_tokens WHERE nullifier = ?", (spent,)):
            raise ReplayError("this token was already used")
        tx.execute("INSERT INTO spent_tokens (nullifier, period) VALUES (?, ?)", (spent, period))

    def spent(self, period: str) -> int:
        """How many tokens of ``period`` were spent."""
        return int(
            self.db.read("SELECT count(*) FROM spent_tokens WHERE period = ?", (period,))[0][0]
        )
