"""The SQL layer behaves the same on SQLite and PostgreSQL: DDL, placeholders, transactions."""

from __future__ import annotations

import threading

import pytest

from ombud.database import Database, has_password, open_database, redact
from ombud.errors import ConfigError

_TABLE = "CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB NOT NULL, note TEXT) STRICT"


def test_statements_round_trip_values(database: Database) -> None:
    with database.transaction() as tx:
        for statement in database.ddl(_TABLE):
            tx.execute(statement)
    assert database.has_table("t") and not database.has_table("absent")
    with database.transaction() as tx:
        tx.executemany(
            "INSERT INTO t VALUES (?, ?, ?)", [(1 << 60, b"\x00\xff", "é"), (2, b"", None)]
        )
        assert tx.execute("SELECT count(*) FROM t") == [(2,)]
    rows = database.read("SELECT id, data, note FROM t ORDER BY id")
    assert [(i, bytes(d), n) for i, d, n in rows] == [(2, b"", None), (1 << 60, b"\x00\xff", "é")]


def test_a_failed_transaction_writes_nothing(database: Database) -> None:
    with database.transaction() as tx:
        for statement in database.ddl(_TABLE):
            tx.execute(statement)
    with pytest.raises(RuntimeError), database.transaction() as tx:
        tx.execute("INSERT INTO t VALUES (?, ?, ?)", (1, b"x", "kept?"))
        raise RuntimeError("fails after the insert")
    assert database.read("SELECT count(*) FROM t") == [(0,)]


def test_writers_are_serialised(database: Database) -> None:
    """Read-modify-write in many threads loses no increment: the write lock covers the read."""
    with database.transaction() as tx:
        tx.execute("CREATE TABLE c (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
        tx.execute("INSERT INTO c VALUES (1, 0)")

    def bump() -> None:
        for _ in range(20):
            with database.transaction() as tx:
                (n,) = tx.execute("SELECT n FROM c WHERE id = 1")[0]
                tx.execute("UPDATE c SET n = ? WHERE id = 1", (n + 1,))

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert database.read("SELECT n FROM c") == [(80,)]


def test_urls_are_checked_and_passwords_never_shown() -> None:
    with pytest.raises(ConfigError, match="neither"):
        open_database("mysql://root@localhost/x")
    assert redact("postgresql://app:s3cret@db:5432/city") == "postgresql://app:***@db:5432/city"
    db = open_database("postgresql://app:s3cret@db:5432/city")
    assert "s3cret" not in db.name
    # libpq also takes the password as a query parameter
    query = "postgresql://db/city?sslmode=require&password=s3cret&port=5433"
    assert redact(query) == "postgresql://db/city?sslmode=require&password=***&port=5433"
    assert has_password(query) and has_password("postgresql://app:s3cret@db/city")
    assert not has_password("postgresql://app@db/city?sslmode=require")
    assert redact("postgresql://[db/x") == "a malformed database URL"
