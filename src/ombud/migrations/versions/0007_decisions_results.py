"""Decisions and their votes; tracked results and their updates.

Revision 0007, after 0006. ``ombud.governance`` keeps each motion tabled (its text, when voting
closes, the ledger entries that tabled and decided it, and the tally), each member's vote, and
each result with its signed updates in sequence.
"""

from __future__ import annotations

from alembic import op

from ombud.database import translate_ddl

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    script = """
    CREATE TABLE motions (
        id TEXT NOT NULL PRIMARY KEY,
        motion BLOB NOT NULL,
        closes INTEGER NOT NULL,
        tabled_index INTEGER NOT NULL,
        decided_index INTEGER,
        tally BLOB
    ) STRICT;
    CREATE TABLE votes (
        motion TEXT NOT NULL,
        holder TEXT NOT NULL,
        vote BLOB NOT NULL,
        ledger_index INTEGER NOT NULL,
        PRIMARY KEY (motion, holder)
    ) STRICT;
    CREATE TABLE results (
        id TEXT NOT NULL PRIMARY KEY,
        result BLOB NOT NULL,
        created_index INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE result_updates (
        result TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        update_ BLOB NOT NULL,
        at INTEGER NOT NULL,
        ledger_index INTEGER NOT NULL,
        PRIMARY KEY (result, sequence)
    ) STRICT
    """
    for statement in translate_ddl(script, dialect):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    script = "DROP TABLE result_updates; DROP TABLE results; DROP TABLE votes; DROP TABLE motions"
    for statement in translate_ddl(script, dialect):
        op.execute(statement)
