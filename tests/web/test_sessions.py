"""Residents' portal sessions expire, end and stay bounded; CSRF tokens bind to one cookie."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ombud.errors import ForbiddenError
from ombud.web.sessions import CsrfGuard, SessionBook, new_token


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_a_session_names_its_subject_until_it_idles_out() -> None:
    clock = Clock()
    book = SessionBook(clock)
    session = book.open(b"subject-a")
    clock.now += timedelta(minutes=14)
    assert book.subject(session) == b"subject-a"  # and its idle time restarts
    clock.now += timedelta(minutes=14)
    assert book.subject(session) == b"subject-a"
    clock.now += timedelta(minutes=16)
    assert book.subject(session) is None
    assert len(book) == 0


def test_sessions_end_on_sign_out_and_on_erasure() -> None:
    book = SessionBook(Clock())
    one, two, other = book.open(b"a"), book.open(b"a"), book.open(b"b")
    book.close(one)
    assert book.subject(one) is None and book.subject(two) == b"a"
    book.close_subject(b"a")
    assert book.subject(two) is None and book.subject(other) == b"b"


def test_ids_are_random_and_unknown_ones_open_nothing() -> None:
    book = SessionBook(Clock())
    ids = {book.open(b"a") for _ in range(100)}
    assert len(ids) == 100 and all(len(i) == 43 for i in ids)
    for wrong in (None, "", "x" * 43, "y" * 10_000):
        assert book.subject(wrong) is None


def test_a_flood_of_sign_ins_keeps_only_the_newest() -> None:
    book = SessionBook(Clock(), capacity=50)
    first = book.open(b"first")
    for n in range(500):
        book.open(n.to_bytes(4, "big"))
    assert len(book) == 50 and book.subject(first) is None


def test_the_default_book_holds_4096_sessions() -> None:
    book = SessionBook(Clock())  # README: "sessions are capped at 4,096"
    first = book.open(b"first")
    for n in range(4095):
        book.open(n.to_bytes(4, "big"))
    assert len(book) == 4096
    book.open(b"one more")  # the oldest goes
    assert len(book) == 4096 and book.subject(first) is None


def test_a_csrf_token_is_good_for_its_own_cookie_only() -> None:
    guard = CsrfGuard(bytes(range(32)))
    cookie = new_token()
    guard.verify(cookie, guard.token(cookie))
    for bad_cookie, bad_token in [
        (new_token(), guard.token(cookie)),
        (cookie, guard.token(new_token())),
        (cookie, None),
        (None, guard.token(cookie)),
        (cookie, "x" * 1000),
    ]:
        with pytest.raises(ForbiddenError):
            guard.verify(bad_cookie, bad_token)
    assert CsrfGuard(bytes(32)).token(cookie) != guard.token(cookie)
    with pytest.raises(ValueError):
        CsrfGuard(b"short")
