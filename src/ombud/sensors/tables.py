"""The tables of ``ombud.sensors``: the stored observations, the latest of each entity, the
quarantine of readings and devices, and the screening's cursor, offsets and checkpoints of each
series' anomaly detector.

Threat model: these rows are derived from signed ledger entries (observations, quarantine
events) and can be rebuilt from them; the detector checkpoints are an optimisation that a
replay of the observations reproduces exactly, so a damaged one only costs a relearning."""

from __future__ import annotations

import sqlalchemy as sa

from ombud.tables import BLOB, INT, REAL, TEXT, strict_table

__all__ = [
    "device_quarantine",
    "entities",
    "metadata",
    "observations",
    "quarantine",
    "screening",
    "screening_detectors",
    "screening_offsets",
]

metadata = sa.MetaData()

observations = strict_table(
    "observations",
    metadata,
    sa.Column("device", TEXT, nullable=False),
    sa.Column("counter", INT, nullable=False),
    sa.Column("entity_id", TEXT, nullable=False),
    sa.Column("created_us", INT, nullable=False),
    sa.Column("ledger_index", INT, nullable=False, unique=True),
    sa.Column("entity", BLOB, nullable=False),
    # Where and by what kind of device it was measured, copied from the registry when it was
    # accepted (a device's model and district never change), so that screening and indicators
    # need not read the registry's table. Rows from before revision 0002 were filled from it.
    sa.Column("model", TEXT),
    sa.Column("district", TEXT),
    sa.PrimaryKeyConstraint("device", "counter"),
)
sa.Index("observations_by_entity", observations.c.entity_id, observations.c.created_us)
sa.Index("observations_by_device_time", observations.c.device, observations.c.created_us)
sa.Index("observations_by_device_order", observations.c.device, observations.c.ledger_index)
sa.Index(
    "observations_by_time",
    observations.c.created_us,
    observations.c.device,
    observations.c.counter,
)
sa.Index(
    "observations_by_place",
    observations.c.district,
    observations.c.model,
    observations.c.created_us,
)

entities = strict_table(
    "entities",
    metadata,
    sa.Column("id", TEXT, primary_key=True),
    sa.Column("type", TEXT, nullable=False),
    sa.Column("device", TEXT, nullable=False),
    sa.Column("counter", INT, nullable=False),
)
sa.Index("entities_by_type", entities.c.type, entities.c.id)

quarantine = strict_table(
    "quarantine",
    metadata,
    sa.Column("device", TEXT, nullable=False),
    sa.Column("counter", INT, nullable=False),
    sa.Column("district", TEXT, nullable=False),
    sa.Column("checks", TEXT, nullable=False),
    sa.Column("reason", TEXT, nullable=False),
    sa.Column("evidence", BLOB, nullable=False),
    sa.Column("at_us", INT, nullable=False),
    sa.Column("ledger_index", INT, nullable=False),
    sa.Column("released_index", INT),
    sa.Column("release_reason", TEXT),
    sa.PrimaryKeyConstraint("device", "counter"),
)
sa.Index("quarantine_by_time", quarantine.c.at_us)

device_quarantine = strict_table(
    "device_quarantine",
    metadata,
    sa.Column("ledger_index", INT, primary_key=True, autoincrement=False),
    sa.Column("device", TEXT, nullable=False),
    sa.Column("district", TEXT, nullable=False),
    sa.Column("reason", TEXT, nullable=False),
    sa.Column("evidence", BLOB, nullable=False),
    sa.Column("since_us", INT, nullable=False),
    sa.Column("at_us", INT, nullable=False),
    sa.Column("released_index", INT),
    sa.Column("release_reason", TEXT),
)
sa.Index("device_quarantine_by_device", device_quarantine.c.device)

screening = strict_table(
    "screening",
    metadata,
    sa.Column("id", INT, primary_key=True, autoincrement=False),
    sa.Column("ledger_index", INT, nullable=False),
    sa.CheckConstraint("id = 1", name="screening_one_cursor"),
)

screening_offsets = strict_table(
    "screening_offsets",
    metadata,
    sa.Column("device", TEXT, nullable=False),
    sa.Column("attribute", TEXT, nullable=False),
    sa.Column("ledger_index", INT, nullable=False),
    sa.Column("at_us", INT, nullable=False),
    sa.Column("delta", REAL, nullable=False),
    sa.PrimaryKeyConstraint("device", "attribute", "ledger_index"),
)

screening_detectors = strict_table(
    "screening_detectors",
    metadata,
    sa.Column("device", TEXT, nullable=False),
    sa.Column("attribute", TEXT, nullable=False),
    sa.Column("ledger_index", INT, nullable=False),
    sa.Column("state", BLOB, nullable=False),
    sa.PrimaryKeyConstraint("device", "attribute"),
)
