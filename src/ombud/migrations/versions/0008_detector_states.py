"""The state of each series' streaming anomaly detector.

Revision 0008, after 0007. ``ombud.sensors.screening`` keeps, per device and attribute, the
detector's snapshot (``ombud.integrity.detector``) as of the last observation it screened, so a
restart resumes each series where it stopped instead of relearning it.
"""

from __future__ import annotations

from alembic import op

from ombud.database import translate_ddl

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    script = """
    CREATE TABLE screening_detectors (
        device TEXT NOT NULL,
        attribute TEXT NOT NULL,
        ledger_index INTEGER NOT NULL,
        state BLOB NOT NULL,
        PRIMARY KEY (device, attribute)
    ) STRICT
    """
    for statement in translate_ddl(script, dialect):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in translate_ddl("DROP TABLE screening_detectors", dialect):
        op.execute(statement)
