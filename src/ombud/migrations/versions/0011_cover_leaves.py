"""Cover leaves: the dummy ``post.accepted`` entries that hide how many residents posted each
hour (``ombud.voice.cover``).

Revision 0011, after 0010. ``cover_hours`` records each hour's draw once per (hour, period), so
a restart never draws again (a second draw would add leaves beyond the drawn count), and how
many of its leaves were dropped because the hour ended while the server was stopped.
``cover_leaves`` holds each scheduled leaf: when it is due, its random nullifier and
commitment, when it expires (named by ``payload.purged`` like a post's text), its ledger index
once appended and the index of the ``payload.purged`` entry that named it.
"""

from __future__ import annotations

from alembic import op

from ombud.database import translate_ddl

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    script = """
    CREATE TABLE cover_hours (
        hour INTEGER NOT NULL,
        period TEXT NOT NULL,
        drawn INTEGER NOT NULL,
        dropped INTEGER NOT NULL,
        PRIMARY KEY (hour, period)
    ) STRICT;
    CREATE TABLE cover_leaves (
        nullifier BLOB PRIMARY KEY,
        hour INTEGER NOT NULL,
        period TEXT NOT NULL,
        due_us INTEGER NOT NULL,
        commitment BLOB NOT NULL,
        expires INTEGER NOT NULL,
        ledger_index INTEGER,
        purged INTEGER
    ) STRICT;
    CREATE INDEX cover_leaves_pending ON cover_leaves (ledger_index, due_us);
    CREATE INDEX cover_leaves_by_expiry ON cover_leaves (expires)
    """
    for statement in translate_ddl(script, dialect):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    script = """
    DROP INDEX cover_leaves_by_expiry;
    DROP INDEX cover_leaves_pending;
    DROP TABLE cover_leaves;
    DROP TABLE cover_hours
    """
    for statement in translate_ddl(script, dialect):
        op.execute(statement)
