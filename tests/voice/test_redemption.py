"""Issuer keys on the ledger, one per period; a token spent once (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ombud.database import Database
from ombud.errors import (
    AlreadyExistsError,
    ExpiredError,
    MalformedError,
    NotFoundError,
    ReplayError,
    VerificationError,
)
from ombud.events import Event
from ombud.ledger import note
from ombud.ledger.log import Log
from ombud.ledger.store_sql import SqlStore
from ombud.voice.issuer import Issuer
from ombud.voice.redemption import TokenBook
from ombud.voice.tokens import finalize_token, load_public_key, period_challenge, request_token

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
ORIGIN = "ombud.city.example"


def test_a_token_is_spent_once_under_the_published_key(database: Database, tmp_path: Path) -> None:
    log = Log(SqlStore.create(database, "v.example/log"), note.Signer.generate("v.example/log"))
    book = TokenBook(database, origin=ORIGIN)
    issuer = Issuer.init(tmp_path / "issuer", "id.city.example")
    key = issuer.create_period("2026-12")
    published = book.publish(log, "2026-12", issuer.name, key, actor="operator", clock=lambda: NOW)
    event = Event.from_bytes(log.entry(published.ledger_index))
    assert event.kind == "issuer.key_published" and event.body["period"] == "2026-12"
    with pytest.raises(AlreadyExistsError):  # one key per period: no per-resident keys
        book.publish(
            log, "2026-12", issuer.name, issuer.create_period("x"), actor="o", clock=lambda: NOW
        )

    public = load_public_key(key)
    pending = request_token(public, period_challenge(issuer.name, "2026-12", ORIGIN))
    token = finalize_token(public, pending, issuer.issue("2026-12", "r-1", pending.request))
    spent = book.check(token.to_bytes(), "2026-12", NOW)
    with database.transaction() as tx:
        TokenBook.spend(tx, spent, "2026-12")
    with pytest.raises(ReplayError), database.transaction() as tx:
        TokenBook.spend(tx, book.check(token.to_bytes(), "2026-12", NOW), "2026-12")
    assert book.spent("2026-12") == 1
    # A token for another platform, or a period without a published key, is refused.
    elsewhere = request_token(public, period_challenge(issuer.name, "2026-12", "other.example"))
    stray = finalize_token(public, elsewhere, issuer.issue("2026-12", "r-2", elsewhere.request))
    with pytest.raises(VerificationError):
        book.check(stray.to_bytes(), "2026-12", NOW)
    with pytest.raises(NotFoundError):
        book.check(token.to_bytes(), "2027-01", NOW)


def test_tokens_of_a_period_spelled_as_a_week_pay_only_during_that_week(
    database: Database, tmp_path: Path
) -> None:
    """The insight reads such a period's posts as that week's, and its DP release waits for the
    week's end: a token spent after it would add a post the released figures never counted."""
    log = Log(SqlStore.create(database, "v.example/log"), note.Signer.generate("v.example/log"))
    book = TokenBook(database, origin=ORIGIN)
    issuer = Issuer.init(tmp_path / "issuer", "id.city.example")
    with pytest.raises(MalformedError, match="not a week of its year"):
        book.publish(
            log,
            "2026-W99",
            issuer.name,
            issuer.create_period("2026-W99"),
            actor="o",
            clock=lambda: NOW,
        )
    key = issuer.create_period("2026-W49")
    book.publish(log, "2026-W49", issuer.name, key, actor="operator", clock=lambda: NOW)
    public = load_public_key(key)
    pending = request_token(public, period_challenge(issuer.name, "2026-W49", ORIGIN))
    token = finalize_token(public, pending, issuer.issue("2026-W49", "r-1", pending.request))
    monday = datetime(2026, 11, 30, tzinfo=UTC)
    with pytest.raises(ExpiredError, match="pay for posts from 2026-11-30T00:00:00"):
        book.check(token.to_bytes(), "2026-W49", monday - timedelta(microseconds=1))
    first = book.check(token.to_bytes(), "2026-W49", monday)
    assert (
        book.check(
            token.to_bytes(), "2026-W49", monday + timedelta(days=7) - timedelta(microseconds=1)
        )
        == first
    )
    with pytest.raises(ExpiredError, match=r"until 2026-12-07T00:00:00.*when that week ended"):
        book.check(token.to_bytes(), "2026-W49", monday + timedelta(days=7))
