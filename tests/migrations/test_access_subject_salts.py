"""Revision 0009: the access requests stored before it, whole and naming their subjects, are
rewritten to their filed form (subjects as the commitments they were published as), and keep
working under the digest they were approved under and the salt of their seal (SQLite and
PostgreSQL)."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta
from pathlib import Path

from ombud import migrations
from ombud.access.requests import subject_commitment
from ombud.clock import to_micros
from ombud.deployment import Deployment, open_database_of
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
        assert book.read(one.id, SUBJECT, "contact", actor="police")
        mine = {m["sealed"]: m for m in book.of_subject(refs[SUBJECT])}
        assert set(mine) == {True, False} and "subject" not in mine[True]
        assert mine[False]["subject"] == {  # several subjects: the commitment is not matched
            "commitment": None,
            "salt": base64.b64encode(salts[two.id]).decode(),
        }
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
