"""The SQLite store: schema migration and the published/signed distinction."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ombud.ledger.logdir import LOG_DB, open_log
from ombud.ledger.store_sqlite import SCHEMA_VERSION, SqliteStore


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

    store = SqliteStore(log_dir / LOG_DB)
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
