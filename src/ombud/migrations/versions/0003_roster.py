"""The authority roster: its versions and the privileged actions carried out.

Revision 0003, after 0002. ``ombud.governance`` records each roster (genesis and every
successor the quorum of its predecessor signed) and the digest of each privileged request it
carried out, so that no request runs twice.
"""

from __future__ import annotations

from alembic import op

from ombud.database import translate_ddl

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    script = """
    CREATE TABLE roster_versions (
        version INTEGER NOT NULL PRIMARY KEY,
        digest TEXT NOT NULL UNIQUE,
        roster BLOB NOT NULL,
        recovered INTEGER NOT NULL,
        ledger_index INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE roster_actions (
        digest TEXT NOT NULL PRIMARY KEY,
        action TEXT NOT NULL,
        ledger_index INTEGER NOT NULL
    ) STRICT
    """
    for statement in translate_ddl(script, dialect):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in translate_ddl(
        "DROP TABLE roster_actions; DROP TABLE roster_versions", dialect
    ):
        op.execute(statement)
