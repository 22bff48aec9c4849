"""A small city for voice tests: a log, a published period key and residents with tokens."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ombud.database import Database
from ombud.ledger import note
from ombud.ledger.log import Log
from ombud.ledger.store_sql import SqlStore
from ombud.voice.flags import FlagBook
from ombud.voice.issuer import Issuer
from ombud.voice.posts import PostStore
from ombud.voice.redemption import TokenBook
from ombud.voice.reports import PostReports
from ombud.voice.tokens import finalize_token, load_public_key, period_challenge, request_token

ORIGIN = "ombud.city.example"
PERIOD = "2026-12"  # the period of the session-wide issuer key (tests/conftest.py)
_RESIDENTS = itertools.count()
"""Residents are unique across the session: the issuer serves each once per period."""
START = datetime(2026, 12, 3, 9, 17, 42, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Voice:
    log: Log
    posts: PostStore
    issuer: Issuer
    clock: Clock
    token: Callable[[], bytes]
    """A fresh token of PERIOD for a new resident."""
    flags: FlagBook
    reports: PostReports


def make_voice(database: Database, issuer_and_key: tuple[Issuer, bytes]) -> Voice:
    issuer, key = issuer_and_key
    clock = Clock()
    log = Log(SqlStore.create(database, "v.example/log"), note.Signer.generate("v.example/log"))
    book = TokenBook(database, origin=ORIGIN)
    book.publish(log, PERIOD, issuer.name, key, actor="operator", clock=clock)
    public = load_public_key(key)

    def token() -> bytes:
        resident = f"resident-{next(_RESIDENTS)}"
        pending = request_token(public, period_challenge(issuer.name, PERIOD, ORIGIN))
        return finalize_token(
            public, pending, issuer.issue(PERIOD, resident, pending.request)
        ).to_bytes()

    posts = PostStore(database, log, book, 30, clock)
    return Voice(log, posts, issuer, clock, token, FlagBook(posts), PostReports(database))


@pytest.fixture
def voice(database: Database, period_issuer: tuple[Issuer, bytes], tmp_path: Path) -> Voice:
    return make_voice(database, period_issuer)


ORGANIC = [
    "Bus 14 was twenty minutes late again this morning",
    "Lovely new benches in the riverside park, thank you",
    "Street light on Elm Road has been out for a week",
    "Huge pothole on Mill Lane nearly took my wheel off",
    "Recycling collection was on time today, well done",
    "Why is the library closed on Saturdays now?",
]
