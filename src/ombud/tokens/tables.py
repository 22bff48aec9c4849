"""The table of ``ombud.tokens``: scoped bearer tokens, their secrets kept only as hashes."""

from __future__ import annotations

import sqlalchemy as sa

from ombud.tables import BLOB, INT, TEXT, strict_table

__all__ = ["metadata", "tokens"]

metadata = sa.MetaData()

tokens = strict_table(
    "tokens",
    metadata,
    sa.Column("id", TEXT, primary_key=True),
    sa.Column("digest", BLOB, nullable=False),
    sa.Column("scopes", TEXT, nullable=False),
    sa.Column("note", TEXT, nullable=False),
    sa.Column("created", TEXT, nullable=False),
    sa.Column("revoked", INT, nullable=False),
)
