"""Revision 0012: ``access_reads`` gains the nonce and the statement of each signed read; the
reads recorded before keep their rows, and the unique nonce refuses a replay at the database
too (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ombud import migrations
from ombud.deployment import Deployment, open_database_of
from ombud.errors import StorageError
from tests.access.test_book import Clock, _approved, _read, _request, _signed, city

__all__ = ["city"]  # the fixture, from the access tests


def test_reads_from_before_are_kept_and_a_nonce_is_unique(city: tuple[Path, Clock]) -> None:
    data_dir, clock = city
    request = _request()
    with Deployment.open(data_dir, clock=clock) as deployment:
        _approved(deployment, request)
        _read(deployment, request)
    db = open_database_of(data_dir)
    try:
        migrations.downgrade(db, "0011")  # the reads as the code before recorded them
        assert db.read("SELECT outcome, items FROM access_reads") == [("read", 1)]
        migrations.upgrade(db)
        assert migrations.current(db) == migrations.HEAD
        assert db.read("SELECT outcome, nonce, signed FROM access_reads") == [("read", None, None)]
    finally:
        db.close()
    with Deployment.open(data_dir, clock=clock) as deployment:
        signed = _signed(deployment, request)
        assert _read(deployment, request, signed=signed)
        (row,) = deployment.db.read(
            "SELECT ledger_index FROM access_reads WHERE nonce = ?", (signed.nonce,)
        )
        with pytest.raises(StorageError), deployment.db.transaction() as tx:
            tx.execute(
                "INSERT INTO access_reads (ledger_index, request, category, outcome, items, at,"
                " nonce) VALUES (?, ?, 'contact', 'read', 0, 0, ?)",
                (row[0] + 1000, request.id, signed.nonce),
            )
