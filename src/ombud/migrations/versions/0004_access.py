"""Audited access: third parties' requests, the subjects they name and every read.

Revision 0004, after 0003. ``ombud.access`` keeps each request (its public record's salt and
its seal), the vault references of the subjects it names (so a resident can see who asked
about them) and each read, allowed or refused, with its ledger index.
"""

from __future__ import annotations

from alembic import op

from ombud.database import translate_ddl

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    script = """
    CREATE TABLE access_requests (
        id TEXT NOT NULL PRIMARY KEY,
        request BLOB NOT NULL,
        salt BLOB NOT NULL,
        status TEXT NOT NULL,
        sealed_until INTEGER,
        requested_index INTEGER NOT NULL,
        decided_index INTEGER,
        disclosed_index INTEGER
    ) STRICT;
    CREATE INDEX access_requests_by_seal ON access_requests (sealed_until);
    CREATE TABLE access_subjects (
        request TEXT NOT NULL,
        subject_ref BLOB NOT NULL,
        PRIMARY KEY (request, subject_ref)
    ) STRICT;
    CREATE INDEX access_subjects_by_ref ON access_subjects (subject_ref);
    CREATE TABLE access_reads (
        ledger_index INTEGER NOT NULL PRIMARY KEY,
        request TEXT NOT NULL,
        subject_ref BLOB,
        category TEXT NOT NULL,
        outcome TEXT NOT NULL,
        items INTEGER NOT NULL,
        at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX access_reads_by_request ON access_reads (request)
    """
    for statement in translate_ddl(script, dialect):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    script = "DROP TABLE access_reads; DROP TABLE access_subjects; DROP TABLE access_requests"
    for statement in translate_ddl(script, dialect):
        op.execute(statement)
