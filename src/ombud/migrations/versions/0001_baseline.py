"""The schema as ombud wrote it before it kept a history (up to commit ef0422f).

Revision 0001, the first. On a new database it creates every domain table. On a deployment
made before the history existed, where the stores created their tables as they went, it creates
only what is missing — whole tables, and the columns added to existing tables since they were
first made (``posts.unit``, ``posts.receipt``, ``post_flags.evidence_salt``) — and keeps every
row. The statements are this revision's own copy (written for SQLite and translated for
PostgreSQL), so later changes to the packages' tables never change what it did.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ombud.database import translate_ddl

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TABLES = """
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY, digest BLOB NOT NULL, scopes TEXT NOT NULL, note TEXT NOT NULL,
    created TEXT NOT NULL, revoked INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY, did TEXT NOT NULL UNIQUE, model TEXT NOT NULL, district TEXT NOT NULL,
    owner TEXT NOT NULL, status TEXT NOT NULL, registered_index INTEGER NOT NULL,
    revoked_index INTEGER, last_counter INTEGER
) STRICT;
CREATE TABLE IF NOT EXISTS mqtt_brokers (
    broker TEXT PRIMARY KEY, started_at INTEGER, last_counter INTEGER NOT NULL,
    dropped_total INTEGER NOT NULL, last_drop_at INTEGER, updated_at INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS mqtt_workers (
    client_id TEXT PRIMARY KEY, broker TEXT NOT NULL, started_at INTEGER NOT NULL,
    seen_at INTEGER NOT NULL, watching INTEGER, dropped_since_start INTEGER NOT NULL,
    last_counter INTEGER
) STRICT;
CREATE TABLE IF NOT EXISTS observations (
    device TEXT NOT NULL, counter INTEGER NOT NULL, entity_id TEXT NOT NULL,
    created_us INTEGER NOT NULL, ledger_index INTEGER NOT NULL UNIQUE, entity BLOB NOT NULL,
    PRIMARY KEY (device, counter)
) STRICT;
CREATE INDEX IF NOT EXISTS observations_by_entity ON observations (entity_id, created_us);
CREATE INDEX IF NOT EXISTS observations_by_device_time ON observations (device, created_us);
CREATE TABLE IF NOT EXISTS entities (
    id TEXT PRIMARY KEY, type TEXT NOT NULL, device TEXT NOT NULL, counter INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS entities_by_type ON entities (type, id);
CREATE TABLE IF NOT EXISTS quarantine (
    device TEXT NOT NULL, counter INTEGER NOT NULL, district TEXT NOT NULL,
    checks TEXT NOT NULL, reason TEXT NOT NULL, evidence BLOB NOT NULL, at_us INTEGER NOT NULL,
    ledger_index INTEGER NOT NULL, released_index INTEGER, release_reason TEXT,
    PRIMARY KEY (device, counter)
) STRICT;
CREATE INDEX IF NOT EXISTS quarantine_by_time ON quarantine (at_us);
CREATE TABLE IF NOT EXISTS device_quarantine (
    ledger_index INTEGER PRIMARY KEY, device TEXT NOT NULL, district TEXT NOT NULL,
    reason TEXT NOT NULL, evidence BLOB NOT NULL, since_us INTEGER NOT NULL,
    at_us INTEGER NOT NULL, released_index INTEGER, release_reason TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS device_quarantine_by_device ON device_quarantine (device);
CREATE TABLE IF NOT EXISTS screening (
    id INTEGER PRIMARY KEY CHECK (id = 1), ledger_index INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS screening_offsets (
    device TEXT NOT NULL, attribute TEXT NOT NULL, ledger_index INTEGER NOT NULL,
    at_us INTEGER NOT NULL, delta REAL NOT NULL, PRIMARY KEY (device, attribute, ledger_index)
) STRICT;
CREATE TABLE IF NOT EXISTS issuer_keys (
    period TEXT PRIMARY KEY, issuer TEXT NOT NULL, key BLOB NOT NULL,
    ledger_index INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS spent_tokens (nullifier BLOB PRIMARY KEY, period TEXT NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS posts (
    id TEXT PRIMARY KEY, received INTEGER NOT NULL, district TEXT NOT NULL, period TEXT,
    channel TEXT NOT NULL, service_given TEXT, service TEXT NOT NULL, sentiment TEXT NOT NULL,
    scores TEXT NOT NULL, text TEXT, salt BLOB, commitment BLOB NOT NULL,
    expires INTEGER NOT NULL, source_ref BLOB UNIQUE, ledger_index INTEGER NOT NULL,
    unit TEXT, receipt BLOB
) STRICT;
CREATE INDEX IF NOT EXISTS posts_by_time ON posts (received);
CREATE INDEX IF NOT EXISTS posts_by_expiry ON posts (expires);
CREATE TABLE IF NOT EXISTS post_flags (
    post TEXT PRIMARY KEY, flagged_check TEXT NOT NULL, reason TEXT NOT NULL,
    evidence TEXT NOT NULL, ledger_index INTEGER NOT NULL, released_reason TEXT,
    released_index INTEGER, evidence_salt BLOB
) STRICT;
CREATE TABLE IF NOT EXISTS vault_meta (
    name TEXT PRIMARY KEY, master_id TEXT NOT NULL, wrapped BLOB NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS vault_subjects (
    ref BLOB PRIMARY KEY, master_id TEXT, wrapped_key BLOB, access BLOB UNIQUE,
    created INTEGER NOT NULL, erased_index INTEGER, scrubbed INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS vault_payloads (
    id TEXT PRIMARY KEY, subject BLOB NOT NULL, kind TEXT NOT NULL, nonce BLOB,
    ciphertext BLOB, salt BLOB, commitment BLOB NOT NULL, created INTEGER NOT NULL,
    expires INTEGER, ledger_index INTEGER NOT NULL, purged_index INTEGER
) STRICT;
CREATE INDEX IF NOT EXISTS vault_payloads_by_subject ON vault_payloads (subject);
CREATE INDEX IF NOT EXISTS vault_payloads_by_expiry ON vault_payloads (expires);
CREATE TABLE IF NOT EXISTS consents (
    id TEXT PRIMARY KEY, subject BLOB NOT NULL, payload TEXT NOT NULL, version INTEGER NOT NULL,
    status TEXT NOT NULL, expires INTEGER, ledger_index INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS consents_by_subject ON consents (subject);
CREATE TABLE IF NOT EXISTS dp_releases (
    id TEXT PRIMARY KEY, dataset TEXT NOT NULL, period TEXT NOT NULL, rho REAL NOT NULL,
    created INTEGER NOT NULL, result TEXT NOT NULL, ledger_index INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS dp_releases_by_period ON dp_releases (dataset, period)
"""

_LATE_COLUMNS = (
    # (table, column, type as written for SQLite): added to tables the stores had made before.
    ("posts", "unit", "TEXT"),
    ("posts", "receipt", "BLOB"),
    ("post_flags", "evidence_salt", "BLOB"),
)


def upgrade() -> None:
    bind = op.get_bind()
    dialect = bind.dialect.name
    for statement in translate_ddl(_TABLES, dialect):
        op.execute(statement)
    inspector = sa.inspect(bind)
    for table, column, kind in _LATE_COLUMNS:
        if column not in {c["name"] for c in inspector.get_columns(table)}:
            for statement in translate_ddl(
                f"ALTER TABLE {table} ADD COLUMN {column} {kind}", dialect
            ):
                op.execute(statement)
