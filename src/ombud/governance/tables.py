"""The tables of ``ombud.governance``: the roster's versions and the privileged actions
carried out (each request once)."""

from __future__ import annotations

import sqlalchemy as sa

from ombud.tables import BLOB, INT, TEXT, strict_table

__all__ = ["metadata", "roster_actions", "roster_versions"]

metadata = sa.MetaData()

roster_versions = strict_table(
    "roster_versions",
    metadata,
    sa.Column("version", INT, primary_key=True, autoincrement=False),
    sa.Column("digest", TEXT, nullable=False, unique=True),
    sa.Column("roster", BLOB, nullable=False),
    sa.Column("recovered", INT, nullable=False),
    sa.Column("ledger_index", INT, nullable=False),
)

roster_actions = strict_table(
    "roster_actions",
    metadata,
    sa.Column("digest", TEXT, primary_key=True),
    sa.Column("action", TEXT, nullable=False),
    sa.Column("ledger_index", INT, nullable=False),
)
