"""Issuer keys on the ledger, one per period; a token spent once (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ombud.database import Database
from ombud.errors import AlreadyExistsError, NotFoundError, ReplayError, VerificationError
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
    spent = book.check(token.to_bytes(), "2026-12")
    with database.transaction() as tx:
        TokenBook.spend(tx, spent, "2026-12")
    with pytest.raises(ReplayError), database.transaction() as tx:
        TokenBook.spend(tx, book.check(token.to_bytes(), "2026-12"), "2026-12")
    assert book.spent("2026-12") == 1
    # A token for another platform, or a period without a published key, is refused.
    elsewhere = request_token(public, period_challenge(issuer.name, "2026-12", "other.example"))
    stray = finalize_token(public, elsewhere, issuer.issue("2026-12", "r-2", elsewhere.request))
    with pytest.raises(VerificationError):
        book.check(stray.to_bytes(), "2026-12")
    with pytest.raises(NotFoundError):
        book.check(token.to_bytes(), "2027-01")
