"""How packages declare their tables: SQLAlchemy Core types that spell the same schema on SQLite
(``STRICT`` tables) and PostgreSQL.

Threat model: a schema that drifts between what the code expects and what a deployment holds
fails at run time, on a resident's request, or corrupts quietly. Each package declares its
tables once (its ``tables`` module) with these types; the migration history
(``ombud.migrations``) creates and changes them, and ``alembic check`` in the tests compares
the two. Runtime queries do not go through these definitions (they stay on ``ombud.database``),
so nothing here is imported on a hot path.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

__all__ = ["BLOB", "INT", "REAL", "TEXT", "strict_table"]

INT: sa.types.TypeEngine[int] = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
"""A 64-bit integer: ``BIGINT`` on PostgreSQL, ``INTEGER`` on SQLite (the only integer type
of a STRICT table, and a rowid alias when it is the primary key)."""
REAL: sa.types.TypeEngine[float] = sa.Double().with_variant(sa.REAL(), "sqlite")
"""A double: ``DOUBLE PRECISION`` on PostgreSQL, ``REAL`` on SQLite."""
BLOB = sa.LargeBinary()
"""Bytes: ``BYTEA`` on PostgreSQL, ``BLOB`` on SQLite."""
TEXT = sa.Text()


def strict_table(name: str, metadata: sa.MetaData, *items: Any) -> sa.Table:
    """A table, ``STRICT`` on SQLite (a value of the wrong type is refused, not stored)."""
    return sa.Table(name, metadata, *items, sqlite_strict=True)
