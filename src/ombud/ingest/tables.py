"""The tables of ``ombud.ingest``: the device registry, and what ingest workers saw of their
MQTT broker."""

from __future__ import annotations

import sqlalchemy as sa

from ombud.tables import INT, TEXT, strict_table

__all__ = ["devices", "metadata", "mqtt_brokers", "mqtt_workers"]

metadata = sa.MetaData()

devices = strict_table(
    "devices",
    metadata,
    sa.Column("id", TEXT, primary_key=True),
    sa.Column("did", TEXT, nullable=False, unique=True),
    sa.Column("model", TEXT, nullable=False),
    sa.Column("district", TEXT, nullable=False),
    sa.Column("owner", TEXT, nullable=False),
    sa.Column("status", TEXT, nullable=False),
    sa.Column("registered_index", INT, nullable=False),
    sa.Column("revoked_index", INT),
    sa.Column("last_counter", INT),
)

mqtt_brokers = strict_table(
    "mqtt_brokers",
    metadata,
    sa.Column("broker", TEXT, primary_key=True),
    sa.Column("started_at", INT),
    sa.Column("last_counter", INT, nullable=False),
    sa.Column("dropped_total", INT, nullable=False),
    sa.Column("last_drop_at", INT),
    sa.Column("updated_at", INT, nullable=False),
)

mqtt_workers = strict_table(
    "mqtt_workers",
    metadata,
    sa.Column("client_id", TEXT, primary_key=True),
    sa.Column("broker", TEXT, nullable=False),
    sa.Column("started_at", INT, nullable=False),
    sa.Column("seen_at", INT, nullable=False),
    sa.Column("watching", INT),
    sa.Column("dropped_since_start", INT, nullable=False),
    sa.Column("last_counter", INT),
)
