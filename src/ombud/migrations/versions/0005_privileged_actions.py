"""Privileged actions step by step, and the settings the roster governs.

Revision 0005, after 0004. ``ombud.governance`` keeps each privileged request from its
proposal (pending or carried out), each holder's signature as it arrives, each refusal, and the
last value the roster set for each setting it reserves (the witness policy, retention, the
DP budget), so a deployment whose settings file says otherwise refuses to open.
"""

from __future__ import annotations

from alembic import op

from ombud.database import translate_ddl

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    script = """
    CREATE TABLE roster_requests (
        digest TEXT NOT NULL PRIMARY KEY,
        action TEXT NOT NULL,
        request BLOB NOT NULL,
        status TEXT NOT NULL,
        requested_index INTEGER NOT NULL,
        outcome_index INTEGER
    ) STRICT;
    CREATE TABLE roster_signatures (
        digest TEXT NOT NULL,
        holder TEXT NOT NULL,
        signature BLOB NOT NULL,
        ledger_index INTEGER NOT NULL,
        PRIMARY KEY (digest, holder)
    ) STRICT;
    CREATE TABLE roster_refusals (
        ledger_index INTEGER NOT NULL PRIMARY KEY,
        digest TEXT,
        action TEXT NOT NULL,
        holder TEXT,
        reason TEXT NOT NULL
    ) STRICT;
    CREATE TABLE governed_settings (
        name TEXT NOT NULL PRIMARY KEY,
        value BLOB NOT NULL,
        ledger_index INTEGER NOT NULL
    ) STRICT
    """
    for statement in translate_ddl(script, dialect):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    script = (
        "DROP TABLE governed_settings; DROP TABLE roster_refusals; DROP TABLE roster_signatures;"
        " DROP TABLE roster_requests"
    )
    for statement in translate_ddl(script, dialect):
        op.execute(statement)
