"""Observations carry the model and district of the device that made them.

Revision 0002, after 0001. Screening and the district indicators selected readings by joining
the device registry, a table the ingest package owns; a device's model and district never
change, so each observation now keeps them (the intake writes them), and the readings stored
before are filled from the registry here. An index serves the neighbour and district queries.
"""

from __future__ import annotations

from alembic import op

from ombud.database import translate_ddl

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    script = """
    ALTER TABLE observations ADD COLUMN model TEXT;
    ALTER TABLE observations ADD COLUMN district TEXT;
    UPDATE observations SET
        model = (SELECT d.model FROM devices d WHERE d.id = observations.device),
        district = (SELECT d.district FROM devices d WHERE d.id = observations.device);
    CREATE INDEX observations_by_place ON observations (district, model, created_us)
    """
    for statement in translate_ddl(script, dialect):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    script = """
    DROP INDEX observations_by_place;
    ALTER TABLE observations DROP COLUMN district;
    ALTER TABLE observations DROP COLUMN model
    """
    for statement in translate_ddl(script, dialect):
        op.execute(statement)
