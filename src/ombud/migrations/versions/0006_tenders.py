"""Tenders and their sealed bids.

Revision 0006, after 0005. ``ombud.governance`` keeps each published tender (the last
checkpoint the witnesses cosigned before its deadline, the ledger entries that closed and
awarded it, the cut and the evaluation), each bid (its commitment, and its reveal once
made) and each kind of refusal recorded per bidder (once).
"""

from __future__ import annotations

from alembic import op

from ombud.database import translate_ddl

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    script = """
    CREATE TABLE tenders (
        ocid TEXT NOT NULL PRIMARY KEY,
        tender BLOB NOT NULL,
        published_index INTEGER NOT NULL,
        published_at INTEGER NOT NULL,
        before_size INTEGER,
        before_note BLOB,
        closed_index INTEGER,
        cut INTEGER,
        awarded_index INTEGER,
        evaluation BLOB
    ) STRICT;
    CREATE TABLE tender_bids (
        ocid TEXT NOT NULL,
        bidder TEXT NOT NULL,
        commitment BLOB NOT NULL,
        committed_index INTEGER NOT NULL,
        committed_at INTEGER NOT NULL,
        reveal BLOB,
        revealed_index INTEGER,
        PRIMARY KEY (ocid, bidder)
    ) STRICT;
    CREATE TABLE tender_refusals (
        ocid TEXT NOT NULL,
        bidder TEXT NOT NULL,
        reason TEXT NOT NULL,
        ledger_index INTEGER NOT NULL,
        PRIMARY KEY (ocid, bidder, reason)
    ) STRICT
    """
    for statement in translate_ddl(script, dialect):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    script = "DROP TABLE tender_refusals; DROP TABLE tender_bids; DROP TABLE tenders"
    for statement in translate_ddl(script, dialect):
        op.execute(statement)
