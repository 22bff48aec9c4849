"""The state of each series' streaming anomaly detector.

Revision 0008, after 0007. ``ombud.sensors.screening`` keeps, per device and attribute, a
checkpoint of the detector's state (``ombud.integrity.detector``) and the ledger index it
holds the device's observations up to; after a restart it replays the device's observations
from there (hence the index by device and ledger order), so each series resumes exactly.
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
    ) STRICT;
    CREATE INDEX observations_by_device_order ON observations (device, ledger_index)
    """
    for statement in translate_ddl(script, dialect):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    script = "DROP INDEX observations_by_device_order; DROP TABLE screening_detectors"
    for statement in translate_ddl(script, dialect):
        op.execute(statement)
