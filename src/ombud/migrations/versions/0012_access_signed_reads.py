"""Reads under an access request are signed by its requester, and each signature allows one read.

Revision 0012, after 0011. ``access_reads`` gains the nonce of the requester's signed statement
that allowed a read (``nonce``, unique: a statement replayed is refused) and the statement itself
(``signed``: canonical JSON, its signature included), which the disclosure of a sealed request
draws on. Reads recorded before, and refused reads, have neither.
"""

from __future__ import annotations

from alembic import op

from ombud.database import translate_ddl

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    script = """
    ALTER TABLE access_reads ADD COLUMN nonce TEXT;
    ALTER TABLE access_reads ADD COLUMN signed BLOB;
    CREATE UNIQUE INDEX access_reads_by_nonce ON access_reads (nonce)
    """
    for statement in translate_ddl(script, dialect):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    script = """
    DROP INDEX access_reads_by_nonce;
    ALTER TABLE access_reads DROP COLUMN signed;
    ALTER TABLE access_reads DROP COLUMN nonce
    """
    for statement in translate_ddl(script, dialect):
        op.execute(statement)
