"""Revision 0009: the access requests stored before it, whole and naming their subjects, are
rewritten to their filed form (subjects as the commitments they were published as), and keep
working under the digest they were approved under and the salt of their seal (SQLite and
PostgreSQL)."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest

from ombud import migrations
from ombud.access.requests import subject_commitment
from ombud.clock import to_micros
from ombud.deployment import Deployment, open_database_of
from ombud.errors import StorageError
from ombud.governance.roster import sign_request
from tests.access.test_book import (
    KEYS,
    OTHER,
    ROSTER,
    START,
    SUBJECT,
    Clock,
    _approval,
    _events,
    _read,
    _request,
    city,
)

__all__ = ["city"]  # the fixture, from the access tests


def test_requests_from_before_keep_working_and_name_no_subject(city: tuple[Path, Clock]) -> None:
    data_dir, clock = city
    one = _request(sealed_until=START + timedelta(days=2))
    two = _request(subjects=(SUBJECT, OTHER))
    salts = {one.id: bytes(range(32)), two.id: bytes(range(32, 64))}
    with Deployment.open(data_dir, clock=clock) as deployment:
        refs = {s: deployment.vault.ref(s) for s in (SUBJECT, OTHER)}
    db = open_database_of(data_dir)
    try:
        migrations.downgrade(db, "0008")
        with db.transaction() as tx:  # as the code before 0009 stored them
            for index, made in enumerate((one, two)):
                sealed = None if made.sealed_until is None else to_micros(made.sealed_until)
                tx.execute(
                    "INSERT INTO access_requests (id, request, salt, status, sealed_until,"
                    " requested_index) VALUES (?, ?, ?, 'pending', ?, ?)",
                    (made.id, made.to_bytes(), salts[made.id], sealed, index),
                )
                for subject in made.subjects:
                    tx.execute(
                        "INSERT INTO access_subjects (request, subject_ref) VALUES (?, ?)",
                        (made.id, refs[subject]),
                    )
        migrations.upgrade(db)
        stored = b"".join(bytes(r[0]) for r in db.read("SELECT request FROM access_requests"))
        assert SUBJECT.encode() not in stored and OTHER.encode() not in stored
    finally:
        db.close()

    with Deployment.open(data_dir, clock=clock) as deployment:
        book = deployment.access
        old_digest = hashlib.sha256(salts[one.id] + one.to_bytes()).hexdigest()
        assert book.approval_params(one.id) == {"request": one.id, "digest": old_digest}
        # the view keeps the commitments the old access.requested published
        assert book.get(two.id).request.commitments == tuple(
            subject_commitment(s, salts[two.id]) for s in two.subjects
        )
        action = _approval(book, one, ROSTER)
        book.approve(
            one.id,
            action,
            [sign_request(action, n, KEYS[n]) for n in ("officer-a", "officer-b")],
            actor="x",
        )
        assert _read(deployment, one)
        mine = {m["sealed"]: m for m in book.of_subject(refs[SUBJECT])}
        assert set(mine) == {True, False} and "subject" not in mine[True]
        # several subjects under one salt: their commitments are not matched to them, and the
        # salt is given to none of them (it would test guesses of the others)
        assert mine[False]["subject"] == {"commitment": None, "salt": None}
    clock.now = START + timedelta(days=3)
    with Deployment.open(data_dir, clock=clock) as deployment:
        assert deployment.access.disclose_due() == 1
        (disclosed,) = _events(deployment, "seal.disclosed")
        assert disclosed["v"] == 1  # commitments under the seal's salt, as filed
        assert disclosed["view"]["subjects"] == [  # type: ignore[index]
            subject_commitment(SUBJECT, salts[one.id])
        ]
        opened = [m for m in deployment.access.of_subject(refs[SUBJECT]) if m["request"] == one.id]
        assert opened[0]["subject"]["commitment"] == subject_commitment(SUBJECT, salts[one.id])


def test_0009_is_not_undone_while_requests_are_stored(city: tuple[Path, Clock]) -> None:
    """Undone and applied again it would hash the filed commitments a second time and lose the
    digests approvals bind to: refused, and nothing changes."""
    data_dir, clock = city
    request = _request()
    with Deployment.open(data_dir, clock=clock) as deployment:
        deployment.access.request(request, actor="police-portal")
        before = deployment.access.approval_params(request.id)
    db = open_database_of(data_dir)
    try:
        with pytest.raises(StorageError, match="cannot be undone while access requests"):
            migrations.downgrade(db, "0008")
        assert migrations.current(db) == migrations.HEAD
    finally:
        db.close()
    with Deployment.open(data_dir, clock=clock) as deployment:
        assert deployment.access.approval_params(request.id) == before


def test_the_rewritten_requests_are_scrubbed_once_0009_commits(
    city: tuple[Path, Clock], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL the rows 0009 rewrote keep their old versions, naming subjects, until a
    VACUUM, which cannot run in the migration's transaction: the upgrade runs it after."""
    data_dir, _ = city
    db = open_database_of(data_dir)
    scrubbed: list[list[str]] = []
    try:
        migrations.downgrade(db, "0008")
        monkeypatch.setattr(db, "scrub", lambda tables: scrubbed.append(list(tables)))
        migrations.upgrade(db)
        assert scrubbed == [["access_requests"]]
        migrations.upgrade(db)  # nothing pending: nothing to scrub
        assert scrubbed == [["access_requests"]]
    finally:
        db.close()
