"""The SQL log store: schema migration and the published/signed distinction."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ombud.database import SqliteDatabase
from ombud.deployment import open_log
from ombud.ledger.logdir import LOG_DB
from ombud.ledger.store_sql import SCHEMA_VERSION, SqlStore


def test_schema_1_logs_are_migrated_with_their_checkpoints_published(log_dir: Path) -> None:
    log = open_log(log_dir)
    log.append_batch([b"a", b"b", b"c"])
    signed = log.checkpoint().to_bytes()
    log.close()
    # Turn the file back into what schema 1 wrote: no `cosigned` column.
    conn = sqlite3.connect(log_dir / LOG_DB)
    conn.execute("ALTER TABLE checkpoints DROP COLUMN cosigned")
    conn.execute("UPDATE meta SET value = 1 WHERE key = 'schema'")
    conn.commit()
    conn.close()

    store = SqlStore(SqliteDatabase(log_dir / LOG_DB))
    try:
        published = store.published_checkpoint()
        assert published is not None and published.note == signed
        assert store.publish_status() is None
    finally:
        store.close()
    conn = sqlite3.connect(log_dir / LOG_DB)
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == (
        SCHEMA_VERSION,
    )
    conn.close()


# --- the same log on SQLite and PostgreSQL -------------------------------------------------------

import pytest  # noqa: E402

from ombud.database import Database, Tx  # noqa: E402
from ombud.errors import ConfigError, StaleStateError  # noqa: E402
from ombud.ledger import merkle, note  # noqa: E402
from ombud.ledger.checkpoint import open_checkpoint  # noqa: E402
from ombud.ledger.log import Log  # noqa: E402

ORIGIN = "test.ombud.localhost/sql"


@pytest.fixture
def sql_log(database: Database) -> Log:
    store = SqlStore.create(database, ORIGIN)
    return Log(store, note.Signer.generate(ORIGIN))


def test_a_log_grows_proves_and_signs_on_either_database(sql_log: Log) -> None:
    entries = [f"entry {i}".encode() for i in range(700)]
    assert sql_log.append_batch(entries[:300]) == 0
    assert sql_log.append_batch(entries[300:]) == 300
    leaves = [merkle.leaf_hash(e) for e in entries]
    root = merkle.root(leaves)
    assert sql_log.state().root == root
    proof = sql_log.inclusion_proof(517, 700)
    merkle.verify_inclusion(leaves[517], 517, 700, proof, root)
    merkle.verify_consistency(
        300, 700, sql_log.consistency_proof(300, 700), merkle.root(leaves[:300]), root
    )
    assert sql_log.entries(298, 302) == entries[298:302]
    signed = sql_log.checkpoint()
    assert open_checkpoint(signed.to_bytes(), [sql_log.verifier()]).checkpoint.size == 700
    published = sql_log.published_checkpoint()
    assert published is not None and published.size == 700
    sql_log.store.set_publish_status('{"published": true}')
    assert sql_log.store.publish_status() == '{"published": true}'
    # A second process opening the same database sees the same tree.
    reopened = Log(SqlStore(sql_log.store.db), None)  # type: ignore[attr-defined]
    assert reopened.state() == sql_log.state()


def test_append_with_commits_rows_and_entries_together(sql_log: Log, database: Database) -> None:
    with database.transaction() as tx:
        tx.execute("CREATE TABLE rows (idx INTEGER PRIMARY KEY, what TEXT NOT NULL)")

    def record(tx: Tx, first: int) -> None:
        tx.executemany("INSERT INTO rows VALUES (?, ?)", [(first, "a"), (first + 1, "b")])

    assert sql_log.append_with(lambda tx: [b"a", b"b"], record) == 0
    assert database.read("SELECT idx, what FROM rows ORDER BY idx") == [(0, "a"), (1, "b")]

    def broken(tx: Tx, first: int) -> None:
        tx.execute("INSERT INTO rows VALUES (?, ?)", (first, "c"))
        raise StaleStateError("the row cannot be written")

    with pytest.raises(StaleStateError):
        sql_log.append_with(lambda tx: [b"c"], broken)
    assert sql_log.state().size == 2 and sql_log.size == 2
    assert database.read("SELECT count(*) FROM rows") == [(2,)]
    assert sql_log.append_with(lambda tx: [b"c"], lambda tx, first: None) == 2
    assert sql_log.entries(0, 3) == [b"a", b"b", b"c"]


def test_a_database_holds_one_log(database: Database) -> None:
    SqlStore.create(database, ORIGIN)
    with pytest.raises(ConfigError, match="already holds a log"):
        SqlStore.create(database, ORIGIN)
